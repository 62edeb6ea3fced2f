"""`make run`: start the whole platform on this machine and stop all of it on Ctrl-C/SIGTERM.

Profile `local` (default) needs nothing installed: moto S3, fakeredis and nx-27017 run as
child processes, SQL is SQLite under the data dir, and events travel over HTTP the way a
Knative source would deliver them. The embedded S3 and Redis keep their state in memory;
a clean stop saves it beside the SQLite and nx-27017 files and the next start restores
it, while after a crash the data dir is wiped: everything comes back, or nothing, never
SQL rows pointing at photos that are gone (local_state).

Profile `dev` uses the real servers on localhost (see config/*-dev.yaml) and also runs
the RabbitMQ dispatcher (zipbob_dispatcher); nothing is wiped.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from . import embedded, local_state

DEFAULT_PORTS = {
    "gateway": 8080,
    "catalog": 8081,
    "review": 8082,
    "resizer": 8083,
    "web": 8085,
}
# Start order: services others call at start-up come first.
SERVICES = ("resizer", "catalog", "review", "gateway", "web")
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    url: str | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Stack:
    """Everything the launcher started, stopped in reverse order."""

    def __init__(self) -> None:
        self.servers: list[embedded.EmbeddedServer] = []
        self.children: list[Child] = []
        self.embedded_env: dict[str, str] = {}

    def server(self, name: str) -> embedded.EmbeddedServer | None:
        return next((s for s in self.servers if s.name == name), None)

    def stop(self, *, save_to: Path | None = None) -> None:
        """Stop in reverse order; with ``save_to``, keep the embedded servers' state on disk
        once no service can write any more (local_state)."""
        for child in reversed(self.children):
            child.stop()
        s3, redis = self.server("s3"), self.server("redis")
        if save_to is not None and s3 is not None and redis is not None:
            try:
                local_state.save(save_to, s3_url=s3.url, redis_url=redis.url, env=self.embedded_env)
            except Exception as exc:  # no mark is written: the next start begins afresh
                print(f"could not save the local data ({exc}); the next start begins afresh")
        for server in reversed(self.servers):
            server.stop()

    def first_dead(self) -> Child | embedded.EmbeddedServer | None:
        for child in self.children:
            if child.process.poll() is not None:
                return child
        for server in self.servers:
            if not server.alive():
                return server
        return None


def _installed(service: str) -> bool:
    return importlib.util.find_spec(f"zipbob_{service}.__main__") is not None


def _wait_live(child: Child, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(
                f"{child.name} exited with code {child.process.returncode}:\n" + "\n".join(tail)
            )
        try:
            with urllib.request.urlopen(f"{child.url}/healthz/live", timeout=1) as response:  # noqa: S310 - loopback URL we built
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {child.url}/healthz/live in time")


def _spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    return Child(name, process)


def _run_migrations(env: dict[str, str], log_dir: Path) -> None:
    for service in ("gateway", "catalog"):
        if importlib.util.find_spec(f"zipbob_{service}.migrate") is None:
            continue
        with (log_dir / f"{service}-migrate.log").open("ab") as log:
            subprocess.run(
                [sys.executable, "-m", f"zipbob_{service}.migrate"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (as written by scripts/dev_env.py); # comments and blanks skipped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def base_env(profile: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env_file = Path(os.environ.get("ZIPBOB_ENV_FILE", ".env"))
    if profile != "local" and env_file.is_file():
        # Secrets for dev come from a git-ignored file; the real environment still wins.
        env = {**read_env_file(env_file), **env}
    env.update({"ZIPBOB_PROFILE": profile, "ZIPBOB_DATA_DIR": str(data_dir)})
    for service, port in DEFAULT_PORTS.items():
        env.setdefault(f"ZIPBOB_{service.upper()}_PORT", str(port))
    # Event receivers accept only senders that know this (zipbob_platform.event_auth); a
    # fresh one per run, shared by the relay, the resizer, the dispatcher and receivers.
    env.setdefault("ZIPBOB_EVENT_AUTH__SHARED_SECRET", secrets.token_urlsafe(32))
    give_proxy_token(env)
    return env


def give_proxy_token(env: dict[str, str]) -> None:
    """The web console's credential at the gateway (every process here is 127.0.0.1, so an
    address cannot say which hop to believe): one per run, the same for both; one already
    in ``env`` (dev's .env) is kept."""
    proxy_token = env.get("ZIPBOB_EDGE__PROXY_TOKEN") or secrets.token_urlsafe(32)
    env.setdefault("ZIPBOB_EDGE__PROXY_TOKEN", proxy_token)
    env.setdefault("ZIPBOB_WEB__GATEWAY_PROXY_TOKEN", proxy_token)


def start_embedded(data_dir: Path, stack: Stack) -> dict[str, str]:
    """moto S3, fakeredis and nx-27017; returns the env vars that point services at them."""
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    s3 = embedded.start_s3(_free_or_default(9000), log_dir=log_dir)
    stack.servers.append(s3)
    redis = embedded.start_redis(log_dir=log_dir)
    stack.servers.append(redis)
    mongo = embedded.start_mongo(data_dir=data_dir / "mongo", log_dir=log_dir)
    stack.servers.append(mongo)
    return {**s3.env, **redis.env, **mongo.env}


def start_services(
    profile: str, env: dict[str, str], stack: Stack, *, with_dispatcher: bool
) -> dict[str, str]:
    """Every installed service (and the dispatcher), each waited for; returns their URLs."""
    log_dir = Path(env["ZIPBOB_DATA_DIR"]) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    give_proxy_token(env)  # also for callers that build their own env (tests/e2e/dev_stack.py)
    if profile != "local":
        _run_migrations(env, log_dir)
    urls: dict[str, str] = {}
    for service in SERVICES:
        if not _installed(service):
            continue
        port = int(env[f"ZIPBOB_{service.upper()}_PORT"])
        if embedded.port_open(port):
            raise RuntimeError(
                f"port {port} for the {service} is already in use (another `make run`?); "
                f"stop that or choose another with ZIPBOB_{service.upper()}_PORT"
            )
        child = _spawn(service, [sys.executable, "-m", f"zipbob_{service}"], env, log_dir)
        child.url = f"http://127.0.0.1:{port}"
        stack.children.append(child)
        _wait_live(child, log_dir / f"{service}.log")
        urls[service] = child.url
    if with_dispatcher and importlib.util.find_spec("zipbob_dispatcher"):
        args = [sys.executable, "-m", "zipbob_dispatcher"]
        stack.children.append(_spawn("dispatcher", args, env, log_dir))
    return urls


def start(
    profile: str, data_dir: Path, stack: Stack, *, quiet: bool = False, restore: bool = False
) -> dict[str, str]:
    """What `make run` starts for ``profile``; returns service URLs. ``restore`` loads the
    snapshot a clean local stop left (see local_state.claim_data_dir)."""
    env = base_env(profile, data_dir)
    if profile == "local":
        if not quiet:
            print("starting embedded S3 (moto), Redis (fakeredis) and MongoDB (nx-27017) ...")
        stack.embedded_env = start_embedded(data_dir, stack)
        env.update(stack.embedded_env)
        if restore:
            s3, redis = stack.server("s3"), stack.server("redis")
            assert s3 is not None and redis is not None
            count = local_state.restore(data_dir, s3_url=s3.url, redis_url=redis.url, env=env)
            if not quiet:
                print(f"restored the data of the last run ({count} stored photos and variants)")
    urls = start_services(profile, env, stack, with_dispatcher=profile != "local")
    if profile == "local":
        urls["s3"] = stack.servers[0].url
    return urls


def _free_or_default(port: int) -> int:
    return embedded.free_port() if embedded.port_open(port) else port


def _print_banner(profile: str, urls: dict[str, str], data_dir: Path) -> None:
    print(f"\nZipBob Commerce is running (profile {profile}).")
    if "gateway" in urls:
        gateway = urls["gateway"]
        print(f"  API (gateway)   {gateway}/api   JWKS {gateway}/.well-known/jwks.json")
        management = os.environ.get("ZIPBOB_GATEWAY_MANAGEMENT_PORT", "0")
        metrics = f"http://127.0.0.1:{management}" if management != "0" else gateway
        print(f"  gateway metrics {metrics}/metrics")
        if "web" in urls:
            print(f"  web console     {gateway}/   (served by the web service at {urls['web']})")
    for service in ("catalog", "review", "resizer"):
        if service in urls:
            print(f"  {service:<15} {urls[service]}   (metrics {urls[service]}/metrics)")
    if "s3" in urls:
        print(f"  S3 (embedded)   {urls['s3']}")
    print(f"  logs            {data_dir / 'logs'}/*.log (one JSON object per line)")
    if profile == "local":
        print(
            f"  data            {data_dir}: kept across a clean stop (Ctrl-C); "
            "after a crash the next start begins afresh"
        )
    print("Press Ctrl-C to stop everything.\n", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run the whole ZipBob platform locally")
    parser.add_argument("--profile", default=os.environ.get("ZIPBOB_PROFILE", "local"))
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("ZIPBOB_DATA_DIR", "./.zipbob")).resolve()
    restore = args.profile == "local" and local_state.claim_data_dir(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)

    stack = Stack()
    stopping = False
    clean_stop = False

    def on_signal(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        urls = start(args.profile, data_dir, stack, restore=restore)
        _print_banner(args.profile, urls, data_dir)
        while not stopping:
            dead = stack.first_dead()
            if dead is not None:
                print(f"{dead.name} stopped unexpectedly; stopping everything", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print("stopping ...", flush=True)
        clean_stop = True
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"could not start the platform: {exc}", file=sys.stderr)
        return 1
    finally:
        keep = clean_stop and args.profile == "local"
        stack.stop(save_to=data_dir if keep else None)


if __name__ == "__main__":
    sys.exit(main())
