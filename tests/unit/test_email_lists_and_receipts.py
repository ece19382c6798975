"""Emails people understand: reply commands as a list in both parts, receipts that repeat what was sent and say when
to expect an answer."""

from __future__ import annotations

import re
from datetime import date, datetime
from html import unescape
from pathlib import Path

import pytest

from functions.catalogue import CATALOGUE
from functions.changes import workflow as changes
from functions.core.cases import AddressProof, confirm_submitter, submitted
from functions.core.glossary import long_date, long_time, word
from functions.core.mail import OutgoingMail
from functions.core.model import Channel, Process
from functions.core.rendering import TEMPLATES_DIR
from functions.core.services import Services
from functions.incidents import security
from functions.incidents.workflow import report_error
from functions.intake.workflow import poll_mailbox
from functions.onboarding import workflow as onboarding
from functions.questions.workflow import ask_question
from tests.fakes import GO_LIVE, fake_services, mailbox_of
from tests.unit.test_process_workflows import (
    ASKER,
    MAIL_FIXTURES,
    PROVEN_ASKER,
    REPORTER,
    breach,
    change_request,
    error_report,
    one_queued,
    question,
    registration,
)

EMAILS = TEMPLATES_DIR / "emails"

# Every word a reply command is made of: the commands every process declares (nb and en), SVAR/ANSWER among them.
COMMAND_WORDS = {
    w
    for process in CATALOGUE.processes
    for decision in process.decisions
    for command in decision.commands
    for said in command.words
    for w in said.split()
}
_JINJA = re.compile(r"\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}", re.S)
_SUBJECT = re.compile(r"\{% block subject %\}.*?\{% endblock %\}", re.S)
_CAPITALS = re.compile(r"(?<![\w-])[A-ZÆØÅ]{2,}(?![\w-])")


def _people_text(source: str) -> str:
    """The words of a template as its reader sees them: no subject (the HTML part has none), no template code
    (values are not commands), no HTML tags."""
    return re.sub(r"<[^>]+>", " ", _JINJA.sub(" ", _SUBJECT.sub(" ", source)))


def command_words(path: Path) -> set[str]:
    return {w for w in _CAPITALS.findall(_people_text(path.read_text(encoding="utf-8"))) if w in COMMAND_WORDS}


def _asking_templates() -> list[tuple[str, str]]:
    """Every mail that asks its reader to reply with a command, in both languages."""
    return [
        (language, path.stem)
        for language in ("nb", "en")
        for path in sorted((EMAILS / language).glob("*.txt"))
        if command_words(path) - {"IKKE", "NOT", "GITT", "ACCESS"}
    ]


ASKING = _asking_templates()
# Words that are only part of a command ("ANBEFALER IKKE", "TILGANG GITT"), not one of their own.
_PARTS = {"IKKE", "NOT", "GITT", "ACCESS"}
# More than one command is a choice.
CHOICES = [(lang, name) for lang, name in ASKING if len(command_words(EMAILS / lang / f"{name}.txt") - _PARTS) > 1]


def test_the_mails_that_ask_for_commands_are_found() -> None:
    """The notices to Bits, the committee's and approvers' mails and the receipts that allow a command are all here,
    so that the tests below cannot pass by finding nothing."""
    names = {name for _, name in ASKING}
    assert {
        "case_to_bits",
        "error_report_to_bits",
        "question_to_bits",
        "change_request_to_bits",
        "onboarding_to_bits",
        "alert_draft_to_bits",
        "security_breach_alert",
        "change_request_to_approvers",
        "change_request_to_committee",
        "change_request_to_nav",
        "security_breach_received",
    } <= names


@pytest.mark.parametrize(("language", "name"), ASKING)
def test_html_part_names_the_same_commands_as_the_text_part(language: str, name: str) -> None:
    text = command_words(EMAILS / language / f"{name}.txt")
    html = command_words(EMAILS / language / f"{name}.html")
    assert html == text, f"only in text: {sorted(text - html)}, only in HTML: {sorted(html - text)}"


def _list_items(html: str) -> list[str]:
    return re.findall(r"<(?:li|dt)\b[^>]*>(.*?)</(?:li|dt)>", html, re.S)


@pytest.mark.parametrize(("language", "name"), CHOICES)
def test_html_part_lists_the_commands_when_it_offers_a_choice(language: str, name: str) -> None:
    """More than one command is a choice: the HTML part shows it as a list, each command in bold at the start of its
    item, as the text part lists them one a line."""
    source = (EMAILS / language / f"{name}.html").read_text(encoding="utf-8")
    assert re.search(r"<(ul|dl)\b", source), "the commands as a list"
    listed = {
        w
        for item in _list_items(source)
        for lead in re.findall(r"^\s*<strong>(.*?)</strong>", item, re.S)
        for w in _CAPITALS.findall(lead)
    }
    text = (EMAILS / language / f"{name}.txt").read_text(encoding="utf-8")
    # A command that leads a line of the text part's list leads an item of the HTML part's list.
    leading = {w for line in re.findall(r"^ +([A-ZÆØÅ][A-ZÆØÅ ]+?)(?:\s{2,}|$)", text, re.M) for w in line.split()}
    assert leading & COMMAND_WORDS <= listed, sorted((leading & COMMAND_WORDS) - listed)
    assert listed, "each command in <strong> at the start of its item"


# -- receipts --------------------------------------------------------------------------------------------------------
# The fakes' clock stands at Sunday 29 November 2026 11:00 in Oslo: Bits opens on Monday at 08:00 and closes at 15:45.
# Each expected time below is counted by hand from the default targets (core/settings.py `response_targets`).


def _parts(mail: OutgoingMail) -> tuple[str, str]:
    """The text part, and the HTML part's text as a reader sees it (tags gone, entities read)."""
    return mail.text, unescape(re.sub(r"<[^>]+>", " ", mail.html))


async def _receipt(services: Services, reference: str, to: str) -> OutgoingMail:
    return await one_queued(services, reference, to, "acknowledgement")


def _word(kind: str, code: str, language: str) -> str:
    said = word(kind, code, language)
    assert said, (kind, code)
    return said


def _says(mail: OutgoingMail, *phrases: str) -> None:
    for part in _parts(mail):
        flat = " ".join(part.split())
        for phrase in phrases:
            assert " ".join(phrase.split()) in flat, (phrase, part)


@pytest.mark.parametrize(
    ("language", "due", "category", "service"),
    [
        ("nb", "1. desember 2026 kl. 08.15", "Tolking av data", "Uføretrygd"),
        ("en", "1 December 2026, 08:15", "Reading the data", "Disability benefit"),
    ],
)
async def test_a_question_receipt_repeats_the_question_in_words_and_gives_the_time_of_the_answer(
    language: str, due: str, category: str, service: str
) -> None:
    services = fake_services()
    case = await ask_question(services, question(language=language), Channel.FORM, proof=PROVEN_ASKER)
    receipt = await _receipt(services, case.reference, ASKER)
    # 8 office hours from Sunday: Monday's 7 h 45 min, then a quarter of an hour on Tuesday.
    _says(receipt, due, category, service, "Hvordan tolke uføregrad mot IFU?", question().question)
    for part in _parts(receipt):
        assert "data_interpretation" not in part and "ufore" not in part.replace("uføre", ""), "words, not codes"


@pytest.mark.parametrize(
    ("language", "due"), [("nb", "30. november 2026 kl. 10.00"), ("en", "30 November 2026, 10:00")]
)
async def test_an_error_report_receipt_gives_the_time_of_its_severity(language: str, due: str) -> None:
    services = fake_services()
    report = error_report().model_copy(update={"language": language})
    case = await report_error(services, report, Channel.FORM, proof=AddressProof(REPORTER))
    receipt = await _receipt(services, case.reference, REPORTER)
    # High severity: 2 office hours, from Monday 08:00.
    _says(
        receipt,
        due,
        _word("severity", "high", language),
        _word("component", "ufore-api", language),
        _word("environment", "production", language),
        "7f3c2a10-5b7e-4c1e-9d2e-1a2b3c4d5e6f",
        "Siden 09:40 svarer alle kall med 500.",
        long_time(datetime.fromisoformat("2026-11-28T09:40:00+01:00"), language),
    )
    assert "2026-11-28T09:40" not in receipt.text and "2026-11-28T09:40" not in receipt.html


@pytest.mark.parametrize(("language", "due"), [("nb", "7. desember 2026 kl. 09.15"), ("en", "7 December 2026, 09:15")])
async def test_a_change_request_receipt_repeats_every_text_and_gives_the_time(language: str, due: str) -> None:
    services = fake_services()
    request = change_request().model_copy(update={"language": language})
    case = await changes.submit_change_request(services, request, Channel.FORM, proof=PROVEN_ASKER)
    receipt = await _receipt(services, case.reference, ASKER)
    # 40 office hours: five days of 7 h 45 min, and 1 h 15 min on the next Monday.
    _says(receipt, due, request.title, request.description, str(request.need_and_benefit))
    _says(receipt, _word("change_type", "data_element", language), _word("urgency", "normal", language))


@pytest.mark.parametrize(("language", "due"), [("nb", "2. desember 2026 kl. 08.30"), ("en", "2 December 2026, 08:30")])
async def test_a_registration_receipt_after_confirmation_repeats_the_registration(language: str, due: str) -> None:
    services = fake_services()
    case = await onboarding.register(services, registration().model_copy(update={"language": language}), Channel.FORM)
    submitter = case.submitter_email
    request = await one_queued(services, case.reference, submitter, "confirm")
    assert "Ny Forsikring ASA" not in request.text, "no relay: nothing typed goes to an unproven address"
    link = re.search(r"/api/confirm\?t=([^\s&]+)", request.text)
    assert link, request.text
    assert (await confirm_submitter(services, link.group(1), CATALOGUE.intakes)).outcome == "confirmed"
    receipt = await _receipt(services, case.reference, submitter)
    # 16 office hours from the confirmation (Sunday): Monday and Tuesday, and half an hour on Wednesday.
    _says(
        receipt, due, "Ny Forsikring ASA", "Tom Tekniker", "tek@nyforsikring.example", long_date_of(GO_LIVE, language)
    )
    _says(receipt, _word("role", "technical", language), _word("service", "ufore", language))


def long_date_of(iso: str, language: str) -> str:
    return long_date(date.fromisoformat(iso), language)


async def test_a_breach_receipt_repeats_the_report_and_promises_no_office_hours() -> None:
    """A breach counts round the clock on its own deadlines (the receipt gives them): no office-hours time."""
    services = fake_services()
    reporter = "sikkerhet@demo-forsikring.example"
    case = await security.report_breach(
        services, breach(services, reporter), Channel.FORM, proof=AddressProof(reporter)
    )
    receipt = await _receipt(services, case.reference, reporter)
    _says(receipt, "Privat nøkkel lagt i et offentlig repo.", "Nøkkelen er trukket tilbake.", "+47 22 33 44 55")
    _says(receipt, _word("breach_type", "confidentiality", "nb"))
    for part in _parts(receipt):
        assert "åpningstid" not in part and "Du får svar fra Bits senest" not in part


async def test_an_emailed_question_receipt_repeats_the_text_as_stored_with_the_identity_number_masked() -> None:
    services = fake_services()
    mailbox = mailbox_of(services)
    mailbox.deliver((MAIL_FIXTURES / "fnr_question.eml").read_bytes())
    await poll_mailbox(services, mailbox, CATALOGUE)
    [case] = [c for p in Process for c in await services.store.cases(p)]
    receipt = await _receipt(services, case.reference, case.submitter_email)
    stored = await submitted(services, case)
    assert stored["message"].strip() and "44052" not in stored["message"]
    _says(receipt, stored["message"], case.title, "1. desember 2026 kl. 08.15")
    for part in (receipt.text, receipt.html, receipt.subject):
        assert "17050544052" not in part and "170505 44052" not in part


async def test_the_receipt_escapes_what_the_submitter_typed() -> None:
    """What a person typed comes back in the receipt's HTML part as text, never as markup."""
    services = fake_services()
    typed = question(question='<img src=x onerror="alert(1)"> hva betyr <b>IFU</b>?')
    case = await ask_question(services, typed, Channel.FORM, proof=PROVEN_ASKER)
    receipt = await _receipt(services, case.reference, ASKER)
    assert "<img" not in receipt.html and "<b>IFU" not in receipt.html
    assert "&lt;img src=x" in receipt.html and '<img src=x onerror="alert(1)"> hva betyr <b>IFU</b>?' in receipt.text


def test_every_acknowledgement_template_repeats_what_was_sent_and_the_time() -> None:
    """Every template a process names as its receipt (`CaseIntake.acknowledgement_template`) has the rows and the
    time, in both languages and both parts."""
    names = {i.acknowledgement_template for i in CATALOGUE.intakes.values() if i.acknowledgement_template}
    assert {"case_received", "question_received", "error_report_received", "onboarding_received"} <= names
    for name in names:
        for language in ("nb", "en"):
            for ext in ("txt", "html"):
                source = (EMAILS / language / f"{name}.{ext}").read_text(encoding="utf-8")
                assert f'{{% include "base/receipt.{ext}" %}}' in source, (language, name, ext)
