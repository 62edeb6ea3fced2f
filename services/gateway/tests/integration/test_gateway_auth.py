"""SPEC 3 auth table on every SQL backend (sqlite, postgresql, mariadb) with the real Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from prometheus_client import REGISTRY

from zipbob_devkit.testing import unique_name

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
async def gateway(gateway_factory, sql_url):
    return await gateway_factory(sql_url=sql_url)


async def test_signup_login_me_and_jwks(gateway, problem):
    before = REGISTRY.get_sample_value("zipbob_users_registered_total", {"role": "customer"}) or 0
    session = await gateway.signup_and_login(role="customer")
    assert session["user"]["role"] == "customer"
    assert set(session["user"]) == {"id", "email", "display_name", "role"}
    assert session["token_type"] == "Bearer"
    assert session["expires_in"] == 900
    assert REGISTRY.get_sample_value("zipbob_users_registered_total", {"role": "customer"}) == (
        before + 1
    )

    me = await gateway.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == session["user"]

    jwks = (await gateway.client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(session["access_token"])
    assert header["alg"] == "ES256"
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert all("d" not in key for key in jwks["keys"])  # never the private part
    claims = jwt.decode(
        session["access_token"],
        jwt.PyJWK(jwks["keys"][0]).key,
        algorithms=["ES256"],
        audience="zipbob",
        issuer="zipbob-gateway",
    )
    assert claims["sub"] == session["user"]["id"]
    assert claims["role"] == "customer"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]

    assert problem(await gateway.client.get("/api/auth/me"))["status"] == 401


async def test_signup_conflict_and_validation(gateway, problem):
    email = f"{unique_name('dup')}@example.com"
    body = {"email": email, "password": "long enough pw", "display_name": "D", "role": "seller"}
    assert (await gateway.client.post("/api/auth/signup", json=body)).status_code == 201
    upper = {**body, "email": email.upper()}
    assert problem(await gateway.client.post("/api/auth/signup", json=upper))["status"] == 409
    for bad in (
        {**body, "password": "short"},
        {**body, "email": "not-an-email"},
        {**body, "role": "admin"},
        {**body, "display_name": "   "},
        {"email": email},
    ):
        response = await gateway.client.post("/api/auth/signup", json=bad)
        assert problem(response)["status"] == 422, bad
    raw = await gateway.client.post(
        "/api/auth/signup", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert problem(raw)["status"] == 422


async def test_login_wrong_password_and_unknown_email(gateway, problem):
    session = await gateway.signup_and_login()
    before = (
        REGISTRY.get_sample_value("zipbob_auth_failures_total", {"reason": "bad_credentials"}) or 0
    )
    wrong = await gateway.client.post(
        "/api/auth/login", json={"email": session["email"], "password": "wrong password!"}
    )
    unknown = await gateway.client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "whatever123"}
    )
    assert problem(wrong)["status"] == 401
    assert problem(unknown)["status"] == 401
    assert (
        REGISTRY.get_sample_value("zipbob_auth_failures_total", {"reason": "bad_credentials"})
        == before + 2
    )


async def test_refresh_rotates_and_reuse_revokes_the_family(gateway, problem):
    session = await gateway.signup_and_login()
    first = session["refresh_token"]
    rotated = await gateway.client.post("/api/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    assert rotated.json()["access_token"]

    # The old token is dead; presenting it revokes the family, so the newest dies too.
    reused = await gateway.client.post("/api/auth/refresh", json={"refresh_token": first})
    assert problem(reused)["status"] == 401
    after = await gateway.client.post("/api/auth/refresh", json={"refresh_token": second})
    assert problem(after)["status"] == 401
    garbage = await gateway.client.post("/api/auth/refresh", json={"refresh_token": "x.y"})
    assert problem(garbage)["status"] == 401


async def test_logout_revokes_the_session(gateway, problem):
    session = await gateway.signup_and_login()
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    token = {"refresh_token": session["refresh_token"]}
    assert problem(await gateway.client.post("/api/auth/logout", json=token))["status"] == 401
    out = await gateway.client.post("/api/auth/logout", json=token, headers=bearer)
    assert out.status_code == 204
    assert problem(await gateway.client.post("/api/auth/refresh", json=token))["status"] == 401


async def test_admin_is_created_by_the_operator_command(gateway):
    email = f"{unique_name('admin')}@example.com"
    env = {
        "ZIPBOB_PROFILE": "test",
        "ZIPBOB_DATABASE__URL": gateway.settings.database_url,
        "ZIPBOB_DATA_DIR": gateway.settings.data_dir,
        "ZIPBOB_ADMIN_PASSWORD": "operator chosen pw",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "zipbob_gateway.admin", "create-admin", "--email", email],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    login = await gateway.client.post(
        "/api/auth/login", json={"email": email, "password": "operator chosen pw"}
    )
    assert login.status_code == 200
    me = await gateway.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["role"] == "admin"
