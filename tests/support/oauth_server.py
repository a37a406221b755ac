"""Loopback token endpoints for tests, following the documented protocols:

- GCP (OAuth 2.0 JWT-bearer, RFC 7523, as Google's token_uri): POST /token verifies the
  RS256 assertion with the public half of a service-account key this script makes, and its
  claims (iss, aud = token_uri, scope, exp).
- Entra ID client credentials: POST /<tenant>/oauth2/v2.0/token.
- ACR: POST /oauth2/exchange (grant_type=access_token) answers a refresh token.

Test-only: keys are generated at start and live in the test's temporary folder.
usage: oauth_server.py KEY_OUT PORT_OUT CLIENT_ID CLIENT_SECRET
"""
import base64, json, os, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

key_out, port_out, client_id, client_secret = sys.argv[1:5]
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
issued = {"gcp": 0, "acr": 0}


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        # Each request's path and User-Agent, for the tests to read (no bodies: they hold secrets).
        with open(os.path.join(os.path.dirname(port_out), "requests.log"), "a") as log:
            log.write(f"{self.path}\t{self.headers.get('User-Agent', '')}\n")
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        if self.path == "/token":
            return self.gcp(form)
        if self.path.endswith("/oauth2/v2.0/token"):
            if form.get("client_id") != client_id or form.get("client_secret") != client_secret:
                return self.answer(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
            return self.answer(200, {"access_token": "aad-test-token", "expires_in": 3599, "token_type": "Bearer"})
        if self.path == "/oauth2/exchange":
            if form.get("grant_type") != "access_token" or form.get("access_token") != "aad-test-token" or not form.get("service"):
                return self.answer(401, {"error": "invalid_grant"})
            issued["acr"] += 1
            return self.answer(200, {"refresh_token": f"acr-refresh-test-{issued['acr']}"})
        self.answer(404, {"error": "not_found"})

    def gcp(self, form):
        try:
            assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            header, claims, signature = form["assertion"].split(".")
            key.public_key().verify(unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
            assert json.loads(unb64(header))["alg"] == "RS256"
            c = json.loads(unb64(claims))
            assert c["iss"] == "pullsync@pullsync-test.iam.gserviceaccount.com"
            assert c["aud"] == token_uri
            assert c["scope"] == "https://www.googleapis.com/auth/cloud-platform"
            assert c["iat"] <= time.time() + 60 < c["exp"] + 60
        except (AssertionError, KeyError, ValueError, InvalidSignature):
            return self.answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        issued["gcp"] += 1
        self.answer(200, {"access_token": f"ya29.test-only-{issued['gcp']}", "expires_in": 3599, "token_type": "Bearer"})


server = HTTPServer(("127.0.0.1", 0), Handler)
port = server.server_address[1]
token_uri = f"http://127.0.0.1:{port}/token"
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
with open(key_out + ".tmp", "w") as f:
    json.dump({"type": "service_account", "project_id": "pullsync-test", "private_key_id": "test-only",
               "private_key": pem, "client_email": "pullsync@pullsync-test.iam.gserviceaccount.com",
               "client_id": "1", "token_uri": token_uri}, f)
os.rename(key_out + ".tmp", key_out)
with open(port_out + ".tmp", "w") as f:
    f.write(str(port))
os.rename(port_out + ".tmp", port_out)
server.serve_forever()
