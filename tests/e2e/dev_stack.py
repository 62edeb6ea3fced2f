"""The platform in the `dev` profile, over the real servers on this machine.

PostgreSQL (gateway), MariaDB (catalog), Redis and RabbitMQ are the real ones; the S3
endpoint is moto's server and MongoDB is nx-27017, since neither MinIO nor MongoDB can
run here. Each stack has databases and a RabbitMQ vhost of its own, so the configuration's
fixed queue names never meet another stack's (two at once would take each other's
messages); ``stop()`` drops them. Every dependency is reached through a TcpProxy so tests
can make it vanish and come back with its state intact.
Used by the e2e fault tests and `bench_platform`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from zipbob_devkit import embedded, launcher
from zipbob_devkit.faults import TcpProxy
from zipbob_devkit.testing import (
    add_rabbitmq_vhost,
    create_sql_database,
    delete_rabbitmq_vhost,
    drop_sql_database,
    rabbitmq_vhost_url,
    unique_name,
)

REDIS_PORT = 6379
RABBITMQ_PORT = 5672


@dataclass
class DevStack:
    data_dir: Path
    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    proxies: dict[str, TcpProxy] = field(default_factory=dict)
    processes: launcher.Stack = field(default_factory=launcher.Stack)
    databases: list[tuple[str, str]] = field(default_factory=list)
    vhost: str = ""  # RabbitMQ's, this stack's only

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def child(self, name: str) -> launcher.Child:
        return next(c for c in self.processes.children if c.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL, like an OOM kill or a node loss: no graceful shutdown."""
        child = self.child(name)
        child.process.kill()
        child.process.wait()

    def restart(self, name: str) -> None:
        old = self.child(name)
        old.stop()
        module = f"zipbob_{name}"
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module], env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        old.process = process
        if old.url:
            launcher._wait_live(old, log_path)

    def stop(self) -> None:
        self.processes.stop()
        for proxy in self.proxies.values():
            proxy.stop()
        for backend, url in self.databases:
            asyncio.run(drop_sql_database(backend, url))
        if self.vhost:
            delete_rabbitmq_vhost(self.vhost)


def _signing_keys() -> str:
    from zipbob_gateway.keys.keyring import SigningKey

    key = SigningKey.generate()
    return json.dumps([{"kid": key.kid, "pem": key.pem()}])


def start_dev_stack(
    data_dir: Path, *, extra_env: dict[str, str] | None = None, proxied: bool = True
) -> DevStack:
    """``proxied=False`` connects straight to the servers: the proxies' Python threads would
    otherwise compete for CPU with what a benchmark measures."""
    stack = DevStack(data_dir)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        s3 = embedded.start_s3(log_dir=stack.log_dir)
        stack.processes.servers.append(s3)
        mongo = embedded.start_mongo(data_dir=data_dir / "mongo", log_dir=stack.log_dir)
        stack.processes.servers.append(mongo)
        ports_of = {"s3": s3.port, "mongo": mongo.port, "redis": REDIS_PORT,
                    "rabbitmq": RABBITMQ_PORT}  # fmt: skip
        if proxied:
            for name, port in ports_of.items():
                stack.proxies[name] = TcpProxy(port).start()
        gateway_db = asyncio.run(create_sql_database("postgresql", tmp_dir=data_dir))
        catalog_db = asyncio.run(create_sql_database("mariadb", tmp_dir=data_dir))
        stack.databases = [("postgresql", gateway_db), ("mariadb", catalog_db)]
        stack.vhost = unique_name("zipbob-e2e")
        add_rabbitmq_vhost(stack.vhost, port=RABBITMQ_PORT)
        ports = {name: embedded.free_port() for name in launcher.DEFAULT_PORTS}
        p = {name: proxy.port for name, proxy in stack.proxies.items()} if proxied else ports_of
        env = {
            **os.environ,
            **{f"ZIPBOB_{name.upper()}_PORT": str(port) for name, port in ports.items()},
            "ZIPBOB_PROFILE": "dev",
            "ZIPBOB_DATA_DIR": str(data_dir),
            "ZIPBOB_ENV_FILE": str(data_dir / "no.env"),
            "ZIPBOB_GATEWAY_DATABASE__URL": gateway_db,
            "ZIPBOB_CATALOG_DATABASE__URL": catalog_db,
            "ZIPBOB_REDIS__URL": f"redis://127.0.0.1:{p['redis']}/0",
            "ZIPBOB_RABBITMQ__URL": rabbitmq_vhost_url(stack.vhost, port=p["rabbitmq"]),
            "ZIPBOB_S3__ENDPOINT_URL": f"http://127.0.0.1:{p['s3']}",
            "ZIPBOB_S3__ACCESS_KEY_ID": embedded.LOCAL_S3_KEY,
            "ZIPBOB_S3__SECRET_ACCESS_KEY": embedded.LOCAL_S3_SECRET,
            "ZIPBOB_MONGO__URL": f"mongodb://127.0.0.1:{p['mongo']}/?directConnection=true",
            "ZIPBOB_JWT__PRIVATE_KEYS": _signing_keys(),
            # The event senders' credential, as the launcher makes one per run: without it
            # every receiver refuses every event (zipbob_platform.event_auth).
            "ZIPBOB_EVENT_AUTH__SHARED_SECRET": secrets.token_urlsafe(24),
            **(extra_env or {}),
        }
        env.pop("ZIPBOB_DATABASE__URL", None)
        stack.env = env
        stack.urls = launcher.start_services("dev", env, stack.processes, with_dispatcher=True)
    except BaseException:
        stack.stop()
        raise
    return stack
