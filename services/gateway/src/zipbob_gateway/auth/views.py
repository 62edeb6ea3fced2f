"""/api/auth/* and the JWKS: a small FastAPI app (not the hot path)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from zipbob_platform.auth import Principal, require_principal

from ..apidocs import auth_operations as docs
from . import service
from .schemas import LoginIn, RefreshIn, SignupIn, TokenPair, UserRead
from .service import AuthComponents

router = APIRouter(tags=["auth"])


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]


def _components(request: Request) -> AuthComponents:
    components: AuthComponents = request.app.state.container.auth
    return components


Components = Annotated[AuthComponents, Depends(_components)]


def _client_ip(request: Request) -> str:
    """The address edge.TrustedProxies resolved (X-Forwarded-For only from trusted hops)."""
    resolved: tuple[str, str] | None = request.scope.get("zipbob.client")
    if resolved:
        return resolved[0]
    return request.client.host if request.client else "unknown"


@router.post("/api/auth/signup", status_code=201, response_model=UserRead, **docs.SIGNUP)
async def signup(body: SignupIn, components: Components) -> UserRead:
    return await service.signup(
        components,
        email=str(body.email),
        password=body.password,
        display_name=body.display_name,
        role=body.role,
    )


@router.post("/api/auth/login", response_model=TokenPair, **docs.LOGIN)
async def login(body: LoginIn, request: Request, components: Components) -> TokenPair:
    return await service.login(
        components, email=str(body.email), password=body.password, ip=_client_ip(request)
    )


@router.post("/api/auth/refresh", response_model=TokenPair, **docs.REFRESH)
async def refresh(body: RefreshIn, components: Components) -> TokenPair:
    return await service.refresh(components, refresh_token=body.refresh_token)


@router.post("/api/auth/logout", status_code=204, **docs.LOGOUT)
async def logout(body: RefreshIn, principal: CurrentPrincipal, components: Components) -> Response:
    await service.logout(components, principal=principal, refresh_token=body.refresh_token)
    return Response(status_code=204)


@router.get("/api/auth/me", response_model=UserRead, **docs.ME)
async def me(principal: CurrentPrincipal, components: Components) -> UserRead:
    return await service.me(components, principal=principal)


@router.get("/.well-known/jwks.json", **docs.JWKS)
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(
        request.app.state.container.jwks_document, headers={"Cache-Control": "public, max-age=300"}
    )
