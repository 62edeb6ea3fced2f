"""create_service_app: the container is built in the lifespan, readiness goes through the
platform (503 "starting" before, the service's checks after, degraded where they say so)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from httpx import ASGITransport, AsyncClient

from zipbob_platform.app import create_service_app
from zipbob_platform.health import Health, NotReady, ReadinessCheck
from zipbob_platform.settings import ServiceSettings


@dataclass
class Container:
    events: list[str] = field(default_factory=list)
    cache_state: str = "ok"
    warming: bool = False


built: list[Container] = []


@contextlib.asynccontextmanager
async def bootstrap(settings: ServiceSettings) -> AsyncIterator[Container]:
    container = Container(events=[f"opened for {settings.service}"])
    built.append(container)
    yield container
    container.events.append("closed")


def readiness(container: Container) -> dict[str, ReadinessCheck]:
    async def store() -> None:
        if container.warming:
            raise NotReady("warming up")

    async def cache() -> Health:
        state = container.cache_state
        return Health(state) if state == "ok" else Health.degraded_because(state)

    return {"store": store, "cache": cache}


router = APIRouter()


@router.get("/events")
async def events(request: Request) -> list[str]:
    return list(request.app.state.container.events)


async def test_the_lifespan_builds_and_closes_the_container_and_readiness_follows() -> None:
    app = create_service_app(
        ServiceSettings(service="demo", profile="test"),
        bootstrap=bootstrap,
        readiness=readiness,
        routers=[router],
    )
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://demo") as client:
        before = await client.get("/healthz/ready")
        assert before.status_code == 503
        assert before.json()["checks"] == {"startup": "starting"}
        async with app.router.lifespan_context(app):
            assert (await client.get("/events")).json() == ["opened for demo"]
            ready = await client.get("/healthz/ready")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "checks": {"store": "ok", "cache": "ok"}}
            built[-1].cache_state = "connection refused"
            degraded = await client.get("/healthz/ready")
            assert degraded.status_code == 200
            assert degraded.json()["status"] == "degraded"
            assert degraded.json()["checks"]["cache"] == "degraded: connection refused"
            built[-1].warming = True
            warming = await client.get("/healthz/ready")
            assert warming.status_code == 503
            assert warming.json()["checks"]["store"] == "warming up"
        assert built[-1].events[-1] == "closed"
        assert (await client.get("/healthz/ready")).status_code == 503
