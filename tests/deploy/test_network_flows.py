"""The flow matrix: which connections must pass and which must not, evaluated against the
rendered NetworkPolicies of each environment (and of the cluster's log agent).

The evaluator follows the NetworkPolicy spec: a pod is isolated for a direction once any
policy of its namespace selects it with that policy type; a connection passes when the
source's egress and the destination's ingress both admit it (pod and namespace selectors,
both together meaning "pods in those namespaces", ipBlock with except, ports by number,
name, protocol and endPort). ipBlocks are matched against the peer's IP, pods included
(pod IPs are in 10.244.0.0/16), so a forgotten 0.0.0.0/0 cannot hide.

Pods are the rendered workloads plus the ones operators create, with the labels those
operators set (eventing-rabbitmq's Broker ingress and Trigger dispatchers and RabbitmqSource
adapter, the RabbitMQ cluster operator, ECK, Knative's activator/autoscaler/Kourier,
kube-prometheus-stack, the log agent), and outside clients by IP.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from deploy_render import render

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMESPACES = {"dev": "zipbob-dev", "prod": "zipbob"}
_ip_counter = itertools.count(10)


@dataclass
class Endpoint:
    name: str
    namespace: str | None  # None: outside the cluster
    labels: dict[str, str] = field(default_factory=dict)
    ports: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (port, proto)
    ip: str = ""

    def __post_init__(self) -> None:
        if not self.ip:
            n = next(_ip_counter)
            self.ip = f"10.244.{n // 250}.{n % 250 + 1}"


# --- the evaluator --------------------------------------------------------------------------


def selector_matches(selector: dict | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def policy_types(policy: dict) -> set[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def peer_matches(peer: dict, policy_ns: str, other: Endpoint, namespaces: dict) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(other.ip)
        if ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if other.namespace is None:
        return False  # pod and namespace selectors only ever select pods
    if "namespaceSelector" in peer:
        ns_labels = namespaces.get(
            other.namespace, {"kubernetes.io/metadata.name": other.namespace}
        )
        if not selector_matches(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False
    if "podSelector" in peer:
        return selector_matches(peer["podSelector"], other.labels)
    return True


def port_matches(rule_ports: list[dict] | None, target: Endpoint, port: int, proto: str) -> bool:
    if not rule_ports:
        return True
    for item in rule_ports:
        if item.get("protocol", "TCP") != proto:
            continue
        wanted = item.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):  # a named port of the destination pod
            named = target.ports.get(wanted)
            if named and named == (port, proto):
                return True
            continue
        if wanted <= port <= item.get("endPort", wanted):
            return True
    return False


def admitted(
    policies: list[dict],
    direction: str,
    pod: Endpoint,
    other: Endpoint,
    dst: Endpoint,
    port: int,
    proto: str,
    namespaces: dict,
) -> bool:
    """Does `pod`'s side admit the connection in `direction` (Ingress: other -> pod)?"""
    if pod.namespace is None:
        return True  # outside the cluster: no policy of ours applies
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in policy_types(p)
        and selector_matches(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True  # not isolated in this direction
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key)
            if peers and not any(
                peer_matches(peer, policy["metadata"]["namespace"], other, namespaces)
                for peer in peers
            ):
                continue
            if port_matches(rule.get("ports"), dst, port, proto):
                return True
    return False


def connection_allowed(policies, src: Endpoint, dst: Endpoint, port: int, proto: str, ns) -> bool:
    return admitted(policies, "Egress", src, dst, dst, port, proto, ns) and admitted(
        policies, "Ingress", dst, src, dst, port, proto, ns
    )


def test_the_evaluator_reads_policies_like_kubernetes():
    ns = {"a": {"kubernetes.io/metadata.name": "a", "team": "x"}}
    web = Endpoint("web", "a", {"app": "web"}, {"http": (8080, "TCP")})
    db = Endpoint("db", "a", {"app": "db"}, {"sql": (5432, "TCP")})
    other = Endpoint("other", "b", {"app": "web"})
    outside = Endpoint("outside", None, ip="203.0.113.9")
    deny = {
        "metadata": {"namespace": "a"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    allow = {
        "metadata": {"namespace": "a"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                    "ports": [{"port": "sql"}],
                }
            ],
        },
    }
    egress = {
        "metadata": {"namespace": "a"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "app", "operator": "In", "values": ["db"]}
                                ]
                            }
                        }
                    ],
                    "ports": [{"port": 5000, "endPort": 6000}],
                }
            ],
        },
    }
    assert not connection_allowed([deny], web, db, 5432, "TCP", ns)
    assert not connection_allowed([deny, allow], web, db, 5432, "TCP", ns)  # egress still denied
    assert connection_allowed([deny, allow, egress], web, db, 5432, "TCP", ns)
    assert not connection_allowed([deny, allow, egress], web, db, 5433, "TCP", ns)
    assert not connection_allowed([deny, allow, egress], web, db, 5432, "UDP", ns)
    assert not connection_allowed([allow], other, db, 5432, "TCP", ns)  # other namespace
    assert not connection_allowed([allow], outside, db, 5432, "TCP", ns)
    assert connection_allowed([allow], outside, web, 8080, "TCP", ns)  # web not isolated
    both = {
        "metadata": {"namespace": "a"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"team": "x"}},
                            "podSelector": {"matchLabels": {"app": "db"}},
                        }
                    ]
                },
                {"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["203.0.113.0/24"]}}]},
            ],
        },
    }
    assert connection_allowed([both], db, web, 8080, "TCP", ns)
    assert not connection_allowed([both], outside, web, 8080, "TCP", ns)
    assert connection_allowed([both], Endpoint("o2", None, ip="198.51.100.1"), web, 1, "TCP", ns)
    # A pod of another namespace is not selected by the first rule but matches the ipBlock.
    assert connection_allowed([both], Endpoint("w", "b", {"app": "x"}), web, 8080, "TCP", ns)


# --- the pods of an environment -------------------------------------------------------------


def pod_endpoints(objects: list[dict], namespace: str) -> dict[str, Endpoint]:
    pods: dict[str, Endpoint] = {}
    for obj in objects:
        kind = obj["kind"]
        template = None
        knative = kind == "Service" and obj["apiVersion"].startswith("serving.knative.dev/")
        if kind in {"Deployment", "StatefulSet", "DaemonSet", "Job"} or knative:
            template = obj["spec"]["template"]
        if template is None:
            continue
        labels = dict(template.get("metadata", {}).get("labels", {}))
        ports = {}
        for container in template["spec"].get("containers", []):
            for p in container.get("ports", []):
                ports[p.get("name", str(p["containerPort"]))] = (
                    p["containerPort"],
                    p.get("protocol", "TCP"),
                )
        if kind == "Service":  # Knative: user-port + the queue-proxy's ports
            name = obj["metadata"]["name"]
            labels |= {
                "serving.knative.dev/service": name,
                "serving.knative.dev/revision": f"{name}-00001",
            }
            user = next(iter(ports.values()), (8080, "TCP"))
            ports = {
                "user-port": user,
                "queue-port": (8012, "TCP"),
                "http-autometric": (9090, "TCP"),
                "http-usermetric": (9091, "TCP"),
            }
        pods[obj["metadata"]["name"]] = Endpoint(obj["metadata"]["name"], namespace, labels, ports)
    # Created by operators in this namespace (their labels, from their reconcilers).
    for obj in objects:
        made = _operator_pod(obj)
        if made is not None:
            key, labels, ports = made
            pods[key] = Endpoint(key, namespace, labels, ports)
    return pods


Ports = dict[str, tuple[int, str]]


def _operator_pod(obj: dict) -> tuple[str, dict[str, str], Ports] | None:
    """The pod an operator runs for ``obj`` (its key, labels and ports), if it runs one."""
    name = obj["metadata"]["name"]
    match obj["kind"]:
        case "RabbitmqCluster":
            labels = {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/component": "rabbitmq",
                "app.kubernetes.io/part-of": "rabbitmq",
            }
            return (
                "rabbitmq",
                labels,
                {
                    "amqp": (5672, "TCP"),
                    "management": (15672, "TCP"),
                    "prometheus": (15692, "TCP"),
                    "epmd": (4369, "TCP"),
                    "cluster-links": (25672, "TCP"),
                },
            )
        case "Broker":
            labels = {
                "eventing.knative.dev/broker": name,
                "eventing.knative.dev/brokerRole": "ingress",
            }
            return "broker-ingress", labels, {"http": (8080, "TCP"), "http-metrics": (9090, "TCP")}
        case "Trigger":
            broker = obj["spec"]["broker"]
            labels = {
                "eventing.knative.dev/broker": broker,
                "eventing.knative.dev/brokerRole": "dispatcher",
            }
            return f"{name}-dispatcher", labels, {}
        case "RabbitmqSource":
            labels = {
                "eventing.knative.dev/source": "rabbitmq-source-controller",
                "eventing.knative.dev/SourceName": name,
            }
            return "source-adapter", labels, {}
        case "Elasticsearch":
            labels = {
                "elasticsearch.k8s.elastic.co/cluster-name": name,
                "common.k8s.elastic.co/type": "elasticsearch",
            }
            return "elasticsearch", labels, {"https": (9200, "TCP"), "transport": (9300, "TCP")}
        case "Kibana":
            labels = {"kibana.k8s.elastic.co/name": name, "common.k8s.elastic.co/type": "kibana"}
            return "kibana", labels, {"https": (5601, "TCP")}
    return None


CLUSTER = {
    "activator": Endpoint(
        "activator", "knative-serving", {"app": "activator"}, {"http1": (8012, "TCP")}
    ),
    "autoscaler": Endpoint("autoscaler", "knative-serving", {"app": "autoscaler"}),
    "kourier": Endpoint(
        "kourier",
        "kourier-system",
        {"app": "3scale-kourier-gateway"},
        {"http2-internal": (8081, "TCP")},
    ),
    "prometheus": Endpoint("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
    "eck-operator": Endpoint(
        "eck-operator", "elastic-system", {"control-plane": "elastic-operator"}
    ),
    "rabbitmq-operators": Endpoint(
        "rabbitmq-operators",
        "rabbitmq-system",
        {"app.kubernetes.io/name": "messaging-topology-operator"},
    ),
    "ingress-dataplane": Endpoint(
        "ingress-dataplane", "envoy-gateway-system", {"app.kubernetes.io/name": "envoy"}
    ),
    "kube-dns": Endpoint(
        "kube-dns",
        "kube-system",
        {"k8s-app": "kube-dns"},
        {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")},
    ),
    "otel-collector": Endpoint(
        "otel-collector",
        "observability",
        {"app.kubernetes.io/name": "otel-collector"},
        {"otlp-http": (4318, "TCP")},
    ),
    "log-agent": Endpoint("log-agent", "zipbob-logging", {"app.kubernetes.io/name": "log-agent"}),
    "tenant": Endpoint("tenant", "shop-analytics", {"app": "crawler"}),
    "outside": Endpoint("outside", None, ip="203.0.113.10"),
    "s3": Endpoint("s3", None, ip="52.219.170.1", ports={"https": (443, "TCP")}),
    "kubernetes-api": Endpoint(
        "kubernetes-api", None, ip="172.20.0.1", ports={"https": (443, "TCP")}
    ),
}

# (source, destination, port[/udp]) - names are pods of the environment or of CLUSTER.
REQUIRED = [
    ("outside", "gateway", 8080),
    ("ingress-dataplane", "gateway", 8080),
    ("gateway", "catalog", 8081),
    ("gateway", "review", 8082),
    ("gateway", "mariadb", 3306),
    ("gateway", "redis", 6379),
    ("catalog", "mariadb", 3306),
    ("catalog", "rabbitmq", 5672),
    ("catalog", "gateway", 8080),
    ("review", "catalog", 8081),
    ("review", "mongodb", 27017),
    ("review", "redis", 6379),
    ("review", "gateway", 8080),
    ("gateway-migrate", "mariadb", 3306),
    ("catalog-migrate", "mariadb", 3306),
    ("mariadb-replica", "mariadb", 3306),
    ("mongodb", "mongodb", 27017),
    ("mongodb-replica-set-init", "mongodb", 27017),
    ("rabbitmq", "rabbitmq", 25672),
    ("rabbitmq", "rabbitmq", 4369),
    ("rabbitmq", "kubernetes-api", 443),
    ("rabbitmq-operators", "rabbitmq", 15672),
    ("source-adapter", "rabbitmq", 5672),
    ("source-adapter", "broker-ingress", 8080),
    ("broker-ingress", "rabbitmq", 5672),
    ("resizer-image-uploaded-dispatcher", "rabbitmq", 5672),
    ("resizer-image-uploaded-dispatcher", "resizer", 8012),
    ("resizer-image-uploaded-dispatcher", "activator", 8012),
    ("resizer-image-uploaded-dispatcher", "kourier", 8081),
    ("resizer-image-uploaded-dispatcher", "broker-ingress", 8080),
    ("resizer-image-uploaded-dispatcher", "dead-letters", 8012),
    ("catalog-image-resized-dispatcher", "catalog", 8081),
    ("catalog-image-failed-dispatcher", "catalog", 8081),
    ("review-product-deleted-dispatcher", "review", 8082),
    ("review", "broker-ingress", 8080),  # summary.changed through a SinkBinding
    ("gateway", "web", 8085),  # the console the gateway serves at /
    ("web", "gateway", 8080),  # ...which calls only the public API
    ("prometheus", "web", 8085),
    ("prometheus", "gateway", 9090),  # the gateway's management port
    ("activator", "resizer", 8012),
    ("kourier", "resizer", 8012),
    ("activator", "dead-letters", 8012),
    ("autoscaler", "resizer", 9090),
    ("prometheus", "gateway", 8080),
    ("prometheus", "catalog", 8081),
    ("prometheus", "review", 8082),
    ("prometheus", "resizer", 8083),
    ("prometheus", "rabbitmq", 15692),
    ("prometheus", "broker-ingress", 9090),
    ("elasticsearch", "elasticsearch", 9300),
    ("kibana", "elasticsearch", 9200),
    ("eck-operator", "elasticsearch", 9200),
    ("elasticsearch-index-setup", "elasticsearch", 9200),
    ("log-agent", "elasticsearch", 9200),
    ("log-agent", "kubernetes-api", 443),
    ("gateway", "kube-dns", "53/udp"),
    ("resizer-image-uploaded-dispatcher", "kube-dns", "53/udp"),
    ("log-agent", "kube-dns", "53/udp"),
]
REQUIRED_BY_ENV = {
    "dev": [
        ("catalog", "minio", 9000),
        ("resizer", "minio", 9000),
        ("minio-buckets", "minio", 9000),
        ("ingress-dataplane", "minio", 9000),
    ],
    "prod": [
        ("catalog", "s3", 443),
        ("resizer", "s3", 443),
        ("gateway", "otel-collector", 4318),
        ("catalog", "otel-collector", 4318),
        ("review", "otel-collector", 4318),
    ],
}
INTERNAL_EVENT_PORTS = [("resizer", 8012), ("dead-letters", 8012)]
DATABASES = [("mariadb", 3306), ("mongodb", 27017), ("redis", 6379), ("rabbitmq", 5672)]
FORBIDDEN = (
    # outside (and other tenants) -> anything but the gateway
    [
        (src, dst, port)
        for src in ("outside", "tenant")
        for dst, port in [
            ("catalog", 8081),
            ("review", 8082),
            ("resizer", 8012),
            ("resizer", 8083),
            ("dead-letters", 8012),
            *DATABASES,
            ("rabbitmq", 15672),
            ("minio", 9000),
            ("elasticsearch", 9200),
            ("kibana", 5601),
            ("web", 8085),
            ("gateway", 9090),
            ("broker-ingress", 8080),
        ]
    ]
    # the gateway -> the databases it does not own, the broker, the object store, the resizer
    + [
        ("gateway", dst, port)
        for dst, port in [
            ("mongodb", 27017),
            ("rabbitmq", 5672),
            ("minio", 9000),
            ("s3", 443),
            ("resizer", 8012),
            ("resizer", 8083),
            ("elasticsearch", 9200),
        ]
    ]
    # anything but eventing -> the internal event endpoints
    + [
        (src, dst, port)
        for src in ("gateway", "catalog", "review", "tenant", "mongodb", "log-agent")
        for dst, port in INTERNAL_EVENT_PORTS
    ]
    + [("catalog", "broker-ingress", 8080), ("gateway", "broker-ingress", 8080)]
    # services stay off each other's data
    + [
        ("review", "mariadb", 3306),
        ("catalog", "mongodb", 27017),
        ("resizer", "mariadb", 3306),
        ("resizer", "mongodb", 27017),
        ("catalog", "redis", 6379),
        ("log-agent", "catalog", 8081),
        ("prometheus", "mariadb", 3306),
        ("gateway-migrate", "rabbitmq", 5672),
        # review and the resizer get events from Triggers and answer by reply
        ("review", "rabbitmq", 5672),
        ("resizer", "rabbitmq", 5672),
        ("kibana", "catalog", 8081),
        ("gateway", "outside", 443),
        # signed events need no issuer JWKS: the services never reach the API server
        ("catalog", "kubernetes-api", 443),
        ("review", "kubernetes-api", 443),
        ("resizer", "kubernetes-api", 443),
    ]
)


def parse_port(port: int | str) -> tuple[int, str]:
    if isinstance(port, int):
        return port, "TCP"
    number, proto = port.split("/")
    return int(number), proto.upper()


@pytest.fixture(scope="module")
def environments() -> dict[str, tuple[list[dict], dict[str, Endpoint], dict]]:
    agent = render(REPO_ROOT / "k8s" / "log-agent")
    result = {}
    for env, namespace in NAMESPACES.items():
        objects = render(REPO_ROOT / "k8s" / "overlays" / env)
        policies = [o for o in objects + agent if o["kind"] == "NetworkPolicy"]
        for policy in policies:
            policy["metadata"].setdefault("namespace", namespace)
        namespaces = {
            o["metadata"]["name"]: {
                "kubernetes.io/metadata.name": o["metadata"]["name"],
                **o["metadata"].get("labels", {}),
            }
            for o in objects + agent
            if o["kind"] == "Namespace"
        }
        pods = {**CLUSTER, **pod_endpoints(objects, namespace)}
        pods["log-agent"] = next(
            Endpoint(
                o["metadata"]["name"], "zipbob-logging", o["spec"]["template"]["metadata"]["labels"]
            )
            for o in agent
            if o["kind"] == "DaemonSet"
        )
        result[env] = (policies, pods, namespaces)
    return result


def evaluate(env, flows, environments) -> list[tuple[str, str, int | str, bool | None]]:
    policies, pods, namespaces = environments[env]
    results = []
    for src, dst, port in flows:
        if src not in pods or dst not in pods:
            results.append((src, dst, port, None))
            continue
        number, proto = parse_port(port)
        ok = connection_allowed(policies, pods[src], pods[dst], number, proto, namespaces)
        results.append((src, dst, port, ok))
    return results


@pytest.mark.parametrize("env", list(NAMESPACES))
def test_flow_matrix(env, environments, request):
    required = evaluate(env, REQUIRED + REQUIRED_BY_ENV[env], environments)
    forbidden = evaluate(env, FORBIDDEN, environments)
    missing_pods = [f"{s} -> {d}" for s, d, _, ok in required if ok is None]
    denied = [f"{s} -> {d}:{p}" for s, d, p, ok in required if ok is False]
    admitted_ = [f"{s} -> {d}:{p}" for s, d, p, ok in forbidden if ok]
    applicable = [f for f in forbidden if f[3] is not None]
    line = (
        f"flow matrix {env}: required admitted {sum(1 for f in required if f[3])}/{len(required)}, "
        f"forbidden denied {sum(1 for f in applicable if not f[3])}/{len(applicable)}"
    )
    request.config.__dict__.setdefault("zipbob_deploy_report", []).append(line)
    assert not missing_pods, f"required flows name pods {env} does not have: {missing_pods}"
    assert not denied and not admitted_, (
        f"{line}\nrequired but denied: {denied}\nforbidden but admitted: {admitted_}"
    )


def test_every_namespace_pod_is_isolated_both_ways(environments):
    """Default deny in both directions covers every pod of the namespace, operators' too."""
    for env, (policies, pods, _) in environments.items():
        for pod in pods.values():
            if pod.namespace != NAMESPACES[env]:
                continue
            for direction in ("Ingress", "Egress"):
                assert any(
                    p["metadata"]["namespace"] == pod.namespace
                    and direction in policy_types(p)
                    and selector_matches(p["spec"]["podSelector"], pod.labels)
                    for p in policies
                ), f"{env}: {pod.name} is not isolated for {direction}"
