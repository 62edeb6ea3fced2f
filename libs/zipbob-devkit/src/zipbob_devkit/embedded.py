"""Embedded stand-ins for backing servers, each a real server on a loopback socket.

Used by the `local` profile (``make run``) and by the tests: moto's S3 server, a
fakeredis TCP server and nx-27017 (MongoDB wire protocol over SQLite). Production and
the `dev` profile use the real servers; these only replace what cannot be installed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

S3_BUCKETS = ("original-images", "resized-images")
S3_REGION = "us-east-1"
# moto accepts any credentials; these are never valid anywhere else.
LOCAL_S3_KEY = "zipbob-local"
LOCAL_S3_SECRET = "zipbob-local-secret"  # noqa: S105 - embedded moto server only


@dataclass
class EmbeddedServer:
    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, *, process: subprocess.Popen[bytes], name: str, timeout: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} before listening")
        if port_open(port):
            return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout}s")


def _spawn(
    name: str, args: list[str], port: int, log_dir: Path | None, env: dict[str, str] | None = None
) -> EmbeddedServer:
    log_path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        output = log_path.open("ab")
    else:
        output = open(os.devnull, "wb")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        args,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
    )
    output.close()
    wait_for_port(port, process=process, name=name)
    return EmbeddedServer(name, f"http://127.0.0.1:{port}", port, process, log_path)


def start_s3(
    port: int | None = None,
    *,
    log_dir: Path | None = None,
    buckets: tuple[str, ...] = S3_BUCKETS,
) -> EmbeddedServer:
    """moto's S3 server, with the buckets created."""
    port = port or free_port()
    server = _spawn(
        "s3",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        port,
        log_dir,
    )
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name=S3_REGION,
        aws_access_key_id=LOCAL_S3_KEY,
        aws_secret_access_key=LOCAL_S3_SECRET,
    )
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    server.env = {
        "ZIPBOB_S3__ENDPOINT_URL": server.url,
        "ZIPBOB_S3__ACCESS_KEY_ID": LOCAL_S3_KEY,
        "ZIPBOB_S3__SECRET_ACCESS_KEY": LOCAL_S3_SECRET,
    }
    return server


def start_redis(port: int | None = None, *, log_dir: Path | None = None) -> EmbeddedServer:
    """fakeredis speaking RESP on a socket (state in memory only)."""
    port = port or free_port()
    server = _spawn(
        "redis",
        [sys.executable, "-m", "zipbob_devkit.embedded", "redis", "--port", str(port)],
        port,
        log_dir,
    )
    server.url = f"redis://127.0.0.1:{port}/0"
    server.env = {"ZIPBOB_REDIS__URL": server.url}
    return server


def start_mongo(
    port: int | None = None, *, data_dir: Path | None = None, log_dir: Path | None = None
) -> EmbeddedServer:
    """nx-27017: MongoDB wire protocol over SQLite; ``data_dir=None`` keeps it in memory."""
    port = port or free_port()
    state = str(data_dir) if data_dir is not None else "memory"
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    run_dir = log_dir or Path(tempfile.gettempdir())
    args = [
        sys.executable,
        "-c",
        "import sys; from nx_27017.nx_27017 import main; sys.exit(main())",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        state,
        "--log-file",
        str(run_dir / f"nx-27017-{port}.log"),
        "--pid-file",
        str(run_dir / f"nx-27017-{port}.pid"),
    ]
    server = _spawn("mongo", args, port, log_dir)
    server.url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    server.env = {"ZIPBOB_MONGO__URL": server.url}
    return server


def _serve_redis(port: int) -> None:
    import redis
    from fakeredis import TcpFakeServer
    from fakeredis._clients._tcp_server import TCPFakeRequestHandler

    class ErrorsAsReplies:
        """fakeredis's TCP handler closes the connection after any error reply (NOSCRIPT,
        WRONGTYPE, ...); a real Redis answers the error and keeps the connection."""

        def __init__(self, connection: Any) -> None:
            self._connection = connection

        def __getattr__(self, name: str) -> Any:
            return getattr(self._connection, name)

        def read_response(self) -> Any:
            try:
                return self._connection.read_response()
            except redis.ResponseError as exc:
                return exc

    class Handler(TCPFakeRequestHandler):
        def setup(self) -> None:
            super().setup()
            self.current_client = ErrorsAsReplies(self.current_client)  # type: ignore[assignment]

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    server.RequestHandlerClass = Handler
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="run one embedded server in the foreground")
    parser.add_argument("kind", choices=["redis"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _serve_redis(args.port)


if __name__ == "__main__":
    main()
