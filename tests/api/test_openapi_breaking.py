"""Breaking changes in the public API are deliberate: the committed snapshot may only break
the baseline (docs/openapi.previous.json) when the baseline moved in the same change."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "openapi_breaking", REPO / "scripts/openapi_breaking.py"
)
assert _spec and _spec.loader
breaking = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(breaking)


def _doc() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {
            "/things/{id}": {
                "get": {
                    "parameters": [
                        {
                            "in": "path",
                            "name": "id",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {"in": "query", "name": "sort", "schema": {"enum": ["a", "b"]}},
                    ],
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Thing"}
                                }
                            }
                        }
                    },
                },
                "patch": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string", "maxLength": 100}},
                                }
                            }
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                },
            }
        },
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                }
            }
        },
    }


def test_the_same_document_breaks_nothing() -> None:
    assert breaking.breaking_changes(_doc(), _doc()) == []


def test_additions_break_nothing() -> None:
    new = _doc()
    new["components"]["schemas"]["Thing"]["properties"]["rating"] = {"type": "number"}
    new["paths"]["/things/{id}"]["get"]["parameters"][1]["schema"]["enum"].append("c")
    new["paths"]["/more"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    assert breaking.breaking_changes(_doc(), new) == []


def test_removals_and_tightening_are_reported() -> None:
    new = copy.deepcopy(_doc())
    thing = new["components"]["schemas"]["Thing"]
    del thing["properties"]["name"]
    thing["required"] = ["id"]
    item = new["paths"]["/things/{id}"]
    item["get"]["parameters"][1]["schema"]["enum"] = ["a"]
    item["get"]["parameters"].append(
        {"in": "query", "name": "must", "required": True, "schema": {"type": "string"}}
    )
    body = item["patch"]["requestBody"]["content"]["application/json"]["schema"]
    body["properties"]["name"]["maxLength"] = 10
    body["required"] = ["name"]
    found = breaking.breaking_changes(_doc(), new)
    assert "GET /things/{id} 200 (application/json): field 'name' removed" in found
    assert "GET /things/{id} query parameter 'sort': accepts no more ['b']" in found
    assert "GET /things/{id} query parameter 'must': required now" in found
    assert "PATCH /things/{id} body (application/json): new required field 'name'" in found
    assert "PATCH /things/{id} body (application/json).name: maxLength 100 -> 10" in found
    del new["paths"]["/things/{id}"]["patch"]
    assert "operation PATCH /things/{id} removed" in breaking.breaking_changes(_doc(), new)


def test_a_response_type_widened_to_null_is_reported() -> None:
    new = _doc()
    new["components"]["schemas"]["Thing"]["properties"]["name"] = {"type": ["string", "null"]}
    assert breaking.breaking_changes(_doc(), new) == [
        "GET /things/{id} 200 (application/json).name: may now be ['null']"
    ]


def test_the_snapshot_breaks_nothing_the_baseline_promised() -> None:
    previous = json.loads((REPO / "docs/openapi.previous.json").read_text())
    current = json.loads((REPO / "docs/openapi.json").read_text())
    found = breaking.breaking_changes(previous, current)
    assert found == [], (
        "docs/openapi.json breaks clients of docs/openapi.previous.json:\n  "
        + "\n  ".join(found)
        + "\nIf that is deliberate, accept it in the same commit: "
        "`.venv/bin/python scripts/openapi_snapshot.py --accept`."
    )


def test_the_snapshot_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate

    document = json.loads((REPO / "docs/openapi.json").read_text())
    assert document["openapi"].startswith("3.1")
    validate(document)
