"""A token server for Debian's docker-registry in tests (distribution's "Token Authentication
Specification"): checks HTTP basic credentials and answers an RS256 JWT whose x5c header
carries a self-signed certificate that the registry trusts as its rootcertbundle.
Test-only: the key is generated at start and never leaves the temporary folder.

usage: registry_token.py CERT_OUT USER PASSWORD PORT_OUT
"""
import base64, datetime, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

cert_out, user, password, port_out = sys.argv[1:5]
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pullsync-test-token-signer")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(key, hashes.SHA256())
)
with open(cert_out + ".tmp", "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
os.rename(cert_out + ".tmp", cert_out)
der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        t = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [der]}
        claims = {"iss": "pullsync-test-issuer", "sub": user, "aud": "pullsync-test", "exp": t + 300,
                  "nbf": t - 10, "iat": t, "jti": os.urandom(8).hex(), "access": []}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        body = json.dumps({"token": signing_input + "." + b64url(signature)}).encode()
        with open(port_out + ".issued", "a") as f:  # one line per token, for the tests to count
            f.write("1\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(port_out + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_out + ".tmp", port_out)
server.serve_forever()
