"""moto in server mode whose ECR tokens behave like AWS's: each GetAuthorizationToken call
returns a new token that expires MOTO_ECR_TOKEN_SECONDS after it was issued (stock moto answers
one fixed token that expired in 2015, so no renewal schedule can be observed against it).
Everything else — SigV4, IAM, STS — is moto's own. For tests only.
usage: moto_lifetime.py [moto_server arguments]
"""
import os
import time
from base64 import b64encode

from moto.core.responses import ActionResult
from moto.ecr.responses import ECRResponse
from moto.server import main

lifetime = float(os.environ["MOTO_ECR_TOKEN_SECONDS"])
issued = [0]
original = ECRResponse.get_authorization_token


def get_authorization_token(self):
    result = original(self)
    issued[0] += 1
    for data in result.result["authorizationData"]:
        registry = data["proxyEndpoint"].split("//")[1].split(".")[0]
        password = f"{registry}-auth-token-{issued[0]}"
        data["authorizationToken"] = b64encode(f"AWS:{password}".encode()).decode()
        data["expiresAt"] = time.time() + lifetime
    return ActionResult(result.result)


ECRResponse.get_authorization_token = get_authorization_token
main()
