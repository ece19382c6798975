"""The daily cap per recipient protects outside addresses from us, never us from ourselves: a flood of anonymous
breach reports that uses up the cap of Bits' security contact (and, through MOTTATT, NAV's) does not make the next
real breach's HASTER wait until tomorrow; the flood's outside address stays capped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.devhost.azurite import Azurite
from functions.incidents.security import SECURITY_BREACH_FORM
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import case_json, dispatch, mails_to, outbox_mails, reply

CAP = 2
BITS_SECURITY = "sikkerhet@bits.example"
NAV_SECURITY = "sikkerhet@nav.example"
BREACH: dict[str, Any] = dict(SECURITY_BREACH_FORM.example or {})


@pytest.fixture
def capped(azurite: Azurite, tmp_path: Path) -> Iterator[DevHostProcess]:
    host = start_devhost(
        tmp_path,
        {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string, "SSU_DAILY_CAP_PER_RECIPIENT": str(CAP)},
    )
    load_demo_registry(host.env)
    yield host
    host.stop()


def breach(host: DevHostProcess, email: str) -> str:
    response = httpx.post(f"{host.url}/api/incidents/security", json={**BREACH, "email": email, "name": "Flom"})
    assert response.status_code == 201, response.text
    return str(response.json()["reference"])


def sent_to(host: DevHostProcess, references: list[str], address: str) -> int:
    return sum(1 for r in references for m in outbox_mails(host, r) if str(m["To"]) == address)


def test_a_flood_over_the_cap_does_not_hold_bits_or_nav_but_holds_the_outside_address(capped: DevHostProcess) -> None:
    flooder = f"flom-{uuid.uuid4().hex[:8]}@annen-leverandor.example"
    flood = [breach(capped, flooder) for _ in range(CAP + 10)]
    dispatch(capped)
    assert sent_to(capped, flood, BITS_SECURITY) == CAP + 10, "every HASTER reached Bits' security contact"
    assert sent_to(capped, flood, flooder) == CAP, "the outside address is still capped"
    held = [m for r in flood for m in case_json(capped, r)["mails"] if m["to"] == flooder and m["status"] == "pending"]
    assert len(held) == 10 and all("daily cap" in (m["last_error"] or "") for m in held)

    # Bits acknowledges some of them: NAV gets more than the cap in a day too.
    for reference in flood[: CAP + 1]:
        [alert] = mails_to(capped, reference, BITS_SECURITY, "HASTER")
        reply(capped, alert, "MOTTATT", sender=f"Bits sikkerhet <{BITS_SECURITY}>")
    dispatch(capped)
    assert sent_to(capped, flood, NAV_SECURITY) == CAP + 1

    # The real breach after all that: its HASTER goes today.
    real = breach(capped, "sikkerhet@demo-forsikring.example")
    assert len(mails_to(capped, real, BITS_SECURITY, "HASTER")) == 1
