"""Interop: a third-party JWT client (PyJWT with `cryptography`) against Mandate's runtime.

PyJWT plays the agent and the downstream service. As the agent, it makes its own key
pairs (Ed25519 and P-256) and signs the client assertions the runtime must accept. As
the downstream service, it verifies the task token and the action credential the runtime
issues with the runtime's JWKS only, and must reject them when they have expired, when
the audience is wrong and when the signature has been tampered with.

Usage: python pyjwt_interop.py MANDATE_BINARY POLICY_PACKAGE
Exits non-zero, with the reason, on the first failed check. `.ci/run` runs it.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

MANDATE, POLICIES = sys.argv[1], sys.argv[2]
WORK = tempfile.mkdtemp(prefix="mandate-interop-")
STORE = os.path.join(WORK, "mandate.db")
CHECKS = []


def mandate(*args, expect_ok=True):
    """Runs the CLI against the interop store and returns its JSON output."""
    env = dict(os.environ, MANDATE_POLICIES=POLICIES)
    done = subprocess.run([MANDATE, *args, "--store", STORE], capture_output=True, text=True, env=env)
    if expect_ok and done.returncode != 0:
        sys.exit(f"FAIL: mandate {' '.join(args)}: {done.stdout}{done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip() else None


def check(name, condition, detail=""):
    if not condition:
        sys.exit(f"FAIL: {name} {detail}")
    CHECKS.append(name)
    print(f"ok  {name}")


def public_jwk(private_key, kid):
    """The public half as a JWK, by PyJWT's own encoder."""
    algorithm = jwt.algorithms.OKPAlgorithm if isinstance(private_key, ed25519.Ed25519PrivateKey) else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(private_key.public_key()))
    jwk["kid"] = kid
    return jwk


def assertion(private_key, agent, algorithm, kid, lifetime=60, audience="mandate"):
    now = int(time.time())
    claims = {"iss": agent, "sub": agent, "aud": audience, "iat": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, private_key, algorithm=algorithm, headers={"kid": kid})


def register(agent, private_key, kid):
    path = os.path.join(WORK, f"{agent}.jwk")
    with open(path, "w") as file:
        json.dump(public_jwk(private_key, kid), file)
    mandate("agent", "add", agent, "--sponsor", "carol@example.com", "--attr", "team=finance-ops",
            "--attrs-json", '{"daily_limit": "5000.0"}', "--key", path)


def runtime_keys():
    return {key["kid"]: jwt.PyJWK(key) for key in mandate("key", "jwks")["keys"]}


def verify(token, keys, audience="mandate"):
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.decode(token, keys[kid], algorithms=["EdDSA"], audience=audience, issuer="mandate")


def rejects(token, keys, error, audience="mandate"):
    try:
        verify(token, keys, audience)
    except error:
        return True
    except Exception as other:  # a different rejection is still a failed check
        print(f"    rejected with {type(other).__name__}: {other}")
        return False
    return False


ed_key = ed25519.Ed25519PrivateKey.generate()
ec_key = ec.generate_private_key(ec.SECP256R1())
register("payer-ed", ed_key, "ed-1")
register("payer-ec", ec_key, "ec-1")

params = ["--param", "invoice=INV-9", "--param", "payee=DE89370400440532013000", "--params-json", '{"amount": "800.0"}']
opened = mandate("task", "open", "PayInvoice", "--assertion", assertion(ed_key, "payer-ed", "EdDSA", "ed-1"), *params)
check("the runtime accepts an EdDSA assertion signed by PyJWT", opened and opened["task"]["state"] == "open")
opened_ec = mandate("task", "open", "PayInvoice", "--assertion", assertion(ec_key, "payer-ec", "ES256", "ec-1"), *params)
check("the runtime accepts an ES256 assertion signed by PyJWT", opened_ec and opened_ec["task"]["state"] == "open")

replayed = assertion(ed_key, "payer-ed", "EdDSA", "ed-1")
mandate("task", "open", "PayInvoice", "--assertion", replayed, *params)
again = mandate("task", "open", "PayInvoice", "--assertion", replayed, *params, expect_ok=False)
check("the runtime refuses a replayed assertion", again["error"]["code"] == "replayed_assertion", again)
long_lived = mandate("task", "open", "PayInvoice", "--assertion", assertion(ed_key, "payer-ed", "EdDSA", "ed-1", lifetime=3600),
                     *params, expect_ok=False)
check("the runtime refuses an assertion living over five minutes", long_lived["error"]["code"] == "too_long_lived", long_lived)
unsigned = jwt.encode({"iss": "payer-ed", "sub": "payer-ed", "aud": "mandate", "exp": int(time.time()) + 60,
                       "iat": int(time.time()), "jti": "u"}, None, algorithm="none")
refused = mandate("task", "open", "PayInvoice", "--assertion", unsigned, *params, expect_ok=False)
check("the runtime refuses alg none", refused["error"]["code"] == "unsigned_token", refused)

keys = runtime_keys()
claims = verify(opened["token"], keys)
check("PyJWT verifies the task token with the JWKS", claims["sub"] == "payer-ed" and claims["task_id"] == opened["task"]["id"])
detail = claims["authorization_details"][0]
check("the task token carries RFC 9396 authorization_details", detail["type"] == "mandate_task" and "send_money" in detail["actions"])
check("the task token carries the RFC 8693 act chain", claims["act"] == {"sub": "carol@example.com"})

request = {
    "action": "send_money",
    "args": {"recipient": "DE89370400440532013000", "amount": "500.0"},
    "resource": {"type": "Account", "id": "acct-1", "attrs": {"iban": "DE00", "currency": "EUR", "balance": "9000.0",
                                                               "frozen": False, "approved_payees": ["DE89370400440532013000"]}},
}
request_path = os.path.join(WORK, "request.json")
with open(request_path, "w") as file:
    json.dump(request, file)
decided = mandate("decide", opened["task"]["id"], "--assertion", assertion(ed_key, "payer-ed", "EdDSA", "ed-1"),
                  "--request", request_path, "--credential")
check("the runtime allows the payment and mints a credential", decided["decision"] == "allow" and "credential" in decided, decided)
credential = verify(decided["credential"], keys)
action = credential["authorization_details"][0]
check("PyJWT verifies the action credential", action["type"] == "mandate_action" and action["action"] == "send_money")
check("the credential names the resource", action["resource"] == {"type": "Account", "id": "acct-1"})

check("PyJWT rejects the task token for another audience", rejects(opened["token"], keys, jwt.InvalidAudienceError, "someone-else"))
check("PyJWT rejects the credential for another audience", rejects(decided["credential"], keys, jwt.InvalidAudienceError, "someone-else"))
for name, token in [("task token", opened["token"]), ("credential", decided["credential"])]:
    head, body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    check(f"PyJWT rejects a {name} with a tampered signature", rejects(f"{head}.{body}.{flipped}", keys, jwt.InvalidSignatureError))
    forged_body = jwt.utils.base64url_encode(json.dumps({**verify(token, keys), "sub": "mallory"}).encode()).decode()
    check(f"PyJWT rejects a {name} with a tampered payload", rejects(f"{head}.{forged_body}.{signature}", keys, jwt.InvalidSignatureError))

short = mandate("task", "open", "PayInvoice", "--assertion", assertion(ed_key, "payer-ed", "EdDSA", "ed-1"), *params, "--ttl", "2s")
short_decided = mandate("decide", short["task"]["id"], "--assertion", assertion(ed_key, "payer-ed", "EdDSA", "ed-1"),
                        "--request", request_path, "--credential")
check("a short task still allows", short_decided["decision"] == "allow", short_decided)
time.sleep(3)
check("PyJWT rejects the task token once expired", rejects(short["token"], keys, jwt.ExpiredSignatureError))
check("PyJWT rejects the credential once expired", rejects(short_decided["credential"], keys, jwt.ExpiredSignatureError))

mandate("task", "revoke", opened["task"]["id"], "--by", "carol@example.com", "--reason", "interop check")
after = mandate("token", "verify", opened["token"], expect_ok=False)
check("the runtime's verify fails once the task is revoked", after["error"]["code"] == "task_revoked", after)

mandate("key", "rotate")
rotated = runtime_keys()
check("after a rotation the JWKS still verifies older tokens", len(rotated) == 2 and verify(opened_ec["token"], rotated))

print(f"{len(CHECKS)} interop checks passed (PyJWT {jwt.__version__})")
