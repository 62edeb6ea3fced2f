"""The behaviour every service inherits from install_platform."""

import json
import logging

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from zipbob_platform.app import install_platform
from zipbob_platform.problems import PROBLEM_BASE, DomainError, Problem
from zipbob_platform.settings import ServiceSettings


class Payload(BaseModel):
    n: int


class ThingBusy(DomainError):
    status = 503
    title = "Thing busy"
    type_ = PROBLEM_BASE + "thing-busy"


class ThingMissing(DomainError):
    status = 404


async def failing_check() -> None:
    raise ConnectionError("db down")


async def passing_check() -> str:
    return "3 connections idle"


def build_app() -> FastAPI:
    app = FastAPI()
    install_platform(
        app,
        ServiceSettings(service="demo", profile="test"),
        readiness={"db": passing_check},
    )

    @app.post("/things/{thing_id}")
    async def things(thing_id: int, payload: Payload) -> dict[str, int]:
        if payload.n == 0:
            raise Problem(409, "already there")
        if payload.n == 1:
            raise RuntimeError("a bug with password=hunter2")
        if payload.n == 3:
            raise ThingBusy("come back later", headers={"Retry-After": "7"})
        if payload.n == 4:
            raise ThingMissing(f"thing {thing_id} is gone")
        return {"id": thing_id}

    return app


@pytest.fixture
async def client() -> AsyncClient:
    transport = ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    for field in ("type", "title", "status", "detail", "trace_id"):
        assert field in body
    assert body["status"] == status
    assert len(body["trace_id"]) == 32
    return body


async def test_every_response_has_a_request_id_and_a_caller_id_is_kept(client) -> None:
    fresh = await client.post("/things/1", json={"n": 5})
    assert fresh.status_code == 200 and len(fresh.headers["x-request-id"]) == 32
    kept = await client.post("/things/1", json={"n": 5}, headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    forged = await client.post("/things/1", json={"n": 5}, headers={"X-Request-ID": "a\tb" * 3})
    assert forged.headers["x-request-id"] != "a\tb" * 3


async def test_errors_are_problem_json(client) -> None:
    assert_problem(await client.post("/things/1", json={"n": 0}), 409)
    body = assert_problem(await client.post("/things/1", json={"x": 1}), 422)
    assert body["errors"][0]["loc"][-1] == "n"
    assert_problem(await client.post("/things/abc", json={"n": 2}), 422)
    assert_problem(await client.get("/missing"), 404)
    assert_problem(await client.get("/things/1"), 405)


async def test_domain_errors_answer_with_their_class_attributes(client) -> None:
    busy = await client.post("/things/1", json={"n": 3})
    body = assert_problem(busy, 503)
    assert busy.headers["retry-after"] == "7"
    assert (body["title"], body["type"], body["detail"]) == (
        "Thing busy",
        PROBLEM_BASE + "thing-busy",
        "come back later",
    )
    assert body["instance"] == "/things/1"
    missing = assert_problem(await client.post("/things/9", json={"n": 4}), 404)
    assert (missing["title"], missing["type"]) == ("Not Found", PROBLEM_BASE + "not-found")
    assert missing["detail"] == "thing 9 is gone"


async def test_unexpected_error_is_a_500_problem_without_internals(client, caplog) -> None:
    response = await client.post("/things/1", json={"n": 1})
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text and "RuntimeError" not in body["detail"]
    assert response.headers["x-request-id"]


async def test_readiness_reports_each_check(client) -> None:
    ready = (await client.get("/healthz/ready")).json()
    assert ready["checks"] == {"db": "ok"}
    assert ready["details"] == {"db": "3 connections idle"}
    client._transport.app.state.readiness["store"] = failing_check
    body = assert_problem(await client.get("/healthz/ready"), 503)
    assert body["checks"]["store"].startswith("ConnectionError")
    assert (await client.get("/healthz/live")).status_code == 200


async def test_metrics_use_the_route_template_never_the_raw_path(client) -> None:
    await client.post("/things/77", json={"n": 5})
    await client.post("/things/78", json={"n": 0})
    text = (await client.get("/metrics")).text
    assert 'route="/things/{thing_id}"' in text and 'status="409"' in text
    assert "/things/77" not in text
    assert "http_request_duration_seconds_bucket" in text


async def test_logs_are_json_lines_with_ids_and_no_secrets(client, capsys) -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    logging.getLogger("demo").info("login with %s", token, extra={"password": "hunter2"})
    await client.post("/things/1", json={"n": 1}, headers={"Authorization": f"Bearer {token}"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert lines, "expected JSON log lines on stdout"
    for entry in lines:
        assert {"ts", "level", "service", "msg", "request_id", "trace_id", "span_id"} <= set(entry)
    text = json.dumps(lines)
    assert token not in text and "hunter2" not in text
    access = [e for e in lines if e.get("logger") == "zipbob.access"]
    assert access and access[-1]["status"] == 500 and access[-1]["trace_id"]


async def test_an_app_can_ask_for_an_access_line_when_the_log_is_off(capsys) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def answered_here(request):  # type: ignore[no-untyped-def]
        request.scope["zipbob.log_access"] = True
        return PlainTextResponse("ok")

    async def quiet(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/mine", answered_here), Route("/hot", quiet)])
    settings = ServiceSettings(service="edge", profile="test", logging={"access_log": False})
    install_platform(app, settings)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
        await http.get("/mine")
        await http.get("/hot")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    paths = [e["path"] for e in lines if e.get("logger") == "zipbob.access"]
    assert paths == ["/mine"]
