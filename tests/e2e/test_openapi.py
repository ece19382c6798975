"""The JSON API keeps its own OpenAPI document: schemathesis generates requests from it, valid and invalid, against
the dev host, and every answer must be a documented status with a body that fits the schema, never a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from functions.devhost.azurite import Azurite
from tests.conftest import load_demo_registry, start_devhost
from tests.e2e.helpers import MAINTENANCE, post, sign_in

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_openapi_document_describes_the_json_endpoints(devhost) -> None:
    document = httpx.get(f"{devhost.url}/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/alerts", "/alerts/{reference}", "/alerts/{reference}/resolve", "/questions", "/incidents"} <= set(
        document["paths"]
    )
    alert_in = document["components"]["schemas"]["AlertIn"]
    assert alert_in["additionalProperties"] is False and "source_alert_id" in alert_in["required"]
    assert set(alert_in["properties"]["kind"]["enum"]) == {"incident", "maintenance", "change"}


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(azurite: Azurite, tmp_path: Path) -> None:
    # A host of its own: the run creates many cases and alerts that must not mix with the other tests' mail.
    host = start_devhost(tmp_path, {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string})
    try:
        load_demo_registry(host.env)
        existing = post(host, MAINTENANCE).json()["id"]
        config = tmp_path / "schemathesis.toml"  # the path-parameter operations get an alert that exists
        config.write_text(f'[parameters]\n"path.reference" = "{existing}"\n')
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "--config-file",
                str(config),
                "run",
                f"{host.url}/api/openapi.json",
                "--checks",
                CHECKS,
                "--header",
                "X-Api-Key: nav-key-one",
                "--header",  # the staff endpoints are tried as a signed-in admin
                f"Cookie: {sign_in(host, 'admin@bits.example')['Cookie']}",
                "--max-examples",
                "25",
                "--seed",
                "20261129",
                "--generation-deterministic",
                "--request-timeout",
                "20",
                "--phases",
                "examples,coverage,fuzzing,stateful",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            env={**host.env, "NO_COLOR": "1"},
            cwd=tmp_path,  # its cache directory goes there, not into the project
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
        assert counts and int(counts[1]) == int(counts[2]) >= 500, result.stdout[-3000:]
        assert "28 selected / 28 total" in result.stdout
        assert httpx.get(f"{host.url}/api/alerts/{existing}", headers={"X-Api-Key": "nav-key-one"}).status_code == 200
    finally:
        host.stop()
