"""Publishing terms over the in-memory ports: only valid versions ahead of today, a preview that stores and sends
nothing, the previewed content and nothing else published, the publisher recorded and given one receipt; the same
rules for a VILKÅR email."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest

from functions.core.forms import Refusal, SubmissionRefused
from functions.core.glossary import field_label
from functions.core.inbound import InboundMessage, Sender
from functions.core.model import Channel, Process
from functions.core.services import Services
from functions.terms import by_email, views
from functions.terms import workflow as terms
from functions.terms.models import TermsVersion, validate_terms, version_key
from functions.web.staff import StaffMember, require_staff
from tests.fakes import clock_of, fake_services

TODAY = date(2026, 11, 29)  # the fakes' clock: 29.11.2026 10:00 UTC
ADMIN = StaffMember("admin@bits.example", "Anne Admin", "oid-admin", frozenset({"admin"}))
OTHER_ADMIN = StaffMember("admin2@bits.example", "Ola Admin", "oid-admin2", frozenset({"admin"}))
COMPANIES = ["310000019", "310000027", "310000035", "310000043", "310000051"]
READERS = {
    "fag@demo-forsikring.example",
    "signatar@demo-forsikring.example",
    "teknisk@test-pensjon.example",
    "kari.nordmann@fjordtrygd.example",
    "ingrid@nordlys-forsikring.example",
    "per@vestkyst-pk.example",
}
BODY: dict[str, Any] = {
    "title": "Vilkår for Syke- og uføreopplysninger fra NAV",
    "version": "2.1",
    "effective_date": "2027-03-01",
    "summary": "Punkt 4 om logging er nytt.",
    "document_url": "https://bits.example/vilkar-2.1.pdf",
}


def version(**changes: Any) -> TermsVersion:
    terms_version, errors = validate_terms({**BODY, **changes}, TODAY, "nb")
    assert terms_version is not None, errors
    return terms_version


async def nothing_stored(services: Services) -> bool:
    return not await services.store.cases(Process.CHANGE_REQUEST) and not await services.store.due_mails(
        services.clock.now() + timedelta(days=400), 1000
    )


async def all_mails(services: Services, reference: str) -> list[Any]:
    due = await services.store.due_mails(services.clock.now() + timedelta(days=1), 1000)
    return [r.mail for r in due if r.mail.reference == reference]


# -- the rules -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["1", "2.0", "2.1.3", "10.20.300", "0.9"])
def test_a_version_is_up_to_three_numbers_with_dots(good: str) -> None:
    assert version(version=good).version == good


@pytest.mark.parametrize(
    "bad", ["to", "two", "v2", "2.", ".2", "2..0", "02.0", "1.2.3.4", "1000", "2,0", "2 0", "2.0-beta"]
)
def test_a_version_that_is_no_number_is_refused_with_a_message_in_both_languages(bad: str) -> None:
    for language, words in (("nb", "for eksempel 2.0"), ("en", "e.g. 2.0")):
        refused, errors = validate_terms({**BODY, "version": bad}, TODAY, language)
        assert refused is None and set(errors) == {"version"}
        assert words in errors["version"], errors


def test_2_and_2_0_are_one_version() -> None:
    assert version_key("2") == version_key("2.0") == version_key("2.0.0") != version_key("2.0.1")
    assert version_key("10") != version_key("1")


@pytest.mark.parametrize("day", [TODAY - timedelta(days=400), TODAY - timedelta(days=1), TODAY])
def test_an_effective_date_that_is_not_after_today_is_refused(day: date) -> None:
    refused, errors = validate_terms({**BODY, "effective_date": day.isoformat()}, TODAY, "nb")
    assert refused is None and set(errors) == {"effective_date"}
    assert "etter i dag" in errors["effective_date"]
    _, english = validate_terms({**BODY, "effective_date": day.isoformat()}, TODAY, "en")
    assert "after today" in english["effective_date"]
    assert validate_terms({**BODY, "effective_date": (TODAY + timedelta(days=1)).isoformat()}, TODAY, "nb")[0]


async def test_the_workflow_refuses_a_date_not_ahead_by_the_apps_clock_even_when_the_caller_did_not_check() -> None:
    services = fake_services()
    unchecked = TermsVersion.model_validate({**BODY, "effective_date": "2027-03-01"})  # no "today" in the context
    clock_of(services).at = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # the app's clock, not the machine's
    with pytest.raises(SubmissionRefused) as refused:
        await terms.publish_terms(services, unchecked, Channel.API, terms.Publisher(ADMIN.email, ADMIN.name))
    assert set(refused.value.errors) == {"effective_date"}
    assert await nothing_stored(services)


# -- preview ---------------------------------------------------------------------------------------------------------


async def test_the_preview_shows_every_company_its_people_and_the_mail_and_stores_nothing() -> None:
    services = fake_services()
    preview = await terms.preview_terms(services, version())
    assert [r.organisation.organisation_number for r in preview.companies] == COMPANIES
    assert {c.email for r in preview.companies for c in r.people} == READERS
    assert preview.recipient_count == 6
    nb, en = preview.samples  # one mail in each language the recipients read (Test Pensjon reads English)
    assert (nb.language, nb.company, nb.person) == ("nb", "Demo Forsikring ASA", "Sigurd Signatar")
    assert "Nye vilkår må aksepteres – versjon 2.1" in nb.letter.subject
    assert "Punkt 4 om logging er nytt." in nb.letter.text and "AKSEPTERT" in nb.letter.text
    assert (en.language, en.company) == ("en", "Test Pensjon AS") and "New terms to accept" in en.letter.subject
    assert await nothing_stored(services) and not services.transport.sent  # type: ignore[attr-defined]


# -- publishing ------------------------------------------------------------------------------------------------------


async def test_publishing_records_the_admin_and_queues_one_receipt_with_the_publication() -> None:
    services = fake_services()
    publisher = terms.Publisher(ADMIN.email, ADMIN.name)
    case = await terms.publish_terms(services, version(), Channel.FORM, publisher)
    assert (case.submitter_email, case.submitter_name) == (ADMIN.email, ADMIN.name)
    assert case.details["published_by"] == {"email": ADMIN.email, "name": ADMIN.name}
    [first, *told] = await services.store.events(case.reference)
    assert (first.kind, first.actor, first.data["published_by"]["name"]) == ("received", ADMIN.email, ADMIN.name)
    assert {e.actor for e in told} == {ADMIN.email} and len(told) == len(COMPANIES)
    mails = await all_mails(services, case.reference)
    [receipt] = [m for m in mails if m.to == ADMIN.email]
    assert receipt.purpose == "terms-receipt" and "Kvittering" in receipt.subject
    assert "6 mottakere i 5 virksomheter" in receipt.text
    assert f"/api/terms/{case.reference}" in receipt.text
    assert {m.to for m in mails if m.purpose.startswith("terms-published")} == READERS

    again = await terms.publish_terms(services, version(), Channel.FORM, publisher)  # a retry of the same
    assert again.reference == case.reference
    assert [m.to for m in await all_mails(services, case.reference)].count(ADMIN.email) == 1, "one receipt"


async def test_the_receipt_is_in_the_same_write_as_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that stops right after the version was stored has already queued the receipt (and a retry tells the
    companies it did not reach)."""
    services = fake_services()

    async def crash(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("storage went away")

    monkeypatch.setattr(terms, "_tell", crash)
    with pytest.raises(ConnectionError):
        await terms.publish_terms(services, version(), Channel.API, terms.Publisher(ADMIN.email, ADMIN.name))
    monkeypatch.undo()
    [case] = await services.store.cases(Process.CHANGE_REQUEST)
    assert [m.to for m in await all_mails(services, case.reference)] == [ADMIN.email]
    await terms.publish_terms(services, version(), Channel.API, terms.Publisher(ADMIN.email, ADMIN.name))
    assert len(await all_mails(services, case.reference)) == 7


async def test_a_version_number_already_published_is_refused_not_folded_into_the_first() -> None:
    services = fake_services()
    first = await terms.publish_terms(
        services, version(version="2"), Channel.API, terms.Publisher("a@bits.example", "A")
    )
    for number in ("2", "2.0", "2.0.0"):
        with pytest.raises(SubmissionRefused) as refused:
            await terms.publish_terms(
                services, version(version=number, summary="Noe annet."), Channel.API, terms.Publisher(ADMIN.email, "B")
            )
        assert refused.value.why == Refusal.CONFLICT and refused.value.reference == first.reference
        assert "allerede publisert" in refused.value.errors["version"]
    for shown in (version(version="2.0", summary="Noe annet."), version(version="2")):
        with pytest.raises(SubmissionRefused):  # a preview of a number taken, even with the very same content
            await terms.preview_terms(services, shown)
    assert len(await services.store.cases(Process.CHANGE_REQUEST)) == 1
    assert len(await all_mails(services, first.reference)) == 7, "the first version's mails and receipt, no more"


# -- the web side ----------------------------------------------------------------------------------------------------


def principal(email: str, roles: list[str], name: str = "Navn") -> str:
    claims = [{"typ": "preferred_username", "val": email}, {"typ": "name", "val": name}]
    claims += [{"typ": "roles", "val": role} for role in roles]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()


def request(
    method: str = "GET",
    *,
    json_body: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    cookie: str = "",
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    all_headers = dict(headers or {})
    body = b""
    if json_body is not None:
        body, all_headers["content-type"] = json.dumps(json_body).encode(), "application/json"
    if form is not None:
        body, all_headers["content-type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
    if cookie:
        all_headers["cookie"] = cookie
    return func.HttpRequest(
        method, "http://localhost:7071/api/terms", headers=all_headers, params=params or {}, body=body
    )


def page(response: func.HttpResponse) -> str:
    return response.get_body().decode()


async def test_the_staff_rule_of_the_trigger_lets_only_an_admin_through() -> None:
    services = fake_services(platform_auth_enabled=True)
    assert require_staff(request("POST", json_body=BODY), services.settings, "admin").status_code == 401  # type: ignore[union-attr]
    for role in ("support", "approver"):
        headers = {"x-ms-client-principal": principal("support@bits.example", [role])}
        answer = require_staff(request("POST", json_body=BODY, headers=headers), services.settings, "admin")
        assert isinstance(answer, func.HttpResponse) and answer.status_code == 403
    headers = {"x-ms-client-principal": principal(ADMIN.email, ["admin"], ADMIN.name)}
    member = require_staff(request("POST", json_body=BODY, headers=headers), services.settings, "admin")
    assert isinstance(member, StaffMember) and (member.email, member.name) == (ADMIN.email, ADMIN.name)


async def test_json_preview_returns_companies_and_mail_and_stores_nothing() -> None:
    services = fake_services()
    for answer in (
        await views.publish_page(request("POST", json_body={**BODY, "preview": True}), services, ADMIN),
        await views.publish_page(request("POST", json_body=BODY, params={"preview": "1"}), services, ADMIN),
    ):
        assert answer.status_code == 200
        shown = json.loads(answer.get_body())
        assert [c["organisation_number"] for c in shown["companies"]] == COMPANIES
        assert {p["email"] for c in shown["companies"] for p in c["recipients"]} == READERS
        assert shown["recipient_count"] == 6 and shown["published_by"]["email"] == ADMIN.email
        assert "Punkt 4 om logging er nytt." in shown["mails"][0]["text"]
    assert await nothing_stored(services)
    wrong = await views.publish_page(request("POST", json_body={**BODY, "preview": "yes"}), services, ADMIN)
    assert wrong.status_code == 422 and "preview" in json.loads(wrong.get_body())["errors"]
    in_query = await views.publish_page(request("POST", json_body=BODY, params={"preview": "yes"}), services, ADMIN)
    assert in_query.status_code == 422 and "preview" in json.loads(in_query.get_body())["errors"]
    assert await nothing_stored(services), "a preview asked in the wrong words publishes nothing"


async def test_json_publish_answers_201_and_refusals_say_which_field() -> None:
    services = fake_services()
    bad = await views.publish_page(request("POST", json_body={**BODY, "version": "to"}), services, ADMIN)
    assert bad.status_code == 422 and set(json.loads(bad.get_body())["errors"]) == {"version"}
    past = await views.publish_page(
        request("POST", json_body={**BODY, "effective_date": "2026-11-28"}), services, ADMIN
    )
    assert past.status_code == 422 and set(json.loads(past.get_body())["errors"]) == {"effective_date"}
    claimed = await views.publish_page(request("POST", json_body={**BODY, "email": "x@evil.example"}), services, ADMIN)
    assert claimed.status_code == 422, "the publisher is the signed-in admin, never a field"
    assert await nothing_stored(services)

    created = await views.publish_page(request("POST", json_body=BODY), services, ADMIN)
    assert created.status_code == 201
    reference = json.loads(created.get_body())["reference"]
    stored = await services.store.load(reference)
    assert stored is not None and stored.case.submitter_email == ADMIN.email
    taken = await views.publish_page(request("POST", json_body={**BODY, "summary": "Annet."}), services, ADMIN)
    assert taken.status_code == 409
    assert (
        json.loads(taken.get_body())["reference"] == reference and "version" in json.loads(taken.get_body())["errors"]
    )


async def browser_preview(services: Services, body: dict[str, str], admin: StaffMember = ADMIN) -> tuple[str, str]:
    """The form's cookie and the preview page the admin gets for `body`."""
    form = await views.publish_page(request(), services, admin)
    cookie = form.headers["Set-Cookie"].split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page(form))
    assert token
    shown = await views.publish_page(
        request("POST", form={**body, "csrf_token": token.group(1), "website": "", "action": "preview"}, cookie=cookie),
        services,
        admin,
    )
    assert shown.status_code == 200, page(shown)
    return cookie, page(shown)


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


async def test_the_browser_previews_then_publishes_exactly_what_was_previewed() -> None:
    services = fake_services()
    cookie, shown = await browser_preview(services, BODY)
    assert "Forhåndsvisning" in shown and "Anne Admin" in shown
    for number in COMPANIES:
        assert f'data-organisation="{number}"' in shown
    for address in READERS:
        assert address in shown
    assert "Nye vilkår må aksepteres – versjon 2.1" in shown and "Punkt 4 om logging er nytt." in shown
    assert await nothing_stored(services), "the preview stores and mails nothing"

    fields = hidden_fields(shown)
    # Changing what was previewed (here the link) is not publishing it: the admin sees the new preview first.
    tampered = {**fields, "document_url": "https://evil.example/vilkar.pdf", "action": "publish"}
    again = await views.publish_page(request("POST", form=tampered, cookie=cookie), services, ADMIN)
    assert again.status_code == 409 and "evil.example" in page(again) and "endret" in page(again)
    # Another admin cannot publish with this admin's preview.
    other = await views.publish_page(
        request("POST", form={**fields, "action": "publish"}, cookie=cookie), services, OTHER_ADMIN
    )
    assert other.status_code == 409
    # Without the form's cookie (a forged cross-site post) nothing happens.
    forged = await views.publish_page(request("POST", form={**fields, "action": "publish"}), services, ADMIN)
    assert forged.status_code == 403
    assert await nothing_stored(services)

    published = await views.publish_page(
        request("POST", form={**fields, "action": "publish"}, cookie=cookie), services, ADMIN
    )
    assert published.status_code == 303 and "receipt=1" in published.headers["Location"]
    [case] = await services.store.cases(Process.CHANGE_REQUEST)
    assert case.details["document_url"] == BODY["document_url"] and case.submitter_email == ADMIN.email
    twice = await views.publish_page(
        request("POST", form={**fields, "action": "publish"}, cookie=cookie), services, ADMIN
    )
    assert twice.status_code == 303, "a double click is the same publication"
    assert len(await services.store.cases(Process.CHANGE_REQUEST)) == 1
    assert [m.to for m in await all_mails(services, case.reference)].count(ADMIN.email) == 1


async def test_a_preview_expires() -> None:
    services = fake_services()
    cookie, shown = await browser_preview(services, BODY)
    clock_of(services).advance(minutes=views.PREVIEW_MINUTES + 1)
    late = await views.publish_page(
        request("POST", form={**hidden_fields(shown), "action": "publish"}, cookie=cookie), services, ADMIN
    )
    assert late.status_code == 409 and "utløpt" in page(late)
    assert await nothing_stored(services)


async def test_the_browser_form_shows_errors_by_the_fields_and_keeps_the_values() -> None:
    services = fake_services()
    form = await views.publish_page(request(), services, ADMIN)
    cookie = form.headers["Set-Cookie"].split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page(form))
    assert token
    body = {**BODY, "version": "to", "effective_date": "2026-01-01", "csrf_token": token.group(1), "action": "preview"}
    answer = await views.publish_page(request("POST", form=body, cookie=cookie), services, ADMIN)
    html = page(answer)
    assert answer.status_code == 422
    assert 'id="version-error"' in html and "for eksempel 2.0 eller 2.1.3" in html
    assert 'id="effective_date-error"' in html and "etter i dag" in html
    assert 'value="to"' in html
    english = await views.publish_page(
        request("POST", form={**body, "language": "en"}, cookie=cookie, params={"lang": "en"}), services, ADMIN
    )
    assert "e.g. 2.0 or 2.1.3" in page(english) and "after today" in page(english)
    assert await nothing_stored(services)


# -- by email --------------------------------------------------------------------------------------------------------


def vilkar(body: str, *, proven: bool = True) -> InboundMessage:
    return InboundMessage(
        message_id="<vilkar-1@bits.example>",
        sender=Sender("support@bits.example", "Bits brukerstøtte", proven, "dmarc=pass (aligned)"),
        to=("ssu@bits.example",),
        cc=(),
        delivered_to=(),
        subject="VILKÅR",
        in_reply_to=(),
        references=(),
        text=body,
        new_text=body,
        attachments=(),
        headers={},
    )


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ("versjon: to\ngjelder fra: 1.3.2027", "version"),
        ("versjon: 2.5\ngjelder fra: 1.3.2026", "effective_date"),
        ("versjon: 2.5\ngjelder fra: 29.11.2026", "effective_date"),
    ],
)
async def test_a_vilkar_email_with_a_bad_version_or_date_is_refused_and_bits_told_why(lines: str, field: str) -> None:
    services = fake_services()
    body = f"{lines}\nlenke: https://bits.example/vilkar.pdf\n\nNytt punkt om logging."
    outcome = await by_email.publish_by_email(services, vilkar(body), [], ["key-1"])
    assert outcome.status == "refused" and field in outcome.reason
    [case] = await services.store.cases(Process.CHANGE_REQUEST)
    assert case.status == "closed" and set(case.details["errors"]) == {field}
    [told] = await all_mails(services, case.reference)
    # Bits is told the field by its name, as the lines to write begin ("Versjon", "Gjelder fra"), not its code.
    label = field_label(field, "nb")
    assert told.to == "support@bits.example" and "ikke publisert" in told.subject and f"  {label}: " in told.text
    assert field not in told.text


async def test_a_vilkar_email_publishes_with_its_sender_as_publisher_and_a_receipt_in_the_thread() -> None:
    services = fake_services()
    body = "versjon: 2.5\ngjelder fra: 1.3.2027\nlenke: https://bits.example/vilkar.pdf\n\nNytt punkt om logging."
    outcome = await by_email.publish_by_email(services, vilkar(body), [], ["key-1"])
    assert outcome.status == "new_case" and outcome.reference
    [receipt] = [m for m in await all_mails(services, outcome.reference) if m.purpose == "terms-receipt"]
    assert receipt.to == "support@bits.example" and receipt.in_reply_to == "<vilkar-1@bits.example>"
    other = "versjon: 2.5.0\ngjelder fra: 1.4.2027\nlenke: https://evil.example/vilkar.pdf\n\nAnnet."
    refused = await by_email.publish_by_email(services, vilkar(other), [], ["key-2"])
    assert refused.status == "refused" and "version" in refused.reason, "a number already published is not reused"
