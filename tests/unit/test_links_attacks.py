"""Attacks on the rewriting of links in English mails (core/links.py): a link only our own pages' links move, and
never more of the text around it than the link itself; what a person wrote around a link reads as they wrote it."""

from __future__ import annotations

import re

from functions.catalogue import CATALOGUE
from functions.core.cases import confirm_submitter, submitter_proven
from functions.core.links import links_in_language
from functions.core.mail import Letter
from functions.core.model import Channel
from functions.core.signing import verify
from functions.onboarding import workflow as onboarding
from tests.fakes import fake_services
from tests.unit.test_no_relay_rules import confirm_link, registration

BASE = "https://ssu.example/api/"


def text(body: str) -> str:
    return links_in_language(Letter("s", body, ""), BASE, "en").text


def html(body: str) -> str:
    return links_in_language(Letter("s", "", body), BASE, "en").html


def test_a_link_in_norwegian_quotes_or_before_an_ellipsis_ends_at_the_quote() -> None:
    assert text("Se «https://ssu.example/api/status».") == "Se «https://ssu.example/api/status?lang=en»."
    assert text("“https://ssu.example/api/status”") == "“https://ssu.example/api/status?lang=en”"
    assert text("https://ssu.example/api/start…") == "https://ssu.example/api/start?lang=en…"


def test_an_escaped_quote_or_bracket_after_a_link_in_html_stays_as_it_was() -> None:
    # What a person typed around a link ("https://…", <https://…>) reaches the HTML escaped: the entity ends the link.
    assert html("<p>&#34;https://ssu.example/api/status&#34;</p>") == (
        "<p>&#34;https://ssu.example/api/status?lang=en&#34;</p>"
    )
    assert (
        html("<p>&lt;https://ssu.example/api/status&gt;</p>") == "<p>&lt;https://ssu.example/api/status?lang=en&gt;</p>"
    )
    assert (
        html("<p>https://ssu.example/api/status&nbsp;og</p>") == "<p>https://ssu.example/api/status?lang=en&nbsp;og</p>"
    )
    # The query's own &amp; is part of the link.
    assert html('<a href="https://ssu.example/api/s?a=1&amp;b=2">x</a>') == (
        '<a href="https://ssu.example/api/s?a=1&amp;b=2&amp;lang=en">x</a>'
    )


def test_a_link_elsewhere_that_contains_our_address_is_left_alone() -> None:
    foreign = "https://evil.example/?next=https://ssu.example/api/start"
    assert text(f"Se {foreign} nå") == f"Se {foreign} nå"
    assert (
        html(f'<a href="https://evil.example/{BASE}start">x</a>') == f'<a href="https://evil.example/{BASE}start">x</a>'
    )
    mailto = "mailto:x@y.example?body=https://ssu.example/api/start"
    assert text(mailto) == mailto


def test_a_signed_link_keeps_its_key_and_fragment() -> None:
    link = "https://ssu.example/api/case-page/SSU-D-2026-0001?k=eyJyIjoiU1NVIn0.abc-_"
    assert text(f"{link}#write") == f"{link}&lang=en#write"
    assert text(f"({link}).") == f"({link}&lang=en)."


async def test_only_the_submitter_is_mailed_the_link_that_writes_as_them() -> None:
    """An onboarding's news goes to its technical contacts (and Bits) too: their link follows the case, but the box
    writes as the submitter ("sent to the submitter's proven address"), so only the submitter's own link opens it."""
    services = fake_services()
    case = await onboarding.register(services, registration(), Channel.API)
    result = await confirm_submitter(
        services, await confirm_link(services, case.reference, case.submitter_email), CATALOGUE.intakes
    )
    assert result.case is not None and submitter_proven(result.case)

    def key_of(to: str) -> dict[str, object] | None:
        mail = onboarding.tell(services, result.case, to, "nb", "test-access", "test_access")  # type: ignore[arg-type]
        found = re.search(rf"/api/case-page/{re.escape(case.reference)}\?k=([\w.\-~%]+)", mail.text)
        assert found, mail.text
        return verify(services.settings.verification_keys, "case-page", found.group(1), services.clock.now())

    assert key_of(case.submitter_email) == {"r": case.reference}, "the submitter's own link writes"
    assert key_of("technical@victim.example") == {"r": case.reference, "p": "receipt"}, "another's only follows"
