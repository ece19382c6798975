"""Telemetry as configured in Azure (Azure Monitor's distro), read through in-memory exporters: spans of intake,
decisions, timers and their Table Storage and Graph dependencies carry the case reference, logs carry it too, the
alerts' metrics are counted, and nothing a person wrote or is (name, address, phone, identity number, text)
reaches an exporter."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from functions.devhost.azurite import PROJECT_ROOT, Azurite
from tests.conftest import unique_prefix
from tests.integration.telemetry_probe import ANSWER_TEXT, IDENTITY_NUMBER

# The submitter of tests/fixtures/mail/outlook_nb_question.eml, what she wrote, and what the probe's answer and
# failure hold.
PERSONAL = [
    "Frida",
    "Fagerli",
    "fag@demo-forsikring.example",
    "ola@bits.example",
    "Ola Bitsen",
    "912 34 567",
    IDENTITY_NUMBER,
    "uføregrad 50",
    "IFU",
    "Spørsmål om",
    ANSWER_TEXT[:30],
]


@pytest.fixture(scope="module")
def exported(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("telemetry") / "exported.json"
    env = {
        **os.environ,
        "SSU_TELEMETRY": "azure",
        # The distro's own exporter sends to a closed loopback port: it fails quietly, as it would offline.
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"
        ),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        # Every trace: the distro's default keeps at most five a second, and the probe makes many in a second.
        "OTEL_TRACES_SAMPLER": "always_on",
    }
    probe = [sys.executable, "-m", "tests.integration.telemetry_probe", azurite.connection_string, unique_prefix()]
    done = subprocess.run([*probe, str(out)], cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def spans_named(exported: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in exported["spans"] if s["name"] == name]


def below(exported: dict[str, Any], parent: dict[str, Any]) -> list[dict[str, Any]]:
    """Every span beneath `parent`, at any depth."""
    children = {parent["span_id"]}
    found: list[dict[str, Any]] = []
    grew = True
    while grew:
        grew = False
        for span in exported["spans"]:
            if span["parent_id"] in children and span["span_id"] not in children:
                children.add(span["span_id"])
                found.append(span)
                grew = True
    return found


def test_an_email_is_one_intake_span_naming_its_case_process_and_message(exported: dict[str, Any]) -> None:
    [intake] = spans_named(exported, "intake email")
    attributes = intake["attributes"]
    assert attributes["ssu.case_reference"] == exported["reference"]
    assert attributes["ssu.process"] == "D" and attributes["ssu.outcome"] == "new_case"
    assert re.fullmatch(r"[0-9a-f]{32}", attributes["ssu.message_id"]), "the Message-ID's hash, never the header"


def test_table_storage_and_graph_calls_are_dependencies_carrying_the_case(exported: dict[str, Any]) -> None:
    [intake] = spans_named(exported, "intake email")
    dependencies = [s for s in below(exported, intake) if s["kind"] == "CLIENT"]
    storage = [s for s in dependencies if "/devstoreaccount1/" in s["attributes"].get("url.full", "")]
    assert storage, "the case's Table Storage and queue calls are dependencies beneath the intake"
    assert all(s["attributes"]["ssu.message_id"] == intake["attributes"]["ssu.message_id"] for s in storage)
    # From the write that opens the case on, the store's calls name it (the reads before it cannot).
    [opening] = [s for s in storage if s["attributes"]["url.full"].endswith("/$batch")]
    assert opening["attributes"]["ssu.case_reference"] == exported["reference"]
    graph = [s for s in exported["spans"] if s["kind"] == "CLIENT" and s["scope"].endswith("httpx")]
    assert graph, "Graph calls (msgraph-sdk over httpx) are dependencies"
    [decision] = spans_named(exported, "decision")[:1]
    assert all(s["attributes"].get("ssu.case_reference") == exported["reference"] for s in below(exported, decision))


def test_a_decision_span_names_case_and_command(exported: dict[str, Any]) -> None:
    [decision] = [s for s in spans_named(exported, "decision") if s["attributes"].get("ssu.command")]
    assert decision["attributes"] == {
        "ssu.case_reference": exported["reference"],
        "ssu.process": "D",
        "ssu.case_kind": "question",
        "ssu.outcome": "decided",
        "ssu.command": "answer",
    }


def test_log_records_carry_the_fields_of_their_operation(exported: dict[str, Any]) -> None:
    [warning] = [r for r in exported["logs"] if str(r["body"]).startswith("probe: a warning")]
    assert warning["attributes"]["ssu.case_reference"] == exported["reference"]
    assert warning["attributes"]["ssu.timer"] == "deadlines_check"
    assert warning["body"] == "probe: a warning about [adresse]"


def test_a_failing_timer_is_counted_and_its_span_keeps_only_the_exception_type(exported: dict[str, Any]) -> None:
    [run] = [s for s in spans_named(exported, "timer run") if s["attributes"].get("ssu.timer") == "deadlines_check"]
    assert run["attributes"]["ssu.outcome"] == "failed" and run["status"] == "RuntimeError"
    assert [e["attributes"] for e in run["events"]] == [{"exception.type": "RuntimeError"}]
    [failed_log] = [r for r in exported["logs"] if r["body"] == "probe: the timer failed"]
    stack = failed_log["attributes"]["exception.message"]
    assert "[adresse]" in stack and "[telefon]" in stack and "[fødselsnummer fjernet]" in stack


def metric(exported: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in exported["metrics"] if p["name"] == name]


def test_the_alerts_metrics_are_counted_with_their_fields(exported: dict[str, Any]) -> None:
    [intake] = metric(exported, "ssu.intake.outcome")
    assert intake["attributes"] == {"ssu.channel": "email", "ssu.outcome": "new_case"} and intake["value"] == 1
    queued = {p["attributes"]["ssu.purpose"]: p["value"] for p in metric(exported, "ssu.mail.queued")}
    assert queued["acknowledgement"] == 1 and queued["answer"] == 1, queued
    assert all(p["attributes"]["ssu.process"] == "D" for p in metric(exported, "ssu.mail.queued"))
    assert sum(p["value"] for p in metric(exported, "ssu.mail.sent")) == sum(queued.values())
    [decided] = metric(exported, "ssu.decisions")
    assert decided["attributes"] == {"ssu.process": "D", "ssu.command": "answer"}
    runs = {p["attributes"]["ssu.outcome"]: p["value"] for p in metric(exported, "ssu.timer.runs")}
    assert runs == {"failed": 1}
    assert metric(exported, "ssu.health.outbox_oldest_due_minutes"), "each health check records the outbox's age"


def test_nothing_a_person_wrote_or_is_reaches_an_exporter(exported: dict[str, Any]) -> None:
    everything = json.dumps({k: exported[k] for k in ("spans", "logs", "metrics")}, ensure_ascii=False)
    assert everything.count(exported["reference"]) > 10, "the probe ran and was exported"
    leaked = [text for text in PERSONAL if text.casefold() in everything.casefold()]
    assert leaked == []
    assert not re.search(r"[\w.+-]+@(?!bits\.example/)[\w-]+\.[\w.-]+", everything.replace("ssu@bits.example", ""))
