"""One wording in forms and mails: "du" to a person and "dere" only to a company (or NAV), one name per service
(the glossary's), one name for the title field ("Tittel" / "Title")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.core.glossary import VALUES, pick
from functions.core.rendering import TEMPLATES_DIR
from tests.unit.test_mail_language import EMAILS, rendered

FORMS = sorted((TEMPLATES_DIR / "forms").glob("*.html"))
NB_MAILS = sorted((TEMPLATES_DIR / "emails" / "nb").glob("*.*"))
EVERY_TEMPLATE = sorted(p for p in TEMPLATES_DIR.rglob("*.*") if p.suffix in (".html", ".txt"))

# Mails to a company as a whole (every connected company's contacts) or to NAV as an organisation: "dere" is right.
TO_A_COMPANY = {"alert_notice", "alert_reminder", "change_notice", "change_request_to_nav"}
_YOU = re.compile(r"\b(du|deg|din|ditt|dine)\b", re.I)
_YOU_ALL = re.compile(r"\bdere\b", re.I)  # not "deres": that is "their" as often as "your"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", [p for p in NB_MAILS if p.stem not in TO_A_COMPANY], ids=lambda p: p.name)
def test_a_mail_to_one_person_says_du_never_dere(path: Path) -> None:
    assert not _YOU_ALL.search(_read(path))


@pytest.mark.parametrize("name", sorted(TO_A_COMPANY))
def test_a_mail_to_a_company_says_dere_and_never_du(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendered, footer and all: a notice to every contact of a company does not switch to "du" half-way."""
    letter = rendered(name, "nb", monkeypatch)
    for part in (letter.text, re.sub(r"<[^>]+>", " ", letter.html)):
        assert _YOU_ALL.search(part), "speaks to the company"
        assert not _YOU.search(part), _YOU.findall(part)


@pytest.mark.parametrize("name", EMAILS)
def test_no_rendered_mail_mixes_du_and_dere(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    letter = rendered(name, "nb", monkeypatch)
    for part in (letter.text, re.sub(r"<[^>]+>", " ", letter.html)):
        assert not (_YOU.search(part) and _YOU_ALL.search(part)), (_YOU.findall(part), _YOU_ALL.findall(part))


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_a_form_speaks_to_the_person_filling_it_in(path: Path) -> None:
    assert not _YOU_ALL.search(_read(path))


def test_the_disability_service_has_the_glossarys_one_name() -> None:
    """Not "Uføre" in one form and "Uføreopplysninger" in another: the service is the glossary's "Uføretrygd".
    "Syke- og uføreopplysninger fra NAV" is the scheme's own name, and "Uføre-API" the component's."""
    assert pick(VALUES["service"]["ufore"], "nb") == "Uføretrygd"
    for path in EVERY_TEMPLATE:
        text = re.sub(r"[Ss]yke- og uføreopplysninger", "", _read(path))
        assert not re.search(r"[Uu]føreopplysninger", text), path
        assert not re.search(r"\bUføre\b(?!-)", text), path
        assert "Disability data" not in text, path


def test_service_choices_use_the_glossarys_words() -> None:
    """A form's choice of service says what the glossary says, so that no form can drift from the others."""
    choices = [
        (path.name, code, label)
        for path in FORMS
        for code, label in re.findall(
            r"(?:\('|f\.choice\('services', ')(ufore|aap)',\s*(words\('service', '\w+'\)|[^,)]+)", _read(path)
        )
    ]
    assert {name for name, _, _ in choices} >= {"question.html", "change_request.html", "registration.html"}
    for name, code, label in choices:
        assert label == f"words('service', '{code}')", (name, code, label)


def test_the_title_field_is_tittel_in_every_form_and_mail() -> None:
    """One name for the case's title: "Tittel" / "Title". ("Emne" is left for an email's own subject line.)"""
    labels = {
        (path.name, nb, en)
        for path in FORMS
        for nb, en in re.findall(r"f\.input\('(?:title|subject)', t\('([^']*)', '([^']*)'\)", _read(path))
    }
    assert {name for name, _, _ in labels} >= {"question.html", "incident.html", "change_request.html"}
    assert {(nb, en) for _, nb, en in labels} == {("Tittel", "Title")}, labels
    for path in EVERY_TEMPLATE:
        text = _read(path)
        for wrong in ("Kort beskrivelse", "Kort tittel", "Short title", "Short description"):
            assert wrong not in text, (path, wrong)
        assert not re.search(r"(Emne|Subject)(:| ?</td><td>) ?\{\{ case\.title \}\}", text), path
