"""Sign up, log in, log out (POST /api/auth/*)."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ..api import ApiError
from ..pages import checked_form, redirect, render, safe_next, text, web_session
from ..session import TokenPair

router = APIRouter(prefix="/auth")


@router.get("/signup")
async def signup_page(request: Request) -> Response:
    return render(request, "signup.html", {"values": {"role": "customer"}, "errors": {}})


@router.post("/signup")
async def signup(request: Request) -> Response:
    form = await checked_form(request)
    values = {name: text(form, name) for name in ("email", "display_name", "role")}
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    client = request.app.state.gateway
    try:
        await client.call("POST", "/api/auth/signup", json={**values, "password": password})
        body = await client.call(
            "POST", "/api/auth/login", json={"email": values["email"], "password": password}
        )
    except ApiError as error:
        errors = dict(error.field_errors)
        if error.status == 409:
            errors["email"] = "An account with this email exists already; log in instead."
        context = {"values": values, "errors": errors, "error": error.message}
        return render(request, "signup.html", context, status=error.status)
    web_session(request).start(TokenPair.from_json(body))
    home = "/seller/products" if values["role"] == "seller" else "/"
    return redirect(home, flash="signed-up", request=request)


@router.get("/login")
async def login_page(request: Request) -> Response:
    context = {"values": {}, "next": safe_next(request.query_params.get("next"), "")}
    return render(request, "login.html", context)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await checked_form(request)
    email = text(form, "email")
    password = form.get("password")
    next_path = safe_next(text(form, "next"), "")
    try:
        body = await request.app.state.gateway.call(
            "POST",
            "/api/auth/login",
            json={"email": email, "password": password if isinstance(password, str) else ""},
        )
    except ApiError as error:
        message = "Wrong email or password." if error.status == 401 else error.message
        context = {"values": {"email": email}, "next": next_path, "error": message}
        return render(request, "login.html", context, status=error.status)
    session = web_session(request)
    session.start(TokenPair.from_json(body))
    user = session.user
    default = "/seller/products" if user and user.is_seller else "/"
    return redirect(next_path or default, flash="logged-in", request=request)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    session = web_session(request)
    if session.refresh_token and session.access_token:
        # Revokes the refresh token's whole family at the gateway; the cookies go either way.
        with contextlib.suppress(ApiError):
            await session.call(
                "POST", "/api/auth/logout", json={"refresh_token": session.refresh_token}
            )
    session.end()
    return redirect("/", flash="logged-out", request=request)
