"""What telemetry would send, read from a whole run of the dev host with SSU_TELEMETRY=console: a question from a
registered contact's browser, an email question, Bits' answer by reply, the outbox. The
console exporters print every span, log record and metric the app makes; none of them may name the people, what they
wrote, or a decision token, while every operation names its case."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from functions.devhost.azurite import Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import QUESTION, as_contact, dispatch, drop, mails_to, poll, reply
from tests.identity_numbers import identity_number

PHONE = "+47 913 57 246"
NUMBER = identity_number(17, 5, 1981)


@pytest.fixture(scope="module")
def run(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevHostProcess, str]]:
    tmp = tmp_path_factory.mktemp("telemetry-console")
    host = start_devhost(tmp, {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string, "SSU_TELEMETRY": "console"})
    load_demo_registry(host.env)
    yield host, str(tmp / "devhost.log")
    host.stop()


def printed_objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects the console exporters printed (each starts with a `{` alone on its line)."""
    found, decoder = [], json.JSONDecoder()
    for match in re.finditer(r"^\{$", text, flags=re.MULTILINE):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        found.append(value)
    return found


def test_a_whole_run_sends_no_person_and_names_every_case(run: tuple[DevHostProcess, str]) -> None:
    host, log_path = run
    subject = f"Uføregrad {uuid.uuid4().hex[:6]}"
    text = f"Ring meg på {PHONE}. Gjelder kunde {NUMBER}, hilsen {QUESTION['name']}."
    reference = as_contact(host, "questions", {**QUESTION, "subject": subject, "question": text})
    drop(host, "outlook_nb_question.eml")  # Frida Fagerli <fag@demo-forsikring.example>
    poll(host)
    [notice] = mails_to(host, reference, "support@bits.example", "Nytt spørsmål")
    token = re.search(r"ssu\+(\w+)@", str(notice["Reply-To"]))
    assert token
    reply(host, notice, f"SVAR\nHei {QUESTION['name']}, bruk feltet uføregrad.")
    assert mails_to(host, reference, QUESTION["email"], "Svar"), "the answer went to the asker"
    dispatch(host)
    with open(log_path, encoding="utf-8") as printed:
        objects = printed_objects(printed.read())
    spans = [o for o in objects if "context" in o and "name" in o]
    logs = [o for o in objects if "body" in o]
    assert {"intake form", "intake email", "decision", "timer run"} <= {s["name"] for s in spans}
    forms = [s["attributes"] for s in spans if s["name"] == "intake form"]
    assert {"ssu.case_reference": reference, "ssu.outcome": "opened"}.items() <= forms[-1].items(), forms
    assert any(s["name"].startswith("Invoke ") for s in spans), "the dev host makes a span of each invocation"
    everything = json.dumps(objects, ensure_ascii=False).casefold()
    assert reference.casefold() in everything and logs
    personal = [
        QUESTION["name"],
        QUESTION["email"],
        "Frida",
        "fag@demo-forsikring.example",
        PHONE,
        "913 57 246",
        NUMBER,
        subject,
        "bruk feltet uføregrad",
        token.group(1),
    ]
    assert [p for p in personal if p.casefold() in everything] == []
