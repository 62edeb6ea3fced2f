"""What every view needs: the session, rendering, forms with their CSRF check, redirects."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import csrf
from .session import User, WebSession
from .settings import WebSettings

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

FLASH_MESSAGES = {
    "signed-up": "Welcome! Your account is ready.",
    "logged-in": "You are logged in.",
    "logged-out": "You are logged out.",
    "product-saved": "Changes saved.",
    "product-created": "Product registered. Its photo is being prepared.",
    "product-deleted": "Product deleted.",
    "photo-added": "Photo uploaded. It is being prepared.",
    "review-saved": "Thank you, your review is saved.",
    "review-deleted": "Your review is deleted.",
}


class CsrfRefused(Exception):
    """A form without a valid CSRF token: answered 403, nothing is done."""


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class WrongRole(Exception):
    def __init__(self, role: str) -> None:
        self.role = role


def web_session(request: Request) -> WebSession:
    session: WebSession = request.scope["state"]["web_session"]
    return session


def settings_of(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


def current_user(
    request: Request, *, role: str | None = None, next_path: str | None = None
) -> User:
    """The logged-in user (of ``role``); else a redirect to the login page that comes back
    to ``next_path`` (default: this page, which only suits GET)."""
    user = web_session(request).user
    if user is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise LoginRequired(next_path or request.url.path + query)
    if role is not None and user.role != role:
        raise WrongRole(role)
    return user


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token is checked (field, or header for scripts)."""
    form = await request.form(max_files=2, max_fields=50)
    presented = form.get(csrf.FIELD) or request.headers.get(csrf.HEADER)
    if not web_session(request).csrf_valid(presented if isinstance(presented, str) else None):
        await form.close()
        raise CsrfRefused
    return form


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def safe_next(value: str | None, default: str = "/") -> str:
    """Only paths on this site: no scheme, no host, no //evil.example."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def redirect(path: str, *, flash: str | None = None, request: Request | None = None) -> Response:
    if flash and request is not None:
        web_session(request).set_flash(flash)
    return RedirectResponse(path, status_code=303)


def login_redirect(next_path: str) -> Response:
    return RedirectResponse(f"/auth/login?next={quote(next_path)}", status_code=303)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    session = web_session(request)
    settings = settings_of(request)
    flash = FLASH_MESSAGES.get(session.flash or "")
    base = {
        "user": session.user,
        "csrf_token": session.csrf_token,
        "csrf_field": csrf.FIELD,
        "flash": flash,
        "max_upload_bytes": settings.web.max_upload_bytes,
        "poll_interval_ms": settings.web.poll_interval_ms,
        "path": request.url.path,
    }
    return TEMPLATES.TemplateResponse(request, template, {**base, **(context or {})}, status)


def wants_json(request: Request) -> bool:
    """The upload script asks for JSON so it can show errors without leaving the page."""
    return "application/json" in request.headers.get("accept", "")
