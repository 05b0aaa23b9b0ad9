"""Authentication: real registry keys, and real signed JWTs checked against a JWKS on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fake_upstream import ServerThread
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conftest import Env, make_runtime

ISSUER = "https://idp.example.test"
AUDIENCE = "aupgate"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key()))
    return {
        "keys": [
            {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
            {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
        ]
    }


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    async def serve(request: Request) -> JSONResponse:
        return JSONResponse(_jwks())

    with ServerThread(Starlette(routes=[Route("/jwks.json", serve)])) as server:
        yield f"{server.url}/jwks.json"


@pytest.fixture
def settings_overrides(jwks_url: str) -> dict[str, Any]:
    return {"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE, "oidc_jwks_url": jwks_url}


def token(
    *,
    key: Any = RSA_KEY,
    alg: str = "RS256",
    kid: str = "rsa-1",
    org: str | None = "Lockheed Martin",
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "analyst-7",
        "iat": now,
        "exp": now + 300,
        **claims,
    }
    if org is not None:
        payload["org"] = org
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def _chat(env: Env, credential: str | None, purpose: str = "national-security") -> httpx.Response:
    return env.chat(credential, "Plan logistics for TANKS", purpose=purpose)  # type: ignore[arg-type]


def test_no_credential_is_401(env: Env) -> None:
    r = env.post("/v1/chat/completions", {"model": "llama", "messages": []}, None)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert r.headers["www-authenticate"] == "Bearer"


def test_wrong_scheme_and_unknown_key_are_401(env: Env) -> None:
    r = httpx.get(f"{env.url}/v1/models", headers={"Authorization": f"Basic {env.keys.lockheed}"})
    assert r.status_code == 401
    forged = env.keys.lockheed[:-4] + "AAAA"
    r = _chat(env, forged)
    assert r.status_code == 401
    assert forged not in r.text  # the token is never echoed
    assert env.upstream.bodies == []


def test_revoked_key_is_401(env: Env) -> None:
    rt = env.runtime
    key_id = env.keys.startup.split("_")[1]
    rt.registry.revoke_key(key_id, actor="t", why="leaked", now=rt.now())
    r = env.chat(env.keys.startup, "hello")
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]["message"]


def test_expired_key_is_401(env: Env) -> None:
    rt = env.runtime
    _, secret = rt.registry.create_key(
        "Tiny Robotics Inc",
        "short",
        actor="t",
        now=rt.now() - timedelta(days=2),
        allowed_models=["llama"],
        allowed_purposes=["general"],
        expires=rt.now() - timedelta(days=1),
    )
    r = env.chat(secret, "hello", purpose="general")
    assert r.status_code == 401
    assert "expired" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("key", "alg", "kid"), [(RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1")]
)
def test_valid_jwt_maps_to_the_organisation(env: Env, key: Any, alg: str, kid: str) -> None:
    r = _chat(env, token(key=key, alg=alg, kid=kid))
    assert r.status_code == 200, r.text
    decision = env.entries("decision")[0]
    assert decision["org"]["name"] == "Lockheed Martin"
    assert decision["key_id"] is None


def test_jwt_purposes_claim_limits_the_declared_purpose(env: Env) -> None:
    r = _chat(env, token(aup_purposes=["general"]))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "purpose_not_allowed"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: token(exp=int(time.time()) - 60), "expired"),
        (lambda: token(aud="someone-else"), "not for this gateway"),
        (lambda: token(iss="https://evil.test"), "not issued by"),
        (lambda: token(key=OTHER_RSA), "signature does not verify"),
        (lambda: token(kid="nope"), "kid"),
        (lambda: token(org=None), "'org' claim"),
    ],
    ids=["expired", "audience", "issuer", "signature", "kid", "no-org"],
)
def test_bad_jwts_are_401(env: Env, make: Any, message: str) -> None:
    r = _chat(env, make())
    assert r.status_code == 401, r.text
    assert message in r.json()["error"]["message"]
    assert env.upstream.bodies == []


def test_alg_none_is_rejected(env: Env) -> None:
    unsigned = jwt.encode(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "x",
            "org": "Lockheed Martin",
            "exp": int(time.time()) + 300,
        },
        "",
        algorithm="none",
    )
    r = _chat(env, unsigned)
    assert r.status_code == 401
    assert "'none' is not accepted" in r.json()["error"]["message"]


def test_hmac_with_the_public_key_is_rejected(env: Env) -> None:
    # The classic confusion attack: HS256 keyed with the RSA public key's bytes.
    header = {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "x",
        "org": "Lockheed Martin",
        "exp": int(time.time()) + 300,
    }
    signing_input = (
        jwt.utils.base64url_encode(json.dumps(header).encode())
        + b"."
        + jwt.utils.base64url_encode(json.dumps(payload).encode())
    )
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    secret = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sig = jwt.utils.base64url_encode(hmac.new(secret, signing_input, hashlib.sha256).digest())
    r = _chat(env, (signing_input + b"." + sig).decode())
    assert r.status_code == 401
    assert "'HS256' is not accepted" in r.json()["error"]["message"]


def test_unregistered_organisation_is_403(env: Env) -> None:
    r = _chat(env, token(org="Acme Unknown"))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "unknown_organisation"


def test_jwks_from_a_file(tmp_path: Path, upstream: Any) -> None:
    from aupgate.gateway.app import create_app
    from conftest import KeywordClassifier, register

    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(_jwks()))
    runtime = make_runtime(
        tmp_path / "home",
        upstream_url=upstream.url,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_file=jwks_file,
    )
    try:
        register(runtime)
        app = create_app(runtime, classifier=KeywordClassifier())
        with ServerThread(app) as server:
            ok = httpx.get(
                f"{server.url}/v1/models", headers={"Authorization": f"Bearer {token()}"}
            )
            bad = httpx.get(
                f"{server.url}/v1/models",
                headers={"Authorization": f"Bearer {token(key=OTHER_RSA)}"},
            )
    finally:
        runtime.close()
    assert ok.status_code == 200
    assert bad.status_code == 401


def test_models_claim_limits_the_listed_models(env: Env) -> None:
    r = httpx.get(
        f"{env.url}/v1/models",
        headers={"Authorization": f"Bearer {token(aup_models=['llama-70b', 'llama'])}"},
    )
    assert [m["id"] for m in r.json()["data"]] == ["llama-70b", "llama"]


@pytest.mark.parametrize(
    "settings",
    [
        {"oidc_issuer": ISSUER},
        {"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE},
        {
            "oidc_issuer": ISSUER,
            "oidc_audience": AUDIENCE,
            "oidc_jwks_url": "http://x/jwks",
            "oidc_jwks_file": Path("jwks.json"),
        },
    ],
)
def test_incomplete_oidc_settings_are_refused_at_start(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    from aupgate.errors import InvalidInputError
    from aupgate.gateway.app import create_app

    runtime = make_runtime(tmp_path, upstream_url="http://127.0.0.1:9/v1", **settings)
    try:
        with pytest.raises(InvalidInputError, match="OIDC needs"):
            create_app(runtime)
    finally:
        runtime.close()
