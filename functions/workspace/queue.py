"""Bits' work queue: every open case as a row in the words Bits works by, the filters and search over the rows, the
page and the CSV download of the list."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import azure.functions as func

from ..core.deadlines import WHOSE_MOVES, OpenCase, WhoseMove, open_cases
from ..core.model import Case, CaseEvent, Process
from ..core.registry import Registry
from ..core.rendering import OSLO, PROCESS_NAMES, local_time, status_words
from ..core.services import Services
from ..core.store import StorageUnavailable
from ..web.http import SECURITY_HEADERS, html_response, requested_language

QUEUE_PATH = "/api/bits"
CASE_PATH = "/api/bits/cases/"  # the case view; a row links to CASE_PATH + reference
ENVIRONMENTS = ("test", "production", "both")

MOVE_NAMES: dict[str, dict[str, str]] = {
    "nb": {
        "bits": "Bits",
        "insurer": "Forsikringsselskapet",
        "sources": "NAV/Altinn/Digdir",
        "committee": "Fagutvalget",
        "approver": "En godkjenner",
    },
    "en": {
        "bits": "Bits",
        "insurer": "The insurer",
        "sources": "NAV/Altinn/Digdir",
        "committee": "The expert committee",
        "approver": "An approver",
    },
}
ENVIRONMENT_NAMES: dict[str, dict[str, str]] = {
    "nb": {"test": "test", "production": "produksjon", "both": "test og produksjon"},
    "en": {"test": "test", "production": "production", "both": "test and production"},
}
UNKNOWN_COMPANY = {"nb": "ukjent", "en": "unknown"}

_ORGANISATION_NUMBER = re.compile(r"^\d{9}$")
_STATUS = re.compile(r"^[a-z_]{1,40}$")
_MAX_QUERY = 200  # characters of a search; more is no search a person types
_MAX_EVENT_TEXT = 20_000  # characters of the first event's text the search reads


@dataclass(frozen=True)
class QueueRow:
    """One open case as the queue shows it (codes kept, so that filters compare codes and the page says words)."""

    reference: str
    process: Process
    breach: bool
    company: str  # the registry's legal name, else the organisation number, else "" (shown as unknown)
    organisation_number: str
    title: str
    status: str
    environment: str | None
    whose_move: WhoseMove
    due: datetime | None  # the response target that falls due next; None where no target runs
    overdue: bool
    created_at: datetime
    searchable: str  # what the search reads: reference, company, number, title, the first event's text (folded)


def company_name(registry: Registry, organisation_number: str) -> str:
    """The legal name the registry has for the number (a company, NAV/Altinn/Digdir, or Bits), else the number."""
    if organisation := registry.organisation(organisation_number):
        return organisation.legal_name
    source = next((s for s in registry.sources.values() if s.organisation_number == organisation_number), None)
    if source is not None:
        return source.name
    if registry.bits is not None and registry.bits.organisation_number == organisation_number:
        return "Bits"
    return organisation_number


def fold(text: str) -> str:
    """Text as the search compares it: compatibility forms unified, case ignored."""
    return unicodedata.normalize("NFKC", text).casefold()


def _first_text(events: Iterable[CaseEvent]) -> str:
    """The text the case opened with (the form's or email's words), from its first event."""
    first = next(iter(events), None)
    if first is None:
        return ""
    texts = [v for v in first.data.values() if isinstance(v, str)]
    return " ".join(texts)[:_MAX_EVENT_TEXT]


def queue_row(open_case: OpenCase, registry: Registry) -> QueueRow:
    case: Case = open_case.case
    company = company_name(registry, case.organisation_number) if case.organisation_number else ""
    searchable = fold(
        " ".join((case.reference, company, case.organisation_number, case.title, _first_text(open_case.events)))
    )
    return QueueRow(
        reference=case.reference,
        process=case.process,
        breach=case.kind == "security_breach",
        company=company,
        organisation_number=case.organisation_number,
        title=case.title,
        status=case.status,
        environment=case.environment,
        whose_move=open_case.whose_move,
        due=open_case.due,
        overdue=open_case.overdue,
        created_at=case.created_at,
        searchable=searchable,
    )


def queue_order(rows: Iterable[QueueRow]) -> list[QueueRow]:
    """Security breaches first, then overdue cases, then by the due time (cases without a target after those with
    one), then the oldest first."""
    far = datetime.max.replace(tzinfo=OSLO)
    return sorted(rows, key=lambda r: (not r.breach, not r.overdue, r.due or far, r.created_at, r.reference))


async def work_queue(services: Services, now: datetime) -> list[QueueRow]:
    """Every open case of every process as a queue row, in the queue's order."""
    registry = await services.registry()
    return queue_order(queue_row(found, registry) for found in await open_cases(services, now))


@dataclass(frozen=True)
class QueueFilters:
    """What the query string asks of the queue. A value that is no such thing (an unknown process, a malformed
    number) is dropped, so a mistyped bookmark shows more rather than fails."""

    process: Process | None = None
    company: str = ""  # an organisation number
    status: str = ""
    move: WhoseMove | None = None
    overdue: bool = False
    environment: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> QueueFilters:
        process = params.get("process", "").strip().upper()
        company = re.sub(r"\s", "", params.get("company", ""))
        status = params.get("status", "").strip()
        move = params.get("move", "").strip()
        environment = params.get("environment", "").strip()
        return cls(
            process=Process(process) if process in {p.value for p in Process} else None,
            company=company if _ORGANISATION_NUMBER.match(company) else "",
            status=status if _STATUS.match(status) else "",
            move=next((m for m in WHOSE_MOVES if m == move), None),
            overdue=params.get("overdue", "") in ("1", "on", "true", "yes"),
            environment=environment if environment in ENVIRONMENTS else "",
            q=" ".join(params.get("q", "")[:_MAX_QUERY].split()),
        )

    def matches(self, row: QueueRow) -> bool:
        """Every filter given holds, and every word of the search is found in the row's searchable text."""
        if self.process is not None and row.process != self.process:
            return False
        if self.company and row.organisation_number != self.company:
            return False
        if self.status and row.status != self.status:
            return False
        if self.move is not None and row.whose_move != self.move:
            return False
        if self.overdue and not row.overdue:
            return False
        if self.environment and row.environment != self.environment:
            return False
        return all(word in row.searchable for word in fold(self.q).split())

    def apply(self, rows: Iterable[QueueRow]) -> list[QueueRow]:
        return [row for row in rows if self.matches(row)]

    @property
    def any(self) -> bool:
        return self != QueueFilters()

    def query(self, **extra: str) -> str:
        """The query string of these filters (and `extra`, e.g. the language or the format), for links."""
        pairs = {
            "process": self.process.value if self.process else "",
            "company": self.company,
            "status": self.status,
            "move": self.move or "",
            "overdue": "1" if self.overdue else "",
            "environment": self.environment,
            "q": self.q,
            **extra,
        }
        return urlencode({k: v for k, v in pairs.items() if v})


# -- words ------------------------------------------------------------------------------------------------------------


def row_words(row: QueueRow, language: str) -> dict[str, str]:
    """A row's cells in words, in `language` (the page and the CSV say the same)."""
    lang = "en" if language == "en" else "nb"
    return {
        "reference": row.reference,
        "process": PROCESS_NAMES[lang][row.process.value],
        "company": row.company or UNKNOWN_COMPANY[lang],
        "organisation_number": row.organisation_number,
        "title": row.title,
        "status": status_words(row.status, lang),
        "environment": ENVIRONMENT_NAMES[lang].get(row.environment or "", "–"),
        "whose_move": MOVE_NAMES[lang][row.whose_move],
        "due": local_time(row.due) if row.due else "",
        "overdue": ("forfalt" if lang == "nb" else "overdue") if row.overdue else "",
        "breach": ("sikkerhetsbrudd" if lang == "nb" else "security breach") if row.breach else "",
    }


CSV_COLUMNS: dict[str, tuple[str, str]] = {
    "reference": ("Saksnummer", "Reference"),
    "process": ("Prosess", "Process"),
    "breach": ("Sikkerhetsbrudd", "Security breach"),
    "company": ("Virksomhet", "Company"),
    "organisation_number": ("Organisasjonsnummer", "Organisation number"),
    "title": ("Tittel", "Title"),
    "status": ("Status", "Status"),
    "environment": ("Miljø", "Environment"),
    "whose_move": ("Hvem sin tur", "Whose move"),
    "due": ("Frist (Oslo-tid)", "Due (Oslo time)"),
    "overdue": ("Forfalt", "Overdue"),
}
# A spreadsheet reads a cell starting with one of these as a formula (or, after tab or CR, may): such a cell gets a
# leading apostrophe, so that it stays text (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def queue_csv(rows: Iterable[QueueRow], language: str) -> str:
    """The rows as CSV (RFC 4180, a byte-order mark so that spreadsheets read UTF-8), every cell formula-safe."""
    index = 1 if language == "en" else 0
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(names[index]) for names in CSV_COLUMNS.values()])
    for row in rows:
        words = row_words(row, language)
        writer.writerow([spreadsheet_safe(words[column]) for column in CSV_COLUMNS])
    return out.getvalue()


# -- the answer -------------------------------------------------------------------------------------------------------


def _options(rows: list[QueueRow], filters: QueueFilters, language: str) -> dict[str, Any]:
    """The choices of the filter form: the processes, and the companies and statuses the open cases have (with the
    one asked for, even if no open case has it now)."""
    lang = "en" if language == "en" else "nb"
    companies = {row.organisation_number: row.company for row in rows if row.organisation_number}
    if filters.company:
        companies.setdefault(filters.company, filters.company)
    statuses = {row.status for row in rows} | ({filters.status} if filters.status else set())
    return {
        "processes": [(p.value, PROCESS_NAMES[lang][p.value]) for p in Process],
        "companies": sorted(companies.items(), key=lambda item: fold(item[1])),
        "statuses": sorted(((s, status_words(s, lang)) for s in statuses), key=lambda item: item[1]),
        "moves": [(m, MOVE_NAMES[lang][m]) for m in WHOSE_MOVES],
        "environments": [(e, ENVIRONMENT_NAMES[lang][e]) for e in ENVIRONMENTS],
    }


async def queue_response(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    """The queue for the request's filters and search: the page, or with `format=csv` the list as a download."""
    language = requested_language(req)
    filters = QueueFilters.from_query(req.params)
    now = services.clock.now()
    try:
        every = await work_queue(services, now)
    except StorageUnavailable:
        return html_response(services.renderer.page("unavailable", language=language), 503)
    rows = filters.apply(every)
    if req.params.get("format") == "csv":
        day = now.astimezone(OSLO).strftime("%Y-%m-%d")
        name = f"{'work-queue' if language == 'en' else 'arbeidsko'}-{day}.csv"
        return func.HttpResponse(
            queue_csv(rows, language),
            status_code=200,
            mimetype="text/csv",
            charset="utf-8",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
                "Cache-Control": "no-store",
            },
        )
    other = "nb" if language == "en" else "en"
    page = services.renderer.env.get_template("workspace/queue.html").render(
        language=language,
        rows=[(row, row_words(row, language)) for row in rows],
        total=len(every),
        filters=filters,
        options=_options(every, filters, language),
        csv_query=filters.query(**({"lang": "en"} if language == "en" else {}), format="csv"),
        switch_query=filters.query(**({"lang": other} if other == "en" else {"lang": "nb"})),
        reset_query="lang=en" if language == "en" else "",
        case_path=CASE_PATH,
        case_query="?lang=en" if language == "en" else "",
        now=now,
    )
    return html_response(page, headers={"Cache-Control": "no-store"})
