"""Mail in its reader's language: English mails link English pages without touching the signed parameters, and every
HTML email has its subject as <title> (every template rendered, with the sample data of test_pure_parts)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.core.links import links_in_language, with_language
from functions.core.mail import Letter
from functions.core.page_address import language_switch_href, note_page_query
from functions.core.rendering import TEMPLATES_DIR, Renderer
from functions.core.signing import verify
from tests.fakes import fake_services
from tests.unit import test_pure_parts

BASE = "http://localhost/api/"
EMAILS = sorted(p.stem for p in (TEMPLATES_DIR / "emails" / "nb").glob("*.txt"))


def rendered(name: str, language: str, monkeypatch: pytest.MonkeyPatch) -> Letter:
    """The letter test_pure_parts renders for the template, with its sample data (one set for every template)."""
    letters: list[Letter] = []

    class Keeping(Renderer):
        def letter(self, *args: Any, **kwargs: Any) -> Letter:
            letters.append(super().letter(*args, **kwargs))
            return letters[-1]

    monkeypatch.setattr(test_pure_parts, "Renderer", Keeping)
    test_pure_parts.test_every_email_renders_with_reference_in_subject_and_escaped_html(name, language)
    [letter] = letters
    return letter


@pytest.mark.parametrize("language", ["nb", "en"])
@pytest.mark.parametrize("name", EMAILS)
def test_every_html_email_has_its_subject_as_title(name: str, language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    letter = rendered(name, language, monkeypatch)
    titles = re.findall(r"<title>(.*?)</title>", letter.html, re.S)
    assert len(titles) == 1, titles
    assert unescape(titles[0]) == letter.subject and "<" not in titles[0], "the subject, escaped as HTML text"


@pytest.mark.parametrize("name", EMAILS)
def test_every_english_email_links_our_pages_in_english(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    english = links_in_language(rendered(name, "en", monkeypatch), BASE, "en")
    for part in (english.text, english.html):
        for link in re.findall(re.escape(BASE) + r"[^\s\"'<>]*", part):
            assert parse_qs(urlsplit(link.replace("&amp;", "&")).query).get("lang") == ["en"], link
    norwegian = rendered(name, "nb", monkeypatch)
    assert links_in_language(norwegian, BASE, "nb") == norwegian, "nb is the pages' default: nothing added"


@pytest.mark.parametrize(
    ("url", "html", "expected"),
    [
        (f"{BASE}questions", False, f"{BASE}questions?lang=en"),
        (f"{BASE}case-page/R?k=abc.def", False, f"{BASE}case-page/R?k=abc.def&lang=en"),
        (f"{BASE}status/feed.atom?org=1&amp;k=x", True, f"{BASE}status/feed.atom?org=1&amp;k=x&amp;lang=en"),
        (f"{BASE}status#SSU-B-2026-0001", False, f"{BASE}status?lang=en#SSU-B-2026-0001"),
        (f"{BASE}bits?lang=nb", False, f"{BASE}bits?lang=nb"),  # a language chosen stays
    ],
)
def test_with_language(url: str, html: bool, expected: str) -> None:
    assert with_language(url, "en", html=html) == expected
    assert with_language(url, "nb", html=html) == url


def test_links_elsewhere_and_sentence_ends_are_left_alone() -> None:
    text = (
        f"Bestill på {BASE}onboarding/production. Se https://nav.example/api/x og "
        f"http://localhost.evil.example/api/questions, eller skriv til mailto:ssu@bits.example."
    )
    english = links_in_language(Letter("s", text, f'<a href="{BASE}terms-accept?k=a&amp;b">x</a>'), BASE, "en")
    assert f"{BASE}onboarding/production?lang=en. Se https://nav.example/api/x og" in english.text
    assert "http://localhost.evil.example/api/questions," in english.text
    assert english.html == f'<a href="{BASE}terms-accept?k=a&amp;b&amp;lang=en">x</a>'


def test_the_english_case_link_still_verifies_and_names_its_case_only() -> None:
    services = fake_services()
    link = services.case_page_link("SSU-D-2026-0042", "en")
    query = parse_qs(urlsplit(link).query)
    assert query["lang"] == ["en"]
    payload = verify(services.settings.verification_keys, "case-page", query["k"][0], services.clock.now())
    assert payload is not None and payload.get("r") == "SSU-D-2026-0042"
    assert services.case_page_link("SSU-D-2026-0042") == link.removesuffix("&lang=en")


def test_compose_gives_english_mail_english_links() -> None:
    services = fake_services()
    case = test_pure_parts.sample_case()
    link = services.case_page_link(case.reference)
    mail = services.compose(
        reference=case.reference,
        purpose="acknowledgement",
        to=case.submitter_email,
        template="question_received",
        language="en",
        case=case,
        text={"question": "q"},
        case_link=link,
        organisation_name="Demo",
        identity_numbers_removed=0,
        max_mb=10,
    )
    assert f"{link}&lang=en" in mail.text and f"{link}&amp;lang=en" in mail.html
    assert "#" not in mail.subject


def test_the_language_switch_keeps_the_query_and_sets_only_lang() -> None:
    note_page_query({"k": "a.b", "receipt": "1", "lang": "nb", "LANG": "xx"})
    assert language_switch_href("en") == "?k=a.b&receipt=1&lang=en"
    assert language_switch_href("nb") == "?k=a.b&receipt=1&lang=nb"
    note_page_query({"x": '"><script>'})
    assert language_switch_href("en") == "?x=%22%3E%3Cscript%3E&lang=en"
