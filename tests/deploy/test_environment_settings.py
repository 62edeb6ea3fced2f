"""What each environment's settings mean once env and config files are merged: object store
region, buckets and presigned host; no container calling its own loopback for another
service; event paths that exist; Trigger parallelism; RabbitMQ permissions; the promtool
unit tests of the dead-letter alerts; the AppProjects."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_render import render

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "config"
COMPOSE = REPO_ROOT / "docker-compose.yml"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def merged(service: str, env: dict[str, str], files: dict[str, str] | None = None) -> dict:
    """The prod profile's files (a mounted ConfigMap or the repo's), placeholders resolved,
    then ZIPBOB_<SECTION>__<KEY> variables on top (SPEC 7's order)."""
    result: dict = {}

    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for key, value in over.items():
            out[key] = (
                merge(out[key], value)
                if isinstance(value, dict) and isinstance(out.get(key), dict)
                else value
            )
        return out

    for name in ("application", "application-prod", service, f"{service}-prod"):
        text = (files or {}).get(f"{name}.yaml")
        if text is None and (CONFIG / f"{name}.yaml").is_file():
            text = (CONFIG / f"{name}.yaml").read_text()
        result = merge(result, yaml.safe_load(text or "") or {})

    def resolve(value):
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: env.get(m.group(1), m.group(2) or ""), value)
        return value

    result = resolve(result)
    for name, value in env.items():
        if name.startswith("ZIPBOB_") and "__" in name:
            path = [p.lower() for p in name.removeprefix("ZIPBOB_").split("__")]
            node = result
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
    return result


def k8s_container_env(obj: dict, objects: list[dict]) -> tuple[dict[str, str], dict[str, str]]:
    config_maps = {
        o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"
    }
    pod = obj["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "<secret>")
    volume = next(v for v in pod["volumes"] if "configMap" in v)
    return env, config_maps[volume["configMap"]["name"]]


def environments() -> dict[str, dict[str, dict]]:
    """{environment: {service: merged settings}} for the object-store users."""
    out: dict[str, dict[str, dict]] = {}
    for overlay in ("dev", "prod"):
        objects = render(REPO_ROOT / "k8s" / "overlays" / overlay)
        for obj in objects:
            name = obj["metadata"]["name"]
            if (
                name in ("catalog", "resizer")
                and obj["kind"] in ("Deployment", "Service")
                and "template" in obj.get("spec", {})
            ):
                env, files = k8s_container_env(obj, objects)
                out.setdefault(overlay, {})[name] = merged(name, env, files)
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("catalog", "resizer"):
        env = {k: str(v) for k, v in compose[name]["environment"].items()}
        out.setdefault("compose", {})[name] = merged(name, env)
    return out


@pytest.fixture(scope="module")
def settings_by_environment():
    return environments()


AWS_ENDPOINT = re.compile(r"^s3[.-]([a-z0-9-]+)\.amazonaws\.com$")


def test_s3_region_matches_the_endpoint(settings_by_environment):
    for env, services in settings_by_environment.items():
        for service, settings in services.items():
            s3 = settings["s3"]
            host = urlsplit(s3["endpoint_url"]).hostname or ""
            match = AWS_ENDPOINT.match(host)
            if match:
                assert s3["region"] == match.group(1), (
                    f"{env} {service}: region {s3['region']} vs {host}"
                )
        regions = {s["s3"]["region"] for s in services.values()}
        assert len(regions) == 1, f"{env}: catalog and resizer sign for different regions"


def test_buckets_are_per_environment_and_shared_by_catalog_and_resizer(settings_by_environment):
    seen = {}
    for env, services in settings_by_environment.items():
        buckets = {
            (s["s3"]["original_bucket"], s["s3"]["resized_bucket"]) for s in services.values()
        }
        assert len(buckets) == 1, f"{env}: catalog and resizer name different buckets {buckets}"
        seen[env] = buckets.pop()
    assert seen["dev"] != seen["prod"], "dev and prod share buckets"
    for env in ("dev", "prod"):  # real S3 names are global: never the generic SPEC names
        assert not set(seen[env]) & {"original-images", "resized-images"}, env
    minio_job = next(
        o
        for o in render(REPO_ROOT / "k8s" / "overlays" / "dev" / "platform")
        if o["metadata"]["name"] == "minio-buckets"
    )
    script = " ".join(minio_job["spec"]["template"]["spec"]["containers"][0]["command"])
    for bucket in seen["dev"]:
        assert f"zipbob/{bucket}" in script, f"the dev MinIO Job does not create {bucket}"


def test_presigned_urls_are_signed_for_a_host_browsers_reach(settings_by_environment):
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    published = {p.split(":")[-2] for p in compose["minio"].get("ports", [])}
    for env, services in settings_by_environment.items():
        s3 = services["catalog"]["s3"]
        public = s3.get("public_endpoint_url") or s3["endpoint_url"]
        parts = urlsplit(public)
        host = parts.hostname or ""
        if env == "compose":
            assert host in {"localhost", "127.0.0.1"} and str(parts.port) in published, (
                f"compose presigns for {public}: a browser on the host cannot reach it"
            )
            continue
        assert parts.scheme == "https", f"{env}: presigned URLs over {parts.scheme}"
        assert "." in host and not host.endswith((".svc", ".cluster.local", ".local")), (
            f"{env}: presigned URLs for {public}, a cluster-internal name"
        )
        if not AWS_ENDPOINT.match(host):  # anything else must be a host of the front door
            routes = [
                o for o in render(REPO_ROOT / "k8s" / "overlays" / env) if o["kind"] == "HTTPRoute"
            ]
            assert any(host in r["spec"].get("hostnames", []) for r in routes), (
                f"{env}: no route for {host}"
            )


def outbound_urls(settings: dict, service: str) -> dict[str, str]:
    """The addresses a service dials (config keys that name another service)."""
    urls = {"auth.jwks_url": settings.get("auth", {}).get("jwks_url", "")}
    if service == "gateway":
        urls |= {f"upstreams.{k}.url": v["url"] for k, v in settings.get("upstreams", {}).items()}
    if service == "review":
        urls["catalog.url"] = settings.get("catalog", {}).get("url", "")
    if service in ("catalog", "resizer"):
        urls["s3.endpoint_url"] = settings.get("s3", {}).get("endpoint_url") or ""
    if service == "resizer" and settings.get("results", {}).get("delivery") == "http":
        urls["results.http_sink"] = settings["results"]["http_sink"]
    if "dispatcher" in settings and settings.get("_is_dispatcher"):
        urls["dispatcher.target_url"] = settings["dispatcher"]["target_url"]
    return urls


def test_no_compose_container_calls_its_own_loopback_for_another_service():
    """In a container 127.0.0.1 is that container: a dispatcher delivering there dead-letters
    every event. Each outbound address must be another compose service."""
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    problems = []
    for name, spec in compose.items():
        service = spec.get("build", {}).get("args", {}).get("SERVICE") or (
            spec.get("image", "").removeprefix("zipbob/").split(":")[0]
            if spec.get("image", "").startswith("zipbob/")
            else None
        )
        if service is None or spec.get("restart") == "no":
            continue
        env = {k: str(v) for k, v in spec.get("environment", {}).items()}
        settings = merged(service, env)
        settings["_is_dispatcher"] = "dispatcher" in " ".join(spec.get("entrypoint", []))
        for key, url in outbound_urls(settings, service).items():
            host = urlsplit(url).hostname
            if host in {"127.0.0.1", "localhost", "::1"}:
                problems.append(f"{name}: {key} = {url}")
            elif host and host not in compose:
                problems.append(f"{name}: {key} = {url} names no compose service")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_trigger_posts_to_an_endpoint_that_is_open(overlay):
    """review-prod.yaml closes /internal/events (review takes product.deleted from its own
    queue), so no Trigger may deliver there; each subscriber path must be enabled."""
    objects = render(REPO_ROOT / "k8s" / "overlays" / overlay)
    config_maps = {
        o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"
    }
    for trigger in (o for o in objects if o["kind"] == "Trigger"):
        subscriber = trigger["spec"]["subscriber"]
        name = subscriber["ref"]["name"]
        if name == "review":
            files = next(v for k, v in config_maps.items() if k.startswith("review-config"))
            events = merged("review", {}, files)["review"]["events"]
            assert events["http_enabled"], (
                f"{trigger['metadata']['name']} posts to a closed endpoint"
            )
        if name == "catalog":
            assert subscriber.get("uri") == "/internal/events"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_resizer_triggers_deliver_as_much_as_the_resizer_takes(overlay):
    objects = render(REPO_ROOT / "k8s" / "overlays" / overlay)
    ksvc = next(
        o
        for o in objects
        if o["kind"] == "Service" and o["metadata"]["name"] == "resizer" and "template" in o["spec"]
    )
    template = ksvc["spec"]["template"]
    capacity = template["spec"]["containerConcurrency"] * int(
        template["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"]
    )
    for trigger in (o for o in objects if o["kind"] == "Trigger"):
        parallelism = (
            trigger["metadata"]
            .get("annotations", {})
            .get("rabbitmq.eventing.knative.dev/parallelism")
        )
        assert parallelism, f"{trigger['metadata']['name']} delivers one event at a time"
        if trigger["spec"]["subscriber"]["ref"]["name"] == "resizer":
            assert int(parallelism) == capacity, (
                f"{trigger['metadata']['name']}: {parallelism} != {capacity}"
            )


def test_rabbitmq_user_may_declare_and_bind_every_queue_the_services_use():
    objects = render(REPO_ROOT / "k8s" / "platform" / "rabbitmq")
    permission = next(o for o in objects if o["kind"] == "Permission")["spec"]["permissions"]
    catalog = merged("catalog", {})
    review = merged("review", {})
    queues = [
        catalog["rabbitmq"]["results_queue"],
        review["review"]["events"]["rabbitmq"]["queue"],
        "knative.zipbob-events",
    ]
    queues += [f"{q}.dlq" for q in queues]
    exchanges = [catalog["rabbitmq"]["exchange"], catalog["rabbitmq"]["dead_letter_exchange"]]
    for name in queues + exchanges:
        for kind in ("configure", "write", "read"):
            assert re.match(permission[kind], name), f"{kind} permission does not cover {name}"
    for other in ("orders.incoming", "amq.rabbitmq.trace"):
        assert not re.match(permission["configure"], other), f"configure also covers {other}"


def test_dead_letter_alerts_pass_their_promtool_unit_tests():
    promtool = shutil.which("promtool")
    assert promtool, "scripts/check_test_services.py makes sure promtool is installed"
    tests = REPO_ROOT / "k8s" / "monitoring" / "third-party" / "rabbitmq.rules.test.yml"
    result = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_app_projects_cannot_widen_themselves():
    """Whatever may write into argocd may create only Applications there (no AppProjects);
    the environments' Applications use a project with no argocd destination at all."""
    objects = render(REPO_ROOT / "argocd")
    projects = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "AppProject"}
    for name, spec in projects.items():
        cluster = {(c["group"], c["kind"]) for c in spec.get("clusterResourceWhitelist", [])}
        assert not cluster & {("*", "*"), ("apiextensions.k8s.io", "CustomResourceDefinition")}
        if "argocd" in {d["namespace"] for d in spec["destinations"]}:
            allowed = spec.get("namespaceResourceWhitelist")
            assert allowed == [{"group": "argoproj.io", "kind": "Application"}], (
                f"project {name} writes into argocd with {allowed}"
            )
    root = next(o for o in objects if o["kind"] == "Application")
    assert root["spec"]["project"] in projects
    for child in render(REPO_ROOT / "argocd" / "apps"):
        destinations = {d["namespace"] for d in projects[child["spec"]["project"]]["destinations"]}
        assert "argocd" not in destinations, child["metadata"]["name"]
        assert child["spec"]["destination"]["namespace"] in destinations


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_front_door_serves_the_gateway_only_over_tls(overlay):
    objects = render(REPO_ROOT / "k8s" / "overlays" / overlay)
    gateways = [o for o in objects if o["kind"] == "Gateway"]
    certificates = {o["spec"]["secretName"]: o for o in objects if o["kind"] == "Certificate"}
    assert len(gateways) == 1
    listeners = {item["name"]: item for item in gateways[0]["spec"]["listeners"]}
    for listener in listeners.values():
        if listener["protocol"] == "HTTPS":
            for ref in listener["tls"]["certificateRefs"]:
                cert = certificates[ref["name"]]
                assert listener["hostname"] in cert["spec"]["dnsNames"]
                assert cert["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "letsencrypt"}
    routes = [o for o in objects if o["kind"] == "HTTPRoute"]
    for route in routes:
        for parent in route["spec"]["parentRefs"]:
            listener = listeners[parent["sectionName"]]
            backends = {
                b["name"] for rule in route["spec"]["rules"] for b in rule.get("backendRefs", [])
            }
            if listener["protocol"] == "HTTP":
                assert not backends, f"{route['metadata']['name']}: plain HTTP only redirects"
                continue
            assert set(route["spec"]["hostnames"]) == {listener["hostname"]}
            assert backends <= {"gateway", "minio"}, (
                f"{route['metadata']['name']} routes to {backends}"
            )
            if "minio" in backends:
                assert overlay == "dev" and listener["name"] == "images"
    gateway_route = next(r for r in routes if r["metadata"]["name"] == "gateway")
    assert {"type": "PathPrefix", "value": "/"} in [
        m["path"] for rule in gateway_route["spec"]["rules"] for m in rule["matches"]
    ], "/ (the web console) and everything under it go to the gateway"


def test_front_door_host_names_differ_per_overlay():
    names = {}
    for overlay in ("dev", "prod"):
        objects = render(REPO_ROOT / "k8s" / "overlays" / overlay)
        names[overlay] = {
            h for o in objects if o["kind"] == "HTTPRoute" for h in o["spec"]["hostnames"]
        }
        assert "zipbob.example" not in names[overlay], f"{overlay} keeps the base placeholder host"
    assert not names["dev"] & names["prod"]


# The front door is Envoy Gateway's data plane (envoy pods in envoy-gateway-system, fed by a
# LoadBalancer). Only its pool may set X-Forwarded-For: anything as wide as a pod or node
# network would let any pod, or outside traffic SNATed by a node, choose its client address.
NARROWEST_TRUSTED_PREFIX = {4: 22, 6: 64}  # at most 1024 IPv4 addresses per range


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_gateway_trusts_only_the_front_doors_data_plane(overlay):
    import ipaddress

    objects = render(REPO_ROOT / "k8s" / "overlays" / overlay)
    gateway = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "gateway"
    )
    env, files = k8s_container_env(gateway, objects)
    proxies = merged("gateway", env, files)["edge"]["trusted_proxies"]
    ranges = [ipaddress.ip_network(p.strip(), strict=False) for p in proxies.split(",") if p]
    assert ranges, f"{overlay}: the gateway trusts no front door (edge-environment)"
    for network in ranges:
        assert network.prefixlen >= NARROWEST_TRUSTED_PREFIX[network.version], (
            f"{overlay}: trusted proxy range {network} is wider than a data-plane pool"
        )
    # The range lets only the front door in: the flow matrix's dataplane pods are admitted
    # to the gateway; nothing in the config says "every private address".
    for broad in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "0.0.0.0/0"):
        assert all(network != ipaddress.ip_network(broad) for network in ranges)


def test_the_prod_profile_trusts_no_proxy_unless_told():
    """Without the overlay's ConfigMap the gateway believes no X-Forwarded-For at all."""
    assert merged("gateway", {})["edge"]["trusted_proxies"] in ("", [])
