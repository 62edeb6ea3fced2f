"""The route table: path patterns -> upstream, methods, auth, timeout.

``*`` matches one path segment and ``**`` any number of trailing segments (zero included).
The most specific pattern wins: more literal segments first, then single-segment wildcards
before ``**``. The matched *pattern* labels metrics, never the raw path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..settings import RouteSettings

RECENT_PATHS = 4096


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    template: str
    upstream: str
    methods: frozenset[str]
    anonymous_methods: frozenset[str]
    timeout_seconds: float
    allow_header: str
    body_methods: frozenset[str] = frozenset({"POST", "PUT", "PATCH", "OPTIONS"})


def _compile(pattern: str) -> tuple[re.Pattern[str], tuple[int, int, int]]:
    segments = [s for s in pattern.strip("/").split("/") if s]
    parts: list[str] = []
    literals = singles = 0
    tail = ""
    for index, segment in enumerate(segments):
        if segment == "**":
            if index != len(segments) - 1:
                raise ValueError(f"'**' must be the last segment in {pattern!r}")
            tail = "(?:/.*)?"
        elif segment == "*":
            singles += 1
            parts.append("/[^/]+")
        else:
            literals += 1
            parts.append("/" + re.escape(segment))
    regex = re.compile("^" + ("".join(parts) or ("" if tail else "/")) + tail + "$")  # "/" too
    return regex, (literals, 0 if tail else 1, -singles)


class RouteTable:
    def __init__(self, routes: list[RouteSettings], *, denied_prefixes: list[str]) -> None:
        compiled: list[tuple[tuple[int, int, int], re.Pattern[str], Route]] = []
        for config in routes:
            methods = frozenset(config.methods)
            for pattern in config.paths:
                regex, rank = _compile(pattern)
                route = Route(
                    id=config.id,
                    template=pattern,
                    upstream=config.upstream,
                    methods=methods,
                    anonymous_methods=frozenset(config.anonymous_methods) & methods,
                    timeout_seconds=config.timeout_seconds,
                    allow_header=", ".join(sorted(methods)),
                    body_methods=frozenset(config.body_methods),
                )
                compiled.append((rank, regex, route))
        compiled.sort(key=lambda item: item[0], reverse=True)
        self._entries = [(regex, route) for _, regex, route in compiled]
        self._denied = tuple(p.rstrip("/") for p in denied_prefixes)
        self._recent: dict[str, Route | None] = {}

    def match(self, path: str) -> Route | None:
        try:
            return self._recent[path]
        except KeyError:
            pass
        route = self._match(path)
        if len(self._recent) >= RECENT_PATHS:
            self._recent.clear()  # bounded: paths carry ids, so they are unbounded in number
        self._recent[path] = route
        return route

    def _match(self, path: str) -> Route | None:
        if not self.routable(path):
            return None
        for regex, route in self._entries:
            if regex.match(path):
                return route
        return None

    def routable(self, path: str) -> bool:
        if "/." in path or "\\" in path or "\x00" in path:
            segments = path.split("/")
            if "." in segments or ".." in segments or "\\" in path or "\x00" in path:
                return False
        return not any(path == p or path.startswith(p + "/") for p in self._denied)
