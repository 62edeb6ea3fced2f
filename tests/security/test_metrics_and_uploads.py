"""Issue 12 findings 8 (public /metrics) and 6 (multipart filenames, leaked spool files)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from zipbob_catalog.settings import UploadSettings
from zipbob_catalog.uploads.multipart import read_multipart
from zipbob_devkit.embedded import free_port
from zipbob_platform.problems import install_problem_handlers

from .conftest import raw_exchange, status_of

pytestmark = pytest.mark.integration


def test_metrics_only_on_the_management_port(gateway_starter):
    management = free_port()
    gateway = gateway_starter(ZIPBOB_GATEWAY_MANAGEMENT_PORT=str(management))
    public = httpx.get(f"{gateway.url}/metrics", timeout=10)
    assert public.status_code == 404
    assert "zipbob_" not in public.text
    scraped = httpx.get(f"http://127.0.0.1:{management}/metrics", timeout=10)
    assert scraped.status_code == 200
    assert "http_requests_total" in scraped.text
    assert "zipbob_auth_failures_total" in scraped.text or "zipbob_" in scraped.text
    assert httpx.get(f"http://127.0.0.1:{management}/api/auth/me", timeout=10).status_code == 404


@pytest.fixture
async def upload_server(tmp_path: Path):
    """The catalog's real multipart reader behind a real HTTP server, spooling to tmp_path."""
    spool = tmp_path / "spool"
    spool.mkdir()
    limits = UploadSettings(spool_dir=str(spool), max_bytes=1024 * 1024)

    async def upload(request: Request) -> JSONResponse:
        form = await read_multipart(request, limits=limits, file_fields=frozenset({"image"}))
        try:
            image = form.files.get("image")
            return JSONResponse(
                {"filename": image.filename if image else None, "size": image.size if image else 0}
            )
        finally:
            form.discard()

    app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
    install_problem_handlers(app)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield port, spool
    server.should_exit = True
    await task


def _multipart(filename: bytes, payload: bytes, *, close: bool = True) -> bytes:
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="image"; filename="'
        + filename
        + b'"\r\nContent-Type: image/jpeg\r\n\r\n'
        + payload
    )
    if close:
        body += b"\r\n--b0undary--\r\n"
    return body


def _request(body: bytes) -> bytes:
    return (
        b"POST /upload HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=b0undary\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


async def test_non_utf8_filenames_are_accepted_and_nothing_is_left_in_the_spool(upload_server):
    port, spool = upload_server
    answer = await raw_exchange(port, _request(_multipart(b"caf\xe9 \xff.jpg", b"\xff\xd8data")))
    assert status_of(answer) == 200, answer[:300]
    assert "caf" in answer.decode("utf-8", "replace")
    # Broken bodies: too large mid-file, cut off mid-file.
    for body in (
        _multipart(b"a.jpg", b"x" * (2 * 1024 * 1024)),
        _multipart(b"b.jpg", b"x" * 1000, close=False),
    ):
        answer = await raw_exchange(port, _request(body))
        assert status_of(answer) < 500, answer[:300]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    full = _request(_multipart(b"\xe9.jpg", b"x" * 5000))
    writer.write(full[: len(full) // 2])  # the client goes away mid-upload
    await writer.drain()
    writer.close()
    await asyncio.sleep(0)
    deadline = asyncio.get_running_loop().time() + 10
    while list(spool.iterdir()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert list(spool.iterdir()) == []
