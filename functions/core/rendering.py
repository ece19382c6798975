"""Jinja2 rendering of pages and emails: HTML autoescaped, undefined names an error, nb by default and en on request."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from .mail import Letter
from .page_address import language_switch_href

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
OSLO = ZoneInfo("Europe/Oslo")


def local_time(value: datetime | str) -> str:
    """A time as people in Norway read it: 29.11.2026 14:05 (Oslo time). Takes a datetime or an ISO string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(OSLO).strftime("%d.%m.%Y %H:%M")


@pass_context
def translate(context: Context, nb: str, en: str) -> str:
    """{{ t('norsk', 'English') }}: the text in the page's or email's language."""
    return en if context.get("language") == "en" else nb


PROCESS_NAMES = {
    "nb": {"A": "innmelding", "B": "varsel", "C": "feilmelding", "D": "spørsmål", "E": "endringsønske"},
    "en": {"A": "registration", "B": "notice", "C": "error report", "D": "question", "E": "change request"},
}


@pass_context
def process_name(context: Context, process: str) -> str:
    """{{ process_name('C') }}: what the process is called in the page's or email's language."""
    return PROCESS_NAMES["en" if context.get("language") == "en" else "nb"][process]


# Statuses as Bits reads them (the submitter's case page says them from the submitter's side, in its own words).
STATUS_NAMES = {
    "nb": {
        "awaiting_confirmation": "venter på bekreftet e-post",
        "new": "ny",
        "answered": "besvart",
        "forwarded": "sendt videre",
        "waiting_for_reporter": "venter på innsender",
        "waiting_for_submitter": "venter på innsender",
        "acknowledged": "mottatt av Bits",
        "awaiting_contact_confirmation": "venter på virksomhetens kontaktpersoner",
        "registered": "innmeldt – til gjennomgang",
        "accepted": "godkjent – venter på signert avtale",
        "agreement_signed": "avtale signert – venter på testtilgang",
        "test_access": "testtilgang",
        "production_requested": "produksjon bestilt",
        "in_production": "i produksjon",
        "in_assessment": "hos fagutvalget",
        "awaiting_decision": "venter på beslutning",
        "approved": "godkjent – hos NAV",
        "planned": "planlagt av NAV",
        "deferred": "utsatt",
        "published": "publisert",
        "closed": "avsluttet",
        "discarded": "forkastet",
        "rejected": "avslått",
        "withdrawn": "trukket",
        "offboarded": "koblet fra",
    },
    "en": {
        "awaiting_confirmation": "awaiting email confirmation",
        "new": "new",
        "answered": "answered",
        "forwarded": "passed on",
        "waiting_for_reporter": "waiting for the reporter",
        "waiting_for_submitter": "waiting for the submitter",
        "acknowledged": "acknowledged by Bits",
        "awaiting_contact_confirmation": "awaiting the company's contacts",
        "registered": "registered – to be reviewed",
        "accepted": "accepted – awaiting the signed agreement",
        "agreement_signed": "agreement signed – awaiting test access",
        "test_access": "test access",
        "production_requested": "production requested",
        "in_production": "in production",
        "in_assessment": "with the expert committee",
        "awaiting_decision": "awaiting a decision",
        "approved": "approved – with NAV",
        "planned": "planned by NAV",
        "deferred": "deferred",
        "published": "published",
        "closed": "closed",
        "discarded": "discarded",
        "rejected": "rejected",
        "withdrawn": "withdrawn",
        "offboarded": "disconnected",
    },
}


def status_words(status: str, language: str) -> str:
    """A case status in words for Bits (the status itself, with underscores as spaces, if it has no words yet)."""
    return STATUS_NAMES["en" if language == "en" else "nb"].get(status, status.replace("_", " "))


@pass_context
def status_name(context: Context, status: str) -> str:
    """{{ status_name(case.status) }}: the status in words for Bits, in the page's or email's language."""
    return status_words(status, "en" if context.get("language") == "en" else "nb")


def _language(context: Context) -> str:
    return "en" if context.get("language") == "en" else "nb"


@pass_context
def words(context: Context, kind: str, code: object, joiner: str = ", ") -> str:
    """{{ words('severity', case.details.severity) }}: a code (or a list of codes) in the glossary's words, in the
    page's or email's language; a code without words shows as it is, its underscores as spaces; none as "–".
    `words('field', name)` is a field's name."""
    from .glossary import field_label, word  # the glossary builds on this module's names

    language = _language(context)
    codes = code if isinstance(code, list | tuple) else [code]
    if kind == "field":  # a field's name, as in the error lists of refused replies
        return joiner.join(field_label(str(c), language) for c in codes)
    said = [word(kind, c, language) or str(c).replace("_", " ") for c in codes if c not in (None, "")]
    return joiner.join(said) or "–"


@pass_context
def long_time_filter(context: Context, value: datetime | str | None) -> str:
    """{{ case.details.occurred_at | long_time }}: 30. november 2026 kl. 09.15 (nb), 30 November 2026, 09:15 (en),
    Oslo time; a datetime or an ISO string, "–" for none."""
    from .glossary import long_time

    if value in (None, ""):
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return long_time(moment, _language(context))


@pass_context
def long_date_filter(context: Context, value: date | str | None) -> str:
    """{{ case.details.desired_go_live | long_date }}: 1. januar 2027 (nb), 1 January 2027 (en); "–" for none."""
    from .glossary import long_date

    if value in (None, ""):
        return "–"
    day = date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return long_date(day, _language(context))


class Renderer:
    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["local_time"] = local_time
        self.env.globals["t"] = translate
        self.env.globals["process_name"] = process_name
        self.env.globals["status_name"] = status_name
        self.env.globals["words"] = words
        self.env.filters["long_time"] = long_time_filter
        self.env.filters["long_date"] = long_date_filter
        self.env.globals["language_switch_href"] = language_switch_href

    def page(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"forms/{name}.html").render(**context)

    def letter(self, name: str, language: str, reference: str, **context: Any) -> Letter:
        """Render emails/<language>/<name>.{txt,html}; the subject is the text template's `subject` block."""
        context = {"reference": reference, "language": language, **context}
        text_template = self.env.get_template(f"emails/{language}/{name}.txt")
        html_template = self.env.get_template(f"emails/{language}/{name}.html")
        subject = "".join(text_template.blocks["subject"](text_template.new_context(context))).strip()
        if f"[{reference}]" not in subject:
            raise ValueError(f"email template {language}/{name} has a subject without [{reference}]")
        # The HTML part's <title> is the subject (templates/base/email.html): what a reader's client shows for it.
        html = html_template.render(**context, email_subject=subject)
        return Letter(subject=subject, text=text_template.render(**context), html=html)
