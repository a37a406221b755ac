"""A loopback ECR Public endpoint for tests (moto has no `ecr-public`), following AWS's
documentation: `POST /` with `X-Amz-Target: SpencerFrontendService.GetAuthorizationToken`,
`application/x-amz-json-1.1`, signed with Signature Version 4 for service `ecr-public` in
`us-east-1`. The signature is checked here independently of pullsync (the canonical request
rebuilt from what arrived, for the headers it names as signed); a good request gets
`{"authorizationData": {"authorizationToken": base64("AWS:TOKEN"), "expiresAt": ...}}`, a bad
one AWS's error shape. Each answer is appended to PORT_OUT.log.

Test-only: the key pair and the token are the test's own.
usage: ecr_public.py PORT_OUT ACCESS_KEY_ID SECRET_ACCESS_KEY TOKEN
"""
import base64, hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

port_out, access_key, secret_key, token = sys.argv[1:5]


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def refuse(self, code, kind, message):
        body = json.dumps({"__type": kind, "message": message}).encode()
        self.send_response(code)
        self.send_header("content-type", "application/x-amz-json-1.1")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(port_out + ".log", "a") as f:
            f.write(f"refused {kind}\n")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.headers.get("x-amz-target") != "SpencerFrontendService.GetAuthorizationToken":
            return self.refuse(400, "UnknownOperationException", "unknown target")
        auth = self.headers.get("authorization", "")
        try:
            algorithm, rest = auth.split(" ", 1)
            fields = dict(part.strip().split("=", 1) for part in rest.split(","))
            credential = fields["Credential"].split("/")
            signed = fields["SignedHeaders"].split(";")
        except (ValueError, KeyError):
            return self.refuse(403, "IncompleteSignatureException", "no SigV4 authorization")
        key_id, date, region, service, terminal = credential
        if algorithm != "AWS4-HMAC-SHA256" or terminal != "aws4_request":
            return self.refuse(403, "IncompleteSignatureException", "not SigV4")
        if (region, service) != ("us-east-1", "ecr-public"):
            return self.refuse(403, "InvalidSignatureException", f"scope {region}/{service}, want us-east-1/ecr-public")
        if key_id != access_key:
            return self.refuse(403, "UnrecognizedClientException", "unknown access key")
        amz_date = self.headers.get("x-amz-date", "")
        canonical_headers = "".join(f"{h}:{' '.join(self.headers.get(h, '').split())}\n" for h in signed)
        canonical = "\n".join(["POST", "/", "", canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()])
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        k = sign(("AWS4" + secret_key).encode(), date)
        for part in (region, service, "aws4_request"):
            k = sign(k, part)
        expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")) or "host" not in signed:
            return self.refuse(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
        answer = json.dumps({"authorizationData": {
            "authorizationToken": base64.b64encode(f"AWS:{token}".encode()).decode(),
            "expiresAt": time.time() + 12 * 3600,
        }}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.1")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        with open(port_out + ".log", "a") as f:
            f.write("issued\n")


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(port_out + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_out + ".tmp", port_out)
server.serve_forever()
