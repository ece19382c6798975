"""An address typed into a form or a JSON body proves nothing, a registered contact's neither: the reviewer's attacks
(a breach "from" the company's security contact paging NAV, a question "from" its technical contact mailing them a
receipt with the attacker's subject, the JSON answer telling contacts from strangers), each now doing no harm; the
remembered address of a browser that confirmed by the link, and what does not count as one; a breach over a rate
limit, taken without mail to the address; the production form's one answer for everyone."""

from __future__ import annotations

import email
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
import pytest

from functions.core.signing import sign
from functions.devhost.azurite import Azurite
from functions.incidents.security import SECURITY_BREACH_FORM
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import (
    QUESTION,
    case_json,
    confirm_address,
    dispatch,
    mails_to,
    new_organisation_number,
    outbox_mails,
    plain,
    reference_of,
    remembered,
    reply,
    sign_in,
    submit_form,
)

BREACH: dict[str, Any] = dict(SECURITY_BREACH_FORM.example or {})
SECURITY_CONTACT = "sikkerhet@demo-forsikring.example"  # the demo company's registered security contact
TECHNICAL_CONTACT = "teknisk@demo-forsikring.example"  # and its technical contact
BITS_SECURITY = "sikkerhet@bits.example"
NAV_SECURITY = "sikkerhet@nav.example"
UNCONFIRMED = "Avsenderen er ikke bekreftet"
PHISHING = "Fakturaen er forfalt: logg inn på https://bits-betaling.evil.example"
ATTACK = "HASTER: NAV må stenge uføre-API-et nå. Ring 99 88 77 66 (angriperen)."
NEUTRAL = "Bekreft e-postadressen"


def neutral_only(host: DevHostProcess, reference: str, address: str, *typed: str) -> EmailMessage:
    """The one mail `address` got on the case: the neutral confirmation request, with none of the `typed` text."""
    mails = mails_to(host, reference, address)
    assert [NEUTRAL in str(m["Subject"]) for m in mails] == [True], [str(m["Subject"]) for m in mails]
    whole = mails[0].as_string() + plain(mails[0])
    for text in typed:
        assert text not in whole and text[:30] not in whole, text
    return mails[0]


def everything_to(host: DevHostProcess, address: str) -> list[str]:
    """The subjects of every mail the dev host sent `address`, on any case."""
    dispatch(host)
    folder = host.mail_dir / "outbox"
    mails = [email.message_from_bytes(p.read_bytes(), policy=default) for p in sorted(folder.glob("*.eml"))]
    return [str(m["Subject"]) for m in mails if str(m["To"]) == address]


def post_question(host: DevHostProcess, browser: httpx.Client, body: dict[str, Any]) -> str:
    """A question sent from `browser` as a person sends it (form page, CSRF token, form post): its reference."""
    return reference_of(submit_form(host, "questions", body, browser=browser))


# -- the reviewer's attacks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["json", "browser"])
def test_a_breach_typed_as_the_security_contact_pages_no_one_at_nav(devhost: DevHostProcess, channel: str) -> None:
    forged = {**BREACH, "email": SECURITY_CONTACT, "name": "Siri Sikker", "description": ATTACK}
    if channel == "json":
        response = httpx.post(f"{devhost.url}/api/incidents/security", json=forged)
        assert response.status_code == 201 and response.json()["status"] == "new", response.text
        reference = response.json()["reference"]
    else:
        reference = reference_of(submit_form(devhost, "incidents/security", forged))  # a browser, never confirmed
    case = case_json(devhost, reference)["case"]
    assert case["status"] == "new" and case["submitter_verified"] is False, "Bits has it at once, unverified"
    assert mails_to(devhost, reference, NAV_SECURITY) == [], "NAV's security contacts are not paged"
    [alert] = mails_to(devhost, reference, BITS_SECURITY)
    assert "HASTER" in str(alert["Subject"]) and UNCONFIRMED in plain(alert) and ATTACK in plain(alert)
    neutral_only(devhost, reference, SECURITY_CONTACT, ATTACK, BREACH["data_categories"])


@pytest.mark.parametrize("channel", ["json", "browser"])
def test_a_question_typed_as_the_technical_contact_mails_them_only_the_neutral_request(
    devhost: DevHostProcess, channel: str
) -> None:
    forged = {**QUESTION, "email": TECHNICAL_CONTACT, "name": "Tore Teknisk", "subject": PHISHING, "question": ATTACK}
    if channel == "json":
        response = httpx.post(f"{devhost.url}/api/questions", json=forged)
        assert response.status_code == 201, response.text
        reference = response.json()["reference"]
    else:
        reference = reference_of(submit_form(devhost, "questions", forged))
    case = case_json(devhost, reference)["case"]
    assert (case["status"], case["submitter_verified"]) == ("awaiting_confirmation", False)
    request = neutral_only(devhost, reference, TECHNICAL_CONTACT, PHISHING, ATTACK, "evil.example")
    assert reference in str(request["Subject"])
    assert mails_to(devhost, reference, "support@bits.example") == [], "Bits hears of it once it is confirmed"


def test_json_answers_do_not_tell_a_contact_from_anyone_else(devhost: DevHostProcess) -> None:
    stranger = f"ukjent-{uuid.uuid4().hex[:8]}@annet-selskap.example"
    for route, body in (("questions", QUESTION), ("incidents/security", BREACH)):
        answers = [
            httpx.post(f"{devhost.url}/api/{route}", json={**body, "email": address})
            for address in (str(body["email"]), stranger)
        ]
        shapes = [
            (a.status_code, {k: v for k, v in a.json().items() if k not in ("reference", "case_url")}) for a in answers
        ]
        assert shapes[0] == shapes[1], shapes
        assert shapes[0][1]["status"] == ("awaiting_confirmation" if route == "questions" else "new")


# -- the remembered address -------------------------------------------------------------------------------------------


def test_after_confirming_in_a_browser_the_next_question_goes_on_at_once(devhost: DevHostProcess) -> None:
    with httpx.Client(base_url=devhost.url) as browser:
        body = {**QUESTION, "email": TECHNICAL_CONTACT}
        first = post_question(devhost, browser, {**body, "subject": "Første spørsmål"})
        assert case_json(devhost, first)["case"]["status"] == "awaiting_confirmation"
        [request] = mails_to(devhost, first, TECHNICAL_CONTACT, NEUTRAL)
        link = re.search(r"https?://\S+/api/confirm\?t=\S+", plain(request))
        assert link and browser.cookies.get("ssu_address") is None
        assert browser.post(link.group(0)).status_code == 200  # the button on the link's page, in this browser
        assert browser.cookies.get("ssu_address"), "the confirmation leaves the address remembered here"
        assert case_json(devhost, first)["case"]["status"] == "new"

        second = post_question(devhost, browser, {**body, "subject": "Andre spørsmål"})
        case = case_json(devhost, second)["case"]
        assert (case["status"], case["submitter_verified"]) == ("new", True), "goes on at once, as theirs"
        [receipt] = mails_to(devhost, second, TECHNICAL_CONTACT)
        assert "mottatt spørsmålet" in str(receipt["Subject"])
        assert len(mails_to(devhost, second, "support@bits.example")) == 1

        # The cookie proves that address only, and it does nothing for a JSON body (JSON confirms every time).
        other = post_question(devhost, browser, {**QUESTION, "email": "fag@demo-forsikring.example"})
        assert case_json(devhost, other)["case"]["status"] == "awaiting_confirmation"
        as_json = browser.post("/api/questions", json={**QUESTION, "email": TECHNICAL_CONTACT})
        assert as_json.status_code == 201 and as_json.json()["status"] == "awaiting_confirmation"


def test_bits_staff_signed_in_vouch_for_the_address_they_give(devhost: DevHostProcess) -> None:
    body = {**QUESTION, "email": TECHNICAL_CONTACT, "subject": "Registrert av Bits på telefon"}
    staff = httpx.post(f"{devhost.url}/api/questions", json=body, headers=sign_in(devhost))
    assert staff.status_code == 201 and staff.json()["status"] == "new", staff.text
    [receipt] = mails_to(devhost, staff.json()["reference"], TECHNICAL_CONTACT)
    assert "mottatt spørsmålet" in str(receipt["Subject"])
    stored = case_json(devhost, staff.json()["reference"])
    assert stored["case"]["details"]["filed_by"] == "support@bits.example", "who at Bits filed it is recorded"
    assert stored["events"][0]["actor"] == "support@bits.example"
    anyone = httpx.post(f"{devhost.url}/api/questions", json=body)  # the same body, not signed in
    assert anyone.json()["status"] == "awaiting_confirmation"


def test_the_remembered_address_cookie_is_httponly_lax_and_for_our_api_only(devhost: DevHostProcess) -> None:
    address = f"ny-{uuid.uuid4().hex[:6]}@annet-selskap.example"
    reference = httpx.post(f"{devhost.url}/api/questions", json={**QUESTION, "email": address}).json()["reference"]
    [request] = mails_to(devhost, reference, address, NEUTRAL)
    link = re.search(r"https?://\S+/api/confirm\?t=\S+", plain(request))
    assert link
    assert "Set-Cookie" not in httpx.get(link.group(0)).headers, "opening the link (a mail scanner) proves nothing"
    confirmed = httpx.post(link.group(0))
    assert confirmed.status_code == 200 and "husker adressen i 30 dager" in confirmed.text
    attributes = [part.strip() for part in confirmed.headers["set-cookie"].split(";")]
    assert attributes[0].startswith("ssu_address=")
    assert {"Path=/api", "HttpOnly", "SameSite=Lax", f"Max-Age={30 * 86400}"} <= set(attributes)
    assert "Secure" not in attributes, "the dev host is served over http; an https base URL adds Secure"
    assert httpx.post(link.group(0)[:-3] + "abc").headers.get("set-cookie") is None, "a bad link sets nothing"


@pytest.fixture(scope="module")
def own(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    """A dev host of its own: a test moves its clock."""
    host = start_devhost(tmp_path_factory.mktemp("typed"), {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string})
    load_demo_registry(host.env)
    yield host
    httpx.post(f"{host.url}/admin/clock", json={"reset": True})
    host.stop()


def test_a_forged_expired_or_other_address_cookie_proves_nothing(own: DevHostProcess) -> None:
    body = {**QUESTION, "email": TECHNICAL_CONTACT}
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', httpx.get(f"{own.url}/api/questions").text)
    assert form_token
    in_a_year = datetime.now(UTC) + timedelta(days=365)
    cookies = {
        "forged (another key)": sign(b"k" * 32, "proven-address", {"e": TECHNICAL_CONTACT}, in_a_year),
        "ours, another purpose": form_token.group(1),
        "unsigned": "eyJlIjoidGVrbmlza0BkZW1vLWZvcnNpa3JpbmcuZXhhbXBsZSJ9.",
        "not base64": "%%%.%%%",
        "another address": remembered(own, "fag@demo-forsikring.example"),
    }
    for what, value in cookies.items():
        with httpx.Client() as browser:
            browser.cookies.set("ssu_address", value)
            reference = post_question(own, browser, body)
        assert case_json(own, reference)["case"]["status"] == "awaiting_confirmation", what

    # Not ASCII (httpx will not send it as a cookie: the raw header, as an attacker's client would): still a 303.
    page = httpx.get(f"{own.url}/api/questions")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    cookie = f"ssu_form={page.cookies['ssu_form']}; ssu_address=æøå.ÆØÅ".encode()
    raw = httpx.post(
        f"{own.url}/api/questions",
        data={**body, "csrf_token": token.group(1), "website": ""},
        headers={b"Cookie": cookie},
    )
    assert case_json(own, reference_of(raw))["case"]["status"] == "awaiting_confirmation"

    valid = remembered(own, TECHNICAL_CONTACT)
    with httpx.Client() as browser:
        browser.cookies.set("ssu_address", valid)
        assert case_json(own, post_question(own, browser, body))["case"]["status"] == "new", "the real one works"
    httpx.post(f"{own.url}/admin/clock", json={"advance_days": 31})
    try:
        with httpx.Client() as browser:
            browser.cookies.set("ssu_address", valid)
            late = post_question(own, browser, body)
        assert case_json(own, late)["case"]["status"] == "awaiting_confirmation", "expired after 30 days"
    finally:
        httpx.post(f"{own.url}/admin/clock", json={"reset": True})


# -- a breach is never refused by the rate limits ---------------------------------------------------------------------

LIMITS = {"SSU_RATE_LIMIT_PER_IP": "2", "SSU_RATE_LIMIT_PER_RECIPIENT": "1", "SSU_RATE_LIMIT_PER_ORGANISATION": "50"}


@pytest.fixture(scope="module")
def limited(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    host = start_devhost(
        tmp_path_factory.mktemp("typed-limited"), {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string, **LIMITS}
    )
    load_demo_registry(host.env)
    yield host
    host.stop()


def client_at(address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.0.0.x reaches the dev host on 127.0.0.1)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def victim() -> str:
    return f"offer@{uuid.uuid4().hex[:10]}.example"  # a domain of its own: no counter shared with another test


def test_a_breach_over_a_rate_limit_is_taken_and_mails_the_address_nothing(limited: DevHostProcess) -> None:
    url = limited.url
    with client_at("127.0.0.61") as client:
        for _ in range(2):
            assert client.post(f"{url}/api/questions", json={**QUESTION, "email": victim()}).status_code == 201
        refused = client.post(f"{url}/api/questions", json={**QUESTION, "email": victim()})
        assert refused.status_code == 429, "other forms keep their 429"

        target = victim()
        breach = client.post(f"{url}/api/incidents/security", json={**BREACH, "email": target, "description": ATTACK})
        assert breach.status_code == 201 and breach.json()["status"] == "new", breach.text
        reference = breach.json()["reference"]
        case = case_json(limited, reference)["case"]
        assert case["details"]["over_rate_limit"] is True and case["details"]["confirmation_withheld"] is True
        [alert] = mails_to(limited, reference, BITS_SECURITY)
        assert UNCONFIRMED in plain(alert) and ATTACK in plain(alert), "Bits' security contacts are told"
        assert mails_to(limited, reference, NAV_SECURITY) == []
        assert everything_to(limited, target) == [], "nothing at all to the address it names"

        in_browser = submit_form(limited, "incidents/security", {**BREACH, "email": victim()}, browser=client)
        assert in_browser.status_code == 303, "the browser form's usual answer"

    # Over the limit of the address it names (its one mail an hour went to an earlier question), from elsewhere.
    named = victim()
    with client_at("127.0.0.62") as first, client_at("127.0.0.63") as second:
        assert first.post(f"{url}/api/questions", json={**QUESTION, "email": named}).status_code == 201
        again = second.post(f"{url}/api/incidents/security", json={**BREACH, "email": named})
        assert again.status_code == 201, again.text
        assert [s for s in everything_to(limited, named) if NEUTRAL in s] == everything_to(limited, named)
        assert len(everything_to(limited, named)) == 1, "only the question's request, nothing for the breach"
        assert len(mails_to(limited, again.json()["reference"], BITS_SECURITY)) == 1


# -- the production form answers everyone alike -----------------------------------------------------------------------


def test_the_production_form_answers_a_contact_and_a_stranger_alike(devhost: DevHostProcess) -> None:
    number = new_organisation_number()
    domain = f"prod{number}.example"
    contacts = [
        {"role": role, "name": name, "email": f"{role}@{domain}", "phone": "+47 22 00 00 01"}
        for role, name in (
            ("business", "Berit Fag"),
            ("technical", "Tom Tekniker"),
            ("security", "Siv Sikker"),
            ("signatory", "Sam Signatar"),
        )
    ]
    registration = {
        "organisation_number": number,
        "legal_name": "Prod Forsikring ASA",
        "contacts": contacts,
        "services": ["ufore"],
        "finans_norge_member": True,
        "desired_go_live": "2027-03-01",
    }
    reference = httpx.post(f"{devhost.url}/api/onboarding/registration", json=registration).json()["reference"]
    confirm_address(devhost, reference, f"business@{domain}")
    [notice] = [m for m in mails_to(devhost, reference, "support@bits.example") if "Ny innmelding" in str(m["Subject"])]
    reply(devhost, notice, "GODKJENT")  # the registry now knows the contacts; no test access yet

    request = {
        "organisation_number": number,
        "name": "Tom Tekniker",
        "integration_tests_passed_on": "2026-11-20",
        "test_report_reference": "NAV-TEST-1",
        "production_redirect_domains": [f"https://app.{domain}"],
        "maskinporten_client_id": "abc-123",
        "consent_text_confirmed": True,
        "notices_subscribed": True,
    }
    stranger = f"noen@{uuid.uuid4().hex[:8]}.example"
    technical = f"technical@{domain}"
    answers = {
        address: httpx.post(f"{devhost.url}/api/onboarding/production", json={**request, "email": address})
        for address in (technical, stranger, f"signatory@{domain}")  # a contact, nobody, a contact of another role
    }
    shapes = {
        (a.status_code, tuple(sorted(a.json())), a.json()["message"].replace(address, "X"))
        for address, a in answers.items()
    }
    assert len(shapes) == 1 and next(iter(shapes))[:2] == (202, ("message", "status")), shapes

    dispatch(devhost)
    [told] = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == technical]
    assert "Produksjon kan ikke bestilles nå" in str(told["Subject"]) and "testtilgang" in plain(told)
    assert everything_to(devhost, stranger) == [], "no mail to an address that is nobody's contact"
    assert not [s for s in everything_to(devhost, f"signatory@{domain}") if "roduksjon" in s], "nor to another role"
    httpx.post(f"{devhost.url}/api/onboarding/production", json={**request, "email": technical})
    dispatch(devhost)
    assert len([m for m in outbox_mails(devhost, reference) if str(m["To"]) == technical]) == 1, "once per step"
