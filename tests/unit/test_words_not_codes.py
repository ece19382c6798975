"""Every email and page template, rendered with real codes in both languages, says words and dates, not codes."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import azure.functions as func
import jinja2
import pytest

from functions.alerts.status import status_page
from functions.cases import case_page
from functions.catalogue import CATALOGUE
from functions.core import glossary
from functions.core.model import Case, CaseEvent, Channel, DecisionToken, Process
from functions.core.rendering import STATUS_NAMES, TEMPLATES_DIR, Renderer
from functions.core.services import Services
from functions.terms import views as terms_views
from functions.terms import workflow as terms_workflow
from functions.terms.models import validate_terms
from functions.web.staff import StaffMember
from functions.workspace import case_view as workspace_case
from functions.workspace import held, mail_health, publishing, queue, registry_view
from functions.workspace.actions import panel
from tests.conftest import DEMO_REGISTRY
from tests.fakes import fake_services

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
REFERENCE = "SSU-C-2026-0042"

# What the people typed: free text without codes, so that whatever code shows up came from a template.
TYPED = {
    "title": "Svar mangler for enkelte kunder",
    "text": "Vi får tomt svar for noen kunder siden i morges.",
    "name": "Frida Fjell",
}


def _details() -> dict[str, Any]:
    """The details of every process at once, with the codes the forms store, so that any template finds its own."""
    return {
        "service": "ufore",
        "services": ["ufore", "aap"],
        "category": "data_interpretation",
        "component": "ufore-api",
        "components": ["ufore-api", "altinn-consent"],
        "severity": "high",
        "occurred_at": "2026-11-30T09:15:00+01:00",
        "http_status": 500,
        "correlation_id": "abc-123",
        "endpoint": "/api/v1/uforegrad",
        "customers_affected": 3,
        "phone": "+47 99 99 99 99",
        "discovered_at": "2026-11-30T09:15:00+01:00",
        "breach_type": ["confidentiality", "integrity"],
        "data_categories": "Uføregrad og vedtaksdato",
        "persons_affected": "unknown",
        "datatilsynet_notified_at": None,
        "gdpr_deadline": "2026-12-03T09:15:00+01:00",
        "dora_initial_deadline": "2026-11-30T13:15:00+01:00",
        "dora_intermediate_deadline": "2026-12-03T09:15:00+01:00",
        "dora_final_deadline": "2026-12-30T09:15:00+01:00",
        "source": "NAV",
        "version": "2.0",
        "legal_name": "Fjordtrygd Forsikring ASA",
        "desired_go_live": "2027-01-01",
        "finans_norge_member": True,
        "supplier_name": None,
        "change_type": "data_element",
        "defer_until": "2027-03-01",
        "urgency": "normal",
        "contacts": [
            {"role": "business", "name": "Kari Nordmann", "email": "kari@fjordtrygd.example", "phone": "+47 1"},
            {"role": "signatory", "name": "Ola Nordmann", "email": "ola@fjordtrygd.example", "phone": "+47 2"},
        ],
        "production": {
            "integration_tests_passed_on": "2026-11-20",
            "test_report_reference": "R-1",
            "maskinporten_client_id": "abc",
            "production_redirect_domains": ["https://app.example"],
            "consent_text_confirmed": True,
            "notices_subscribed": True,
            "email": "kari@fjordtrygd.example",
        },
        "effective_date": "2027-01-01",
        "document_url": "https://bits.example/vilkar-2.0.pdf",
        "proposal": {
            "kind": "maintenance",
            "environments": ["production"],
            "components": ["ufore-api"],
            "severity": "medium",
            "starts_at": "2026-11-30T09:15:00+01:00",
        },
    }


# One case per process, in a status of that process.
CASES = {
    Process.ONBOARDING: ("registration", "registered"),
    Process.NOTIFICATION: ("maintenance", "published"),
    Process.ERROR_REPORT: ("error_report", "new"),
    Process.QUESTION: ("question", "waiting_for_submitter"),
    Process.CHANGE_REQUEST: ("change_request", "awaiting_decision"),
}


def sample_cases() -> list[Case]:
    """A case per process, and a security breach from a sender not yet proven (mails to Bits and NAV warn of it)."""
    cases = [sample_case(process) for process in Process]
    breach = sample_case(Process.ERROR_REPORT).model_copy(
        update={"kind": "security_breach", "submitter_verified": False}
    )
    return [*cases, breach]


def sample_case(process: Process) -> Case:
    kind, status = CASES[process]
    return Case(
        reference=REFERENCE,
        process=process,
        kind=kind,
        status=status,
        organisation_number="310000019",
        submitter_name=TYPED["name"],
        submitter_email="frida@fjordtrygd.example",
        submitter_verified=True,
        environment="production",
        title=TYPED["title"],
        created_at=NOW,
        updated_at=NOW,
        details=_details(),
    )


def email_context(case: Case) -> dict[str, Any]:
    """What the mail senders pass to the templates (the union of them, as tests/unit/test_pure_parts.py does)."""
    text = TYPED["text"]
    return {
        "case": case,
        "text": {
            "question": text,
            "message": text,
            "description": text,
            "containment": "Vi stengte tilgangen.",
            "attachments": [
                {"filename": "skjermbilde.pdf", "size": 3},
                {"filename": "program.exe", "size": 3, "refused": "type"},
            ],
        },
        "update": "question",
        "outcome": "completed",
        "alert": {
            "environments": ["production", "test"],
            "components": ["ufore-api"],
            "severity": "high",
            "starts_at": "2026-11-30T09:15:00+01:00",
            "ends_at": "2026-11-30T11:00:00+01:00",
            "action_required": "Bytt nøkkel",
            "action_deadline": "2026-12-05T12:00:00+01:00",
            "link": "https://nav.example/driftsmelding",
            "outcome": "completed",
        },
        "target": "first_response",
        "stage": "overdue",
        "due": NOW,
        "source": "NAV",
        "set_aside_for": "no_text",
        "person": TYPED["name"],
        "claimed_subject": "Hjelp med samtykke",
        "claimed_sender": "Frida Fjell <frida@fjordtrygd.example>",
        "received_at": NOW,
        "folder": "SSU avvist",
        "question": text,
        "comment": "Haster litt",
        "description": text,
        "sender": TYPED["name"],
        "replies_decide": True,
        "answer": "Her er svaret.",
        "problem": "negated",
        "errors": {"ends_at": "Sluttidspunkt mangler"},
        "recommendations": {"kari@fjordtrygd.example": {"verdict": "not_recommended", "comment": "For tidlig"}},
        "committee": ["kari@fjordtrygd.example", "ola@fjordtrygd.example"],
        "why": "assessment_deadline",
        "reason": "Se vedlegg",
        "summary": "Nytt punkt 4",
        "reminder": False,
        "accept_link": "http://localhost/terms-accept?k=x",
        "companies": [{"legal_name": "Fjordtrygd Forsikring ASA", "recipients": 2}],
        "recipient_count": 2,
        "acceptances_link": f"http://localhost/api/terms/{REFERENCE}",
        "next_step": "agreement_signed",
        "contacts": _details()["contacts"],
        "environment": "production",
        "agreement_url": "https://bits.example/avtale.pdf",
        "dpa_url": "https://bits.example/dba.pdf",
        "terms": {"version": "1.0", "url": "https://bits.example/vilkar.pdf"},
        "commands": [("LØST", "RESOLVED")],
        "decided_by": "godkjenner1@bits.example",
        "decided_at": "29.11.2026 10:00",
        # What a reply that decided nothing was read as, and what applies now; who decided (intake/commands.py).
        "understood": "two_commands",
        "seen": ["GODKJENT", "AVSLÅTT"],
        "foreign": [],
        "applicable": [{"word": "GODKJENT", "does": "godkjenner endringsønsket"}],
        "decided": {
            "command": "GODKJENT",
            "does": "",
            "name": "Kari",
            "address": "k@x.example",
            "at": "1. desember 2026 kl. 10.00",
            "yours": False,
        },
        "status_now": "Godkjent",
        # The committee by name and company, counted without a conflicted member (changes/workflow.py).
        "members": [
            {
                "email": "kari@fjordtrygd.example",
                "name": "Kari Nordmann",
                "company": "Fjordtrygd Forsikring ASA",
                "verdict": "not_recommended",
                "comment": "For tidlig",
                "conflict": True,
            },
            {"email": "ola@fjordtrygd.example", "name": "", "company": "", "verdict": "", "conflict": False},
        ],
        "tally": {"recommended": 0, "not_recommended": 0, "neutral": 0},
        "member": {"name": "Kari Nordmann", "email": "kari@fjordtrygd.example", "company": "Fjordtrygd Forsikring ASA"},
        "verdict": "recommended",
        "case_link": "http://localhost/case",
        "workspace_link": f"http://localhost/api/bits/cases/{REFERENCE}",
        "confirm_link": "http://localhost/confirm",
        "organisation_name": "Fjordtrygd Forsikring ASA",
        "hours": 72,
        "identity_numbers_removed": 1,
        "claimed": "support@bits.example",
        "evidence": "DMARC fail",
        "recipients": ["kari@fjordtrygd.example"],
        "roles": ["security", "business"],
        "status": "5.1.1",
        "suppress_after": 3,
        "unverified": True,
        "legal_name": "Fjordtrygd Forsikring ASA",
        "organisation_number": "310000019",
        "days": 7,
        "by_name": TYPED["name"],
        "by_email": "admin@bits.example",
        "when": "1. desember 2026 kl. 10.00",
        "changes": ["Lagt til: Frida Fjell <frida@fjordtrygd.example> som Teknisk kontakt"],
        "shared_mailbox": "ssu@bits.example",
    }


# -- what counts as a code ------------------------------------------------------------------------------------------


def _codes() -> set[str]:
    codes = {code for values in glossary.VALUES.values() for code in values}
    codes |= set(STATUS_NAMES["nb"]) | set(glossary.ONBOARDING_STEPS) | set(glossary.DECISIONS)
    codes |= set(glossary.EVENTS) | set(glossary.MAIL_STATES)  # not COMMANDS: their names are plain verbs
    return {code for code in codes if len(code) > 1 and not code.isupper()}  # A–E and NAV are names, not codes


def _ordinary_words(language: str) -> set[str]:
    """Words of the language, as the glossary itself uses them: a code spelt like one of them reads as a word."""
    index = 1 if language == "en" else 0
    tables: list[dict[str, glossary.Words]] = [*glossary.VALUES.values(), glossary.FIELDS, glossary.EVENTS]
    tables += [glossary.ONBOARDING_STEPS, glossary.DECISIONS, glossary.MAIL_STATES, glossary.COMMANDS]
    return {w.lower() for table in tables for words in table.values() for w in re.findall(r"[\wæøå-]+", words[index])}


CODES = _codes()
# Codes spelt like a word of the language ("timer" is hours in Norwegian) read as that word.
ALSO_WORDS = {"nb": {"timer", "link"}, "en": {"reminded", "admin"}}
FOREIGN = {
    language: {c for c in CODES if c.lower() not in _ordinary_words(language) | ALSO_WORDS[language]}
    for language in ("nb", "en")
}
# A code's own word, per language: "Severity: high" in English is the code when the word is "High".
CODE_WORDS = {
    language: {
        code: {glossary.pick(words, language) for v in glossary.VALUES.values() if (words := v.get(code))}
        | ({STATUS_NAMES[language][code]} if code in STATUS_NAMES[language] else set())  # "Status: new" is a word
        for code in CODES
    }
    for language in ("nb", "en")
}

ALLOWED = [
    re.compile(r"https?://\S+"),  # links
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),  # email addresses
    re.compile(r"SSU-[A-E]-\d{4}-\d+"),  # case references
    re.compile(r"/api/\S*"),  # paths people are told to open
    re.compile(r"<code>.*?</code>", re.S),  # what a person is to type, in HTML
    re.compile(r"^\s*(?:komponenter|components): [a-z, -]+$", re.M),  # the component codes Bits types back
]
ISO_TIMES = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|[+-]\d{2}:\d{2}\b|\d{2}:\d{2}:\d{2}")
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
PYTHON = re.compile(r"\b(?:None|True|False|true|false)\b")
# "Severity: high" – a heading (capitalised) followed by a bare code; "severity: high" is a line to type back.
LABELLED = re.compile(r"^\s*[A-ZÆØÅ][^:\n]{1,39}:\s*([a-z][\w-]*(?:,\s*[a-z][\w-]*)*)\s*$", re.MULTILINE)


def page_language(page: str) -> str:
    """The language a page says it is in (`<html lang>`)."""
    found = re.search(r'<html[^>]*\slang="(\w+)"', page)
    return found.group(1) if found else "nb"


def readable(rendered: str, is_html: bool, typed: tuple[str, ...] = ()) -> str:
    """The text a person reads: tags and the parts that must stay as they are (links, addresses, references, what
    people typed) gone; in HTML, parts marked as another language than the page's go too (a sample mail in English
    on a Norwegian page is checked as the English mail it is)."""
    text = ALLOWED[-2].sub(" ", rendered)
    for name in typed:
        text = text.replace(name, " ")
    if is_html:
        own = page_language(rendered)
        text = re.sub(rf'<(\w+)\b[^>]*\slang="(?!{own}")\w+"[^>]*>.*?</\1>', " ", text, flags=re.S)
        text = re.sub(r"<(style|script)\b.*?</\1>", " ", text, flags=re.S | re.I)
        text = re.sub(r"<br\s*/?>|</(p|li|div|tr|h\d|dt|dd|td|th|title)>", "\n", text, flags=re.I)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    for pattern in ALLOWED:
        text = pattern.sub(" ", text)
    return text


def codes_in(text: str, language: str) -> list[str]:
    """Every code-like token or ISO time in `text`, as found."""
    found = [m.group(0) for m in ISO_TIMES.finditer(text)]
    found += [m.group(0) for m in SNAKE.finditer(text)]
    found += [m.group(0) for m in PYTHON.finditer(text)]
    for token in re.findall(r"(?<![\w-])[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?![\w-])", text):
        if token in FOREIGN[language]:
            found.append(token)
    # "Tjeneste: Uføretrygd · Hastegrad: normal": each part of a line of facts is a heading and its value.
    for match in LABELLED.finditer(re.sub(r"\s+·\s+", "\n", text)):
        for value in re.split(r",\s*", match.group(1)):
            if value in CODES and value not in CODE_WORDS[language][value]:
                found.append(f"{match.group(0).strip()!r}")
    return found


# -- the checker itself ---------------------------------------------------------------------------------------------


def test_the_checker_catches_the_offenders_of_issue_17_and_lets_words_through() -> None:
    assert codes_in("Planlagt vedlikehold (production)", "nb") == ["production"]
    assert codes_in("Ny feilmelding (high, production)", "nb") == ["high", "production"]
    assert "data_interpretation" in codes_in("Kategori: data_interpretation", "nb")
    assert codes_in("Personer berørt: unknown", "nb") == ["unknown", "'Personer berørt: unknown'"]
    assert codes_in("Persons affected: unknown", "en") == ["'Persons affected: unknown'"]
    assert codes_in("business: Kari\nsignatory: Ola", "nb") == ["business", "signatory"]
    assert codes_in("Tidspunkt: 2026-11-30T09:15:00+01:00", "nb")
    assert codes_in("Sent 2026-11-30 09:15:00", "en")
    assert codes_in("Status: «awaiting_decision»", "nb") == ["awaiting_decision"]
    assert codes_in("Innmeldingen står nå på: none.", "nb") == ["none"]
    assert codes_in("Value: None", "en") == ["None"]
    assert codes_in("Tjeneste: Uføretrygd · Hastegrad: normal", "nb") == ["'Hastegrad: normal'"]
    assert codes_in("Environment: Production · Severity: high", "en") == ["'Severity: high'"]
    words = "Tidspunkt: 30. november 2026 kl. 09.15. Skriv LØST i svaret. Se https://x.example/a_b og kari_n@x.example"
    assert codes_in(readable(words, False), "nb") == []
    assert codes_in("The error report is in production. Severity: High", "en") == []
    assert codes_in("Saken SSU-C-2026-0042 er i produksjon, alvorlighet høy.", "nb") == []


# -- emails ---------------------------------------------------------------------------------------------------------

RENDERER = Renderer()  # one, so that each template is compiled once for the whole file
EMAILS = sorted(p.stem for p in (TEMPLATES_DIR / "emails" / "nb").glob("*.txt"))


def email_variants(name: str, case: Case) -> list[dict[str, Any]]:
    """The context once for every `update` the template tells apart (the `*_update` mails take Bits' text as a str)."""
    source = (TEMPLATES_DIR / "emails" / "nb" / f"{name}.txt").read_text(encoding="utf-8")
    context = email_context(case)
    if name.endswith("_update"):
        context["text"] = TYPED["text"]
    updates = sorted(set(re.findall(r"update == '(\w+)'", source))) or [context["update"]]
    return [{**context, "update": update} for update in updates]


@pytest.mark.parametrize("language", ["nb", "en"])
@pytest.mark.parametrize("name", EMAILS)
def test_every_email_says_words_and_dates_not_codes(name: str, language: str) -> None:
    renderer = RENDERER
    problems: set[str] = set()
    for case in sample_cases():
        for context in email_variants(name, case):
            letter = renderer.letter(name, language, REFERENCE, **context)
            for part, text in (("subject", letter.subject), ("text", letter.text), ("html", letter.html)):
                for found in codes_in(readable(text, part == "html"), language):
                    problems.add(f"{part} ({context['update']}): {found}")
    assert not problems, f"{language}/{name}: " + "; ".join(sorted(problems))


# -- pages ----------------------------------------------------------------------------------------------------------

ADMIN = StaffMember("admin@bits.example", "Anne Admin", "oid-admin", frozenset({"admin"}))
FORMS = ["question", "incident", "security_breach", "change_request", "registration", "contacts", "production", "terms"]
CONFIRMS = {
    "confirm": ["confirmed", "already", "invalid", "unavailable"],
    "contacts_confirm": ["confirmed", "already", "invalid", "unavailable"],
    "registration_confirm": ["confirmed", "already", "conflict", "invalid", "unavailable"],
    "production_confirm": ["ordered", "already", "invalid", "unavailable"],
    "terms_accept": ["accepted", "already", "invalid", "unavailable"],
}


def form_values() -> dict[str, Any]:
    """What a person put in the forms, with the codes the choices send (a page shows them in words or not at all)."""
    details = _details()
    return {
        **{k: v for k, v in details.items() if not isinstance(v, dict | list)},
        **details["production"],
        "services": ["ufore"],
        "breach_type": ["confidentiality"],
        "environment": "production",
        "title": TYPED["title"],
        "description": TYPED["text"],
        "question": TYPED["text"],
        "name": TYPED["name"],
        "email": "frida@fjordtrygd.example",
        "organisation_number": "310000019",
        "occurred_at": "2026-11-30T09:15",
        "discovered_at": "2026-11-30T09:15",
    }


def request(url: str, params: dict[str, str] | None = None, **route: str) -> func.HttpRequest:
    return func.HttpRequest("GET", url, headers={}, params=params or {}, route_params=route, body=b"")


def html_of(response: func.HttpResponse) -> str:
    assert response.status_code in (200, 404), response.get_body()[:500]
    return response.get_body().decode()


# What Bits is asked to decide on each process's case: the workspace's case page draws its action forms for it.
DECIDES = {
    Process.ONBOARDING: "onboarding.bits",
    Process.NOTIFICATION: "alert.draft",
    Process.ERROR_REPORT: "error_report.triage",
    Process.QUESTION: "question.bits",
    Process.CHANGE_REQUEST: "change.decide",
}


async def seeded() -> tuple[Services, dict[Process, Case]]:
    """Fake services with one stored case per process (an alert among them), each with its first event."""
    services = fake_services()
    stored: dict[Process, Case] = {}
    for process in Process:
        case = sample_case(process)
        if process is Process.NOTIFICATION:
            case = case.model_copy(update={"details": {**case.details, **email_context(case)["alert"]}})
        event = CaseEvent(
            at=NOW,
            actor=case.submitter_email,
            channel=Channel.FORM,
            kind="received",
            public=True,
            summary="Received",
            data={"description": TYPED["text"], "question": TYPED["text"]},
        )
        token = DecisionToken(
            token=f"tok{process.value}abcdefghjk",
            person="support@bits.example",
            decision=DECIDES[process],
            expires_at=NOW + timedelta(days=5),
        )
        fresh = case.model_copy(update={"reference": ""})
        stored[process] = await services.store.create_case(fresh, event, lambda c: [], tokens=[token])
    return services, stored


def actions_for(services: Services, req: func.HttpRequest) -> workspace_case.PanelFor:
    """The case view's actions, as the trigger builds them (workspace/case_blueprint.py), for a signed-in admin."""

    def actions(case: Case, tokens: list[DecisionToken], language: str) -> Any:
        return panel(services, req, case, tokens, CATALOGUE.decisions, ADMIN, language)

    return actions


async def pages(language: str) -> list[tuple[str, str]]:
    """Every page, as its handler or renderer draws it in `language`: (what it is, its HTML)."""
    renderer = RENDERER
    drawn: list[tuple[str, str]] = []
    lang = {"lang": language}
    for name in FORMS:
        common = {
            "language": language,
            "field_labels": {},
            "csrf_field": "csrf",
            "csrf_token": "x",
            "honeypot_field": "hp",
        }
        values = form_values()
        drawn.append((name, renderer.page(name, values={}, errors={}, notice=None, **common)))
        errors = {k: "Fyll ut feltet" if language == "nb" else "Fill in the field" for k in values}
        drawn.append((f"{name} with errors", renderer.page(name, values=values, errors=errors, notice=None, **common)))
    for process in Process:
        case = sample_case(process)
        organisation = {"legal_name": "Fjordtrygd Forsikring ASA", "organisation_number": "310000019"}
        for name, outcomes in CONFIRMS.items():
            for outcome in [None, *outcomes]:
                page = renderer.page(
                    name,
                    language=language,
                    token="t",
                    outcome=outcome,
                    case=case,
                    organisation=organisation,
                    request=case.details["production"] | {"organisation_number": "310000019"},
                )
                drawn.append((f"{name} {outcome} {process.name}", page))
    for name in ("start", "not_found", "unavailable"):
        drawn.append((name, renderer.page(name, language=language)))

    services, stored = await seeded()
    preview = await terms_workflow.preview_terms(services, terms_version())
    drawn.append(("terms_preview", html_of(terms_views._preview_page(services, preview, ADMIN, "x", None, 200))))
    drawn.append(("status", renderer.page("status", language=language, status=await status_page(services, language))))
    for process, case in stored.items():
        events = await services.store.events(case.reference)
        url = f"http://localhost/api/cases/{case.reference}"
        drawn.append(
            (
                f"case page {process.name}",
                html_of(await case_page.show(request(url, lang), services, case, events, language)),
            )
        )
        route = {"reference": case.reference}
        bits_request = request(f"http://localhost/api/bits/cases/{case.reference}", lang, **route)
        answer = await workspace_case.case_page(bits_request, services, actions_for(services, bits_request))
        drawn.append((f"workspace case {process.name}", html_of(answer)))
    missing = await workspace_case.case_page(
        request("http://localhost/api/bits/cases/x", lang, reference="SSU-C-2026-9999"), services
    )
    drawn.append(("workspace case_not_found", html_of(missing)))
    drawn.append(
        ("queue", html_of(await queue.queue_response(request("http://localhost/api/bits/cases", lang), services)))
    )
    drawn.append(
        ("mail", html_of(await mail_health.mail_page(request("http://localhost/api/bits/mail", lang), services, ADMIN)))
    )
    drawn.append(("held", html_of(await held.held_page(request("http://localhost/api/bits/held", lang), services))))
    publishing_answer = await publishing.publishing_page(
        request("http://localhost/api/bits/publishing", lang), services, ADMIN
    )
    drawn.append(("publishing", html_of(publishing_answer)))
    drawn.append(
        (
            "registry",
            html_of(await registry_view.registry_page(request("http://localhost/api/bits/registry", lang), services)),
        )
    )
    company = request("http://localhost/api/bits/registry/310000019", lang, number="310000019")
    drawn.append(("registry company", html_of(await registry_view.company_page(company, services, ADMIN))))
    message = "Saken er allerede avgjort." if language == "nb" else "The case is already decided."
    for name in ("action_refused", "held_refused"):
        page = renderer.env.get_template(f"workspace/{name}.html").render(
            language=language,
            kind="decided",
            message=message,
            back="/api/bits/cases",
            case="/api/bits/cases/x",
            queue="/api/bits/cases",
            held="/api/bits/held",
        )
        drawn.append((name, page))
    return drawn


def registry_names() -> tuple[str, ...]:
    """The names Bits typed into the demo registry (a contact may be called "NAV onboarding"): data, not codes."""
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.extend(str(v) for k, v in node.items() if k in ("name", "legal_name") and v)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(DEMO_REGISTRY.read_text(encoding="utf-8")))
    return tuple(sorted(set(names), key=len, reverse=True))


def terms_version() -> Any:
    terms, errors = validate_terms(
        {
            "title": "Vilkår for Syke- og uføreopplysninger fra NAV",
            "version": "2.1",
            "effective_date": "2027-03-01",
            "summary": "Punkt 4 om logging er nytt.",
            "document_url": "https://bits.example/vilkar-2.1.pdf",
        },
        date(2026, 11, 29),
        "nb",
    )
    assert terms is not None, errors
    return terms


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_every_page_says_words_and_dates_not_codes(language: str) -> None:
    typed = registry_names()
    problems = [
        f"{name}: {found}"
        for name, page in await pages(language)
        for found in codes_in(readable(page, True, typed), page_language(page))
    ]
    assert not problems, f"{language}: " + "; ".join(sorted(set(problems)))


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_no_page_puts_a_colon_after_a_question_mark(language: str) -> None:
    """The error summary put "label: error" for every field, so the question form said "Hva gjelder det?: Velg et
    av alternativene."; a label that asks is followed by its error alone."""
    problems = [name for name, page in await pages(language) if "?:" in readable(page, True)]
    assert not problems, problems


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_every_page_leads_back_to_the_start_page_in_its_language(language: str) -> None:
    """Only the start page linked the forms together: a receipt, a refusal or "case not found" left a person with
    no way to the other forms, the status page or help but to guess an address."""
    home = {"en": 'href="/api/start?lang=en"', "nb": 'href="/api/start"'}
    problems = [name for name, page in await pages(language) if home[page_language(page)] not in page]
    assert not problems, problems


async def test_the_two_tests_above_draw_every_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every template file is drawn by the email or the page test: a new one cannot slip past the vocabulary."""
    drawn: set[str] = set()
    load = jinja2.Environment._load_template

    def recording(self: jinja2.Environment, name: str, globals: Any) -> jinja2.Template:
        drawn.add(name)
        return load(self, name, globals)

    monkeypatch.setattr(jinja2.Environment, "_load_template", recording)
    for language in ("nb", "en"):
        for name in EMAILS:
            for context in (c for case in sample_cases() for c in email_variants(name, case)):
                RENDERER.letter(name, language, REFERENCE, **context)
        await pages(language)
    every = {p.relative_to(TEMPLATES_DIR).as_posix() for p in TEMPLATES_DIR.rglob("*") if p.is_file()}
    assert every - drawn == set()


def test_the_offenders_of_issue_17_now_say_words() -> None:
    """What the issue found, now in the glossary's words and Oslo time (the checker alone only says what is gone)."""

    def letter(name: str, process: Process, language: str = "nb", **extra: Any) -> Any:
        return RENDERER.letter(name, language, REFERENCE, **{**email_context(sample_case(process)), **extra})

    title = TYPED["title"]
    assert letter("error_report_to_bits", Process.ERROR_REPORT).subject == (
        f"[{REFERENCE}] Ny feilmelding (høy, produksjon): {title}"
    )
    assert letter("error_report_to_bits", Process.ERROR_REPORT, "en").subject == (
        f"[{REFERENCE}] New error report (high, production): {title}"
    )
    assert "Tidspunkt: 30. november 2026 kl. 09.15\n" in letter("error_report_to_bits", Process.ERROR_REPORT).text
    assert "Occurred: 30 November 2026, 09:15\n" in letter("error_report_to_bits", Process.ERROR_REPORT, "en").text
    alert = letter(
        "alert_notice",
        Process.NOTIFICATION,
        alert={**email_context(sample_case(Process.NOTIFICATION))["alert"], "environments": ["production"]},
    )
    assert alert.subject == f"[{REFERENCE}] Planlagt vedlikehold (produksjon): {title}"
    assert "Kategori: Tolking av data" in letter("question_to_bits", Process.QUESTION).text
    assert "Personer berørt: Ukjent" in letter("security_breach_alert", Process.ERROR_REPORT).text
    refused = letter("onboarding_update", Process.ONBOARDING, update="refused", text="SIGNERT")
    assert "står på «innmeldt – til gjennomgang»" in refused.text
    page = RENDERER.page(
        "contacts_confirm", language="nb", token="t", outcome=None, case=sample_case(Process.ONBOARDING)
    )
    assert "<li>Forretningskontakt: Kari Nordmann" in page and "<li>Signaturberettiget: Ola Nordmann" in page


@pytest.mark.parametrize("name", ["alert_notice", "alert_closed", "alert_reminder"])
def test_an_english_alert_mail_has_the_english_title_its_source_gave(name: str) -> None:
    """The status page shows `title_en` on the English page; the mail to an English contact did not (subject and
    body kept the Norwegian title under an English description)."""
    case = sample_case(Process.NOTIFICATION)
    english = "Maintenance of the disability API"
    alert = {**email_context(case)["alert"], "title_en": english}
    context = {**email_context(case), "alert": alert}
    en = RENDERER.letter(name, "en", REFERENCE, **context)
    nb = RENDERER.letter(name, "nb", REFERENCE, **context)
    for part in (en.subject, en.text, en.html):
        assert english in part and TYPED["title"] not in part
    for part in (nb.subject, nb.text, nb.html):
        assert TYPED["title"] in part and english not in part
    without = RENDERER.letter(name, "en", REFERENCE, **email_context(case))
    assert TYPED["title"] in without.subject, "without an English title, the one given"


@pytest.mark.parametrize("language", ["nb", "en"])
def test_an_incident_has_one_name_in_its_mails_and_on_the_pages(language: str) -> None:
    """The status page and the workspace say "Driftshendelse" (the glossary's word); the mails said "Driftsavbrudd",
    the status page's heading "Driftsproblemer" and the start page "driftsforstyrrelser": four names for one thing."""
    word = glossary.word("kind", "incident", language)
    assert word
    case = sample_case(Process.NOTIFICATION).model_copy(update={"kind": "incident"})
    context = {**email_context(case), "alert": {**email_context(case)["alert"], "outcome": "resolved"}}
    notice = RENDERER.letter("alert_notice", language, REFERENCE, **context)
    assert notice.subject.startswith(f"[{REFERENCE}] {word} (")
    others = ("driftsavbrudd", "driftsproblem", "driftsforstyrr")
    closed = RENDERER.letter("alert_closed", language, REFERENCE, **context)
    for text in (notice.text, notice.html, closed.text, closed.html):
        assert not any(other in text.lower() for other in others), text
    if language == "nb":
        assert "en driftshendelse" in notice.text and "driftshendelsen er løst" in closed.text
    for name in ("status", "start"):
        source = (TEMPLATES_DIR / "forms" / f"{name}.html").read_text(encoding="utf-8").lower()
        assert not any(other in source for other in others), name


@pytest.mark.parametrize("language", ["nb", "en"])
def test_an_empty_list_of_typed_values_is_told_to_be_filled_in_not_chosen(language: str) -> None:
    """The production form's redirect domains are a text box, one address a line; left empty, it said "Velg minst
    ett alternativ" (choose at least one option), as a group of check boxes does."""
    from pydantic import ValidationError

    from functions.onboarding.models import ProductionRequest, Registration
    from functions.web.forms import field_errors, message

    with pytest.raises(ValidationError) as typed:
        ProductionRequest.model_validate({"production_redirect_domains": []})
    assert field_errors(typed.value, language, ProductionRequest)["production_redirect_domains"] == message(
        "missing", language
    )
    with pytest.raises(ValidationError) as boxes:
        Registration.model_validate({"services": []})
    assert field_errors(boxes.value, language, Registration)["services"] == message("choose_some", language)


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_the_receipt_link_of_a_confirmed_address_says_where_to_write_not_to_confirm(language: str) -> None:
    """Opened by its receipt link (no box there), the case of an address confirmed by the emailed link told the
    person to confirm the address first - done already - and its next step pointed at "the box below" that the page
    does not have."""
    services, stored = await seeded()
    case = stored[Process.QUESTION].model_copy(
        update={"status": "new", "submitter_verified": False, "details": {**stored[Process.QUESTION].details}}
    )
    case.details["address_confirmed"] = True
    events = await services.store.events(case.reference)
    url = f"http://localhost/api/case-page/{case.reference}"
    receipt = html_of(
        await case_page.show(request(url, {"lang": language}), services, case, events, language, by_mail=False)
    )
    text = readable(receipt, True).lower()
    assert "bekreftet e-postadressen" not in text and "confirmed your email address" not in text
    assert ("lenken i e-posten" if language == "nb" else "the link in the email") in text
    assert "boksen under" not in text and "box below" not in text
    mailed = html_of(await case_page.show(request(url, {"lang": language}), services, case, events, language))
    assert 'enctype="multipart/form-data"' in mailed, "the mailed link has the box"


@pytest.mark.parametrize("language", ["nb", "en"])
def test_a_revised_alert_says_it_is_an_update(language: str) -> None:
    """A revision went out with the first mail's subject and opening word for word: two mails that look alike, and
    nothing told the reader that the second changes the first."""
    case = sample_case(Process.NOTIFICATION)
    first = RENDERER.letter("alert_notice", language, REFERENCE, **email_context(case))
    context = {**email_context(case), "alert": {**email_context(case)["alert"], "revision": 2}}
    revised = RENDERER.letter("alert_notice", language, REFERENCE, **context)
    updated = "Oppdatert" if language == "nb" else "Updated"
    assert updated not in first.subject and updated not in first.text
    assert revised.subject.startswith(f"[{REFERENCE}] {updated}: ")
    opening = "oppdaterer varselet" if language == "nb" else "updates its notice"
    assert opening in revised.text and opening in revised.html and opening not in first.text


CHANGE_REQUEST_MAILS = ["change_request_to_bits", "change_request_to_committee", "change_request_to_approvers"]


@pytest.mark.parametrize("language", ["nb", "en"])
@pytest.mark.parametrize("name", [*CHANGE_REQUEST_MAILS, "change_request_to_nav"])
def test_a_change_request_has_the_same_words_for_bits_and_the_committee_as_for_its_submitter(
    name: str, language: str
) -> None:
    """The receipt says "Tjeneste: Uføretrygd · Type endring: Nytt eller endret dataelement · Hastegrad: Normal";
    Bits, the committee, the approvers and NAV read "Tjeneste: uføre · Gjelder: dataelement · Hastegrad: normal" from
    a dictionary of the template's own (lower-case codes that the checker lets through as words)."""
    case = sample_case(Process.CHANGE_REQUEST)
    letter = RENDERER.letter(name, language, REFERENCE, **email_context(case))
    for code in ("service", "change_type", "urgency"):
        said = f"{glossary.field_label(code, language)}: {glossary.word(code, case.details[code], language)}"
        assert said in letter.text and said in html.unescape(letter.html), (code, said)
