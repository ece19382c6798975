"""The telemetry vocabulary refuses what could be personal data: a value that does not look like its field is
dropped, a purpose loses its keys and tokens, an unknown field is a programming error; the log scrubber masks
addresses, identity numbers and phone numbers however they are written."""

from __future__ import annotations

import logging

import pytest

from functions.adapters.telemetry import mask_app_records, scrub
from functions.core import telemetry
from functions.core.settings import SettingsError, get_settings
from functions.telemetry_setup import configure_from_environment, telemetry_mode
from tests.identity_numbers import identity_number


def test_values_that_do_not_look_like_their_field_are_dropped() -> None:
    kept = telemetry.clean(
        {
            "ssu.case_reference": "kari.nordmann@forsikring.no",
            "ssu.case_kind": "Kari Nordmann",
            "ssu.process": "Kari",
            "ssu.message_id": "<CAF123@mail.gmail.com>",
            "ssu.purpose": "answer for Kari Nordmann",
            "ssu.outcome": "new_case",
            "ssu.level": "2",
        }
    )
    assert kept == {"ssu.outcome": "new_case", "ssu.level": "2"}


def test_a_reference_made_of_a_name_is_dropped() -> None:
    assert telemetry.clean({"ssu.case_reference": "SSU-Kari-Nordmann"}) == {}


def test_our_references_are_kept() -> None:
    for reference in ("SSU-D-2026-0001", "SSU-REG-923456789", "SSU-HELD-3f2a9c0d1e2b3a4c"):
        assert telemetry.clean({"ssu.case_reference": reference}) == {"ssu.case_reference": reference}


def test_an_unknown_field_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="not a telemetry field"):
        telemetry.clean({"ssu.submitter_email": "kari@forsikring.no"})
    with pytest.raises(ValueError, match="not a metric"):
        telemetry.count("ssu.names_seen")


@pytest.mark.parametrize(
    ("purpose", "family"),
    [
        ("acknowledgement", "acknowledgement"),
        ("answer-3f2a9c0d1e2b", "answer"),
        ("escalation-2", "escalation"),
        ("terms-reminder-923456789", "terms"),
        ("conflict-abcdefabcdefabcd", "other"),  # no glossary word: never its key
        ("kari@forsikring.no", "other"),
    ],
)
def test_a_purpose_is_told_by_its_family_only(purpose: str, family: str) -> None:
    assert telemetry.purpose_family(purpose) == family


def test_case_fields_come_from_the_reference_when_only_it_is_known() -> None:
    assert telemetry.case_fields(reference="SSU-C-2026-0042") == {
        "ssu.case_reference": "SSU-C-2026-0042",
        "ssu.process": "C",
    }


def test_the_scrubber_masks_addresses_identity_numbers_and_phone_numbers() -> None:
    number = identity_number(24, 12, 1985)
    spaced = f"{number[:6]}\u00a0{number[6:]}"  # a no-break space, as Outlook writes it
    text = f"Kari.Nordmann+ssu@Forsikring.NO ringte fra +47\u00a0912 34 567 om {spaced} og {number}."
    masked = scrub(text)
    assert "Nordmann" not in masked and "912" not in masked and number not in masked and number[:6] not in masked
    assert masked.startswith("[adresse] ringte fra [telefon] om ")


def test_telemetry_is_off_locally_unless_asked_for() -> None:
    connection = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}
    assert telemetry_mode({}) == "off"
    assert telemetry_mode({"SSU_TELEMETRY": "console"}) == "console"
    assert telemetry_mode(connection) == "azure"
    assert telemetry_mode({**connection, "SSU_TELEMETRY": "off"}) == "off"


def test_a_malformed_telemetry_setting_is_reported_by_the_settings_not_by_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Importing function_app never fails for telemetry's sake; the malformed value is named when the settings load,
    as any other setting's is."""
    monkeypatch.setenv("SSU_TELEMETRY", "loud")
    get_settings.cache_clear()
    try:
        assert configure_from_environment() == "off"
        with pytest.raises(SettingsError, match="SSU_TELEMETRY"):
            get_settings()
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("phone", ["912 34 567", "91 23 45 67", "91234567", "22\u00a012 34 56", "0047 912 34 567"])
def test_the_scrubber_masks_norwegian_phone_numbers_written_without_plus_47(phone: str) -> None:
    masked = scrub(f"could not reach the reporter ({phone}) about it")
    assert masked == "could not reach the reporter ([telefon]) about it", masked


@pytest.mark.parametrize(
    "text",
    [
        "SSU-REG-912345678 opened",  # an organisation number (nine digits) in a reference
        "outbox: sent=12 reconciled=0 retried=3",
        "intake: 3f2a91234567bc0d opened SSU-D-2026-0001",  # a key
    ],
)
def test_the_scrubber_leaves_our_references_keys_and_counts(text: str) -> None:
    assert scrub(text) == text


def test_the_apps_records_are_masked_for_every_handler_the_workers_too() -> None:
    """The Functions worker forwards root-logger records to the host, past the OpenTelemetry processors: with
    telemetry on, the app's records are masked where they are made, whatever handler formats them."""
    seen: list[str] = []

    class Worker(logging.Handler):  # what the worker does: format the record, send the text on
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    handler, factory = Worker(), logging.getLogRecordFactory()
    logging.getLogger().addHandler(handler)
    try:
        mask_app_records()
        mask_app_records()  # installed once
        try:
            raise ValueError("recipient kari.nordmann@forsikring.no not found; call 912 34 567")
        except ValueError:
            logging.getLogger("functions.core.outbox").exception("outbox: refused: %s", "kari@forsikring.no")
        logging.getLogger("someone.else").warning("left alone: %s", "ola@x.example")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.setLogRecordFactory(factory)
    ours, theirs = seen
    assert "kari" not in ours and "912 34 567" not in ours, ours
    assert ours.startswith("outbox: refused: [adresse]") and "ValueError: recipient [adresse] not found" in ours
    assert theirs == "left alone: ola@x.example"
