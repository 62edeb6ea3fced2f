"""Breaking changes between two OpenAPI documents (the baseline and the current snapshot).

    .venv/bin/python scripts/openapi_breaking.py [OLD NEW]

OLD defaults to docs/openapi.previous.json (the accepted baseline), NEW to docs/openapi.json.

Breaking for a client: a removed path or operation, a removed success response, a new
required parameter or body field, a tightened request type or constraint (fewer types or
enum values, a lower maximum, a new pattern ...), and in responses a removed field, a field
no longer required, or a widened type or enum (a client meets values it never handled).
Exit 1 and list them when there are any. Make them deliberate: change the API, then run
`scripts/openapi_snapshot.py --accept` so the baseline moves in the same commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
# (keyword, the new value is tighter when ...)
LOWER_IS_TIGHTER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
HIGHER_IS_TIGHTER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")


class Schemas:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: Any, depth: int = 0) -> Any:
        while isinstance(schema, dict) and "$ref" in schema and depth < 50:
            node: Any = self.document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**node, **rest}
            depth += 1
        return schema if isinstance(schema, dict) else {}


def _types(schema: dict[str, Any], schemas: Schemas) -> set[str]:
    found: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        found.add(declared)
    elif isinstance(declared, list):
        found.update(declared)
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            found |= _types(schemas.resolve(option), schemas)
    if "integer" in found and "number" in found:
        found.discard("integer")
    return found


def _single(schema: dict[str, Any], schemas: Schemas) -> dict[str, Any]:
    """The non-null branch of an `X | null` anyOf (what FastAPI writes for optionals)."""
    options = [schemas.resolve(o) for o in schema.get("anyOf", [])]
    real = [o for o in options if o.get("type") != "null"]
    return real[0] if len(real) == 1 else schema


class Comparison:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = Schemas(old), Schemas(new)
        self.found: list[str] = []

    def schema(self, old: Any, new: Any, where: str, *, request: bool, depth: int = 0) -> None:
        if depth > 12:
            return
        old, new = self.old.resolve(old), self.new.resolve(new)
        if not old or not new:
            return
        old_types, new_types = _types(old, self.old), _types(new, self.new)
        if request and old_types and new_types and old_types - new_types - {"null"}:
            self.found.append(f"{where}: accepts no more {sorted(old_types - new_types)}")
        if not request and old_types and new_types - old_types:
            self.found.append(f"{where}: may now be {sorted(new_types - old_types)}")
        if request and "null" in old_types and "null" not in new_types:
            self.found.append(f"{where}: accepts null no more")
        self._enum(old, new, where, request=request)
        if request:
            self._constraints(old, new, where)
        old, new = _single(old, self.old), _single(new, self.new)
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
        if request:
            for name in sorted(new_req - old_req):
                self.found.append(f"{where}: new required field {name!r}")
            if new.get("additionalProperties") is False:
                for name in sorted(set(old_props) - set(new_props)):
                    self.found.append(f"{where}: field {name!r} is refused now")
        else:
            for name in sorted(set(old_props) - set(new_props)):
                self.found.append(f"{where}: field {name!r} removed")
            for name in sorted((old_req - new_req) & set(new_props)):
                self.found.append(f"{where}: field {name!r} is not always there any more")
        for name in sorted(set(old_props) & set(new_props)):
            self.schema(
                old_props[name], new_props[name], f"{where}.{name}", request=request,
                depth=depth + 1,
            )  # fmt: skip
        if "items" in old and "items" in new:
            self.schema(old["items"], new["items"], f"{where}[]", request=request, depth=depth + 1)

    def _enum(self, old: dict[str, Any], new: dict[str, Any], where: str, *, request: bool) -> None:
        old_enum, new_enum = old.get("enum"), new.get("enum")
        if request and new_enum is not None:
            lost = [v for v in (old_enum or []) if v not in new_enum]
            if old_enum is None or lost:
                self.found.append(f"{where}: accepts no more {lost or 'values outside an enum'}")
        if not request and old_enum is not None:
            gained = [v for v in (new_enum or []) if v not in old_enum]
            if new_enum is None or gained:
                self.found.append(f"{where}: may now be {gained or 'any value'}")

    def _constraints(self, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
        for key in LOWER_IS_TIGHTER + HIGHER_IS_TIGHTER:
            if key not in new:
                continue
            before, after = old.get(key), new[key]
            tighter = before is None or (
                after < before if key in LOWER_IS_TIGHTER else after > before
            )
            if tighter:
                self.found.append(f"{where}: {key} {before} -> {after}")
        if new.get("pattern") and new.get("pattern") != old.get("pattern"):
            self.found.append(f"{where}: pattern {new['pattern']!r} is new")

    def operation(self, old: dict[str, Any], new: dict[str, Any], name: str) -> None:
        def params(op: dict[str, Any], schemas: Schemas) -> dict[tuple[str, str], Any]:
            return {
                (p["in"], p["name"]): p
                for p in (schemas.resolve(p) for p in op.get("parameters", []))
            }

        old_params, new_params = params(old, self.old), params(new, self.new)
        for key, param in new_params.items():
            where = f"{name} {key[0]} parameter {key[1]!r}"
            if param.get("required") and not old_params.get(key, {}).get("required"):
                self.found.append(f"{where}: required now")
            if key in old_params:
                self.schema(old_params[key].get("schema"), param.get("schema"), where, request=True)
        old_body = self.old.resolve(old.get("requestBody", {})).get("content", {})
        new_body = self.new.resolve(new.get("requestBody", {})).get("content", {})
        for media, content in old_body.items():
            if media not in new_body:
                self.found.append(f"{name}: request body {media} no longer accepted")
            else:
                where = f"{name} body ({media})"
                self.schema(
                    content.get("schema"), new_body[media].get("schema"), where, request=True
                )
        old_responses, new_responses = old.get("responses", {}), new.get("responses", {})
        for status, response in old_responses.items():
            if status not in new_responses:
                if status.startswith("2"):
                    self.found.append(f"{name}: response {status} removed")
                continue
            old_content = self.old.resolve(response).get("content", {})
            new_content = self.new.resolve(new_responses[status]).get("content", {})
            for media, content in old_content.items():
                if media not in new_content:
                    self.found.append(f"{name} {status}: {media} no longer sent")
                    continue
                self.schema(
                    content.get("schema"), new_content[media].get("schema"),
                    f"{name} {status} ({media})", request=False,
                )  # fmt: skip


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    comparison = Comparison(old, new)
    for path, item in old.get("paths", {}).items():
        if path not in new.get("paths", {}):
            comparison.found.append(f"path {path} removed")
            continue
        for method in METHODS:
            if method not in item:
                continue
            name = f"{method.upper()} {path}"
            if method not in new["paths"][path]:
                comparison.found.append(f"operation {name} removed")
                continue
            comparison.operation(item[method], new["paths"][path][method], name)
    return comparison.found


def main(argv: list[str]) -> int:
    old_path = Path(argv[0]) if argv else REPO / "docs" / "openapi.previous.json"
    new_path = Path(argv[1]) if len(argv) > 1 else REPO / "docs" / "openapi.json"
    found = breaking_changes(json.loads(old_path.read_text()), json.loads(new_path.read_text()))
    for line in found:
        print(line)
    print(f"{len(found)} breaking change(s) from {old_path.name} to {new_path.name}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
