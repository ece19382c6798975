"""Process E through the dev host: a change request from the form to NAV's implementation, every step a reply email
(Outlook nb, Gmail, iPhone), and rejection, deferral (back on its date, with the dev host's clock moved), racing
approvers and spoofed replies."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from functions.changes.workflow import CHANGE_REQUEST_FORM
from functions.devhost.azurite import Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import (
    as_contact,
    case_json,
    dispatch,
    kinds,
    mails_to,
    outbox_mails,
    plain,
    poll,
    reply,
    sign_in,
)

BITS = "support@bits.example"
COMMITTEE = ["fag@demo-forsikring.example", "kari.nordmann@fjordtrygd.example", "ingrid@nordlys-forsikring.example"]
SUBMITTER = "fag@demo-forsikring.example"
REQUEST: dict[str, Any] = dict(CHANGE_REQUEST_FORM.example or {})  # the form's declared example


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    """A dev host of its own: these tests move its clock."""
    started = start_devhost(
        tmp_path_factory.mktemp("changes"),
        {
            "SSU_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "SSU_COMMITTEE_MEMBERS": json.dumps(COMMITTEE),
        },
    )
    load_demo_registry(started.env)
    yield started
    started.stop()


def submit(host: DevHostProcess, **changes: Any) -> str:
    """The submitter's request from her browser, where she has confirmed her address before: it goes on at once."""
    return as_contact(host, "change-requests", {**REQUEST, **changes})


def one(host: DevHostProcess, reference: str, address: str, subject: str) -> EmailMessage:
    [mail] = mails_to(host, reference, address, subject)
    return mail


def status(host: DevHostProcess, reference: str) -> str:
    return str(case_json(host, reference)["case"]["status"])


def to_decision(host: DevHostProcess, title: str) -> str:
    """A request that Bits found complete and the committee recommended: waiting for the approvers."""
    reference = submit(host, title=title)
    reply(host, one(host, reference, BITS, "Nytt endringsønske"), "KOMPLETT")
    for member in COMMITTEE:
        reply(host, one(host, reference, member, "anbefaling"), "ANBEFALER", sender=member)
    assert status(host, reference) == "awaiting_decision"
    return reference


def test_the_whole_life_of_a_change_request(host: DevHostProcess) -> None:
    reference = submit(host)
    assert reference.startswith("SSU-E-")
    assert "Vi har mottatt endringsønsket" in str(one(host, reference, SUBMITTER, "mottatt")["Subject"])
    notice = one(host, reference, BITS, "Nytt endringsønske")
    assert "KOMPLETT" in plain(notice) and "Uføretidspunktet avgjør" in plain(notice)

    # Bits asks; the submitter answers from her iPhone; the answer lands on the case.
    reply(host, notice, "SPØRSMÅL\nGjelder dette også AAP?")
    assert status(host, reference) == "waiting_for_submitter"
    question = one(host, reference, SUBMITTER, "Spørsmål fra Bits")
    assert "Gjelder dette også AAP?" in plain(question)
    reply(host, question, "Nei, bare uføre.", sender=f"Frida Fagerli <{SUBMITTER}>", style="iphone")
    answer = case_json(host, reference)["events"][-1]
    assert answer["kind"] == "message" and answer["data"]["message"] == "Nei, bare uføre."

    # Complete: to the committee, each member with a token of their own; three recommendations in three clients.
    reply(host, notice, "KOMPLETT")
    assert status(host, reference) == "in_assessment"
    asks = {member: one(host, reference, member, "anbefaling") for member in COMMITTEE}
    assert len({str(m["Reply-To"]) for m in asks.values()}) == 3
    verdicts = [
        ("ANBEFALER\nViktig for oss.", "outlook"),
        ("NOT RECOMMENDED\nToo costly now.", "gmail"),
        ("NØYTRAL", "iphone"),
    ]
    for (member, ask), (body, style) in zip(asks.items(), verdicts, strict=True):
        assert status(host, reference) == "in_assessment"
        reply(host, ask, body, sender=member, style=style)
    stored = case_json(host, reference)["case"]
    assert stored["status"] == "awaiting_decision"
    assert {m: r["verdict"] for m, r in stored["details"]["recommendations"].items()} == {
        COMMITTEE[0]: "recommended",
        COMMITTEE[1]: "not_recommended",
        COMMITTEE[2]: "neutral",
    }
    decision_request = one(host, reference, "godkjenner1@bits.example", "Beslutning")
    text = plain(decision_request)
    assert "anbefaler ikke – Too costly now." in text and "Viktig for oss." in text

    # Approve: the submitter gets the decision with the reason, every connected company a notice, NAV the request.
    reply(
        host, decision_request, "GODKJENT\nFlertallet i referansegruppen ser nytten.", sender="godkjenner1@bits.example"
    )
    assert status(host, reference) == "approved"
    decided = one(host, reference, SUBMITTER, "er godkjent")
    assert "Flertallet i referansegruppen ser nytten." in plain(decided)
    dispatch(host)
    companies = {
        str(m["To"])
        for m in outbox_mails(host, reference)
        if any(w in str(m["Subject"]) for w in ("Godkjent endring i tjenesten", "Approved change to the service"))
    }
    assert companies == {
        "fag@demo-forsikring.example",
        "teknisk@test-pensjon.example",
        "kari.nordmann@fjordtrygd.example",
        "ingrid@nordlys-forsikring.example",
        "per@vestkyst-pk.example",
    }
    to_nav = one(host, reference, "drift@nav.example", "Godkjent endringsønske til NAV")
    assert "PLANLAGT" in plain(to_nav)

    # NAV plans it and implements it; the submitter is told each time.
    reply(host, to_nav, "PLANLAGT release 2027.1, 15.3.2027", sender="NAV drift <drift@nav.example>")
    assert case_json(host, reference)["case"]["details"]["release"] == "release 2027.1, 15.3.2027"
    assert "release 2027.1" in plain(one(host, reference, SUBMITTER, "planlagt"))
    reply(host, to_nav, "IMPLEMENTERT", sender="NAV drift <drift@nav.example>", style="gmail")
    done = case_json(host, reference)["case"]
    assert done["status"] == "closed" and done["details"]["outcome"] == "implemented"
    assert one(host, reference, SUBMITTER, "innført")
    assert kinds(host, reference)[-1] == "implemented"


def test_two_approvers_at_once_give_one_decision(host: DevHostProcess) -> None:
    reference = to_decision(host, f"Samtidige godkjennere {uuid.uuid4().hex[:4]}")
    first = one(host, reference, "godkjenner1@bits.example", "Beslutning")
    second = one(host, reference, "godkjenner2@bits.example", "Beslutning")
    reply(host, first, "GODKJENT\nJa.", sender="godkjenner1@bits.example", take_in=False)
    reply(host, second, "AVSLÅTT\nNei.", sender="godkjenner2@bits.example", take_in=False)
    poll(host)  # both replies are in the inbox: taken in by one poll, concurrently
    events = case_json(host, reference)["events"]
    decisions = [e for e in events if e["kind"] in ("approved", "rejected")]
    assert len(decisions) == 1
    assert "decision_too_late" in [e["kind"] for e in events]
    told = [
        m
        for m in mails_to(host, reference, SUBMITTER)
        if "er godkjent" in str(m["Subject"]) or "avslått" in str(m["Subject"])
    ]
    assert len(told) == 1
    late = "godkjenner2@bits.example" if decisions[0]["kind"] == "approved" else "godkjenner1@bits.example"
    assert mails_to(host, reference, late, "allerede")


def test_a_spoofed_or_ambiguous_reply_changes_nothing(host: DevHostProcess) -> None:
    reference = to_decision(host, f"Forfalsket svar {uuid.uuid4().hex[:4]}")
    request = one(host, reference, "godkjenner1@bits.example", "Beslutning")
    reply(host, request, "GODKJENT", sender="Angriper <godkjenner1@evil.example>")
    reply(
        host,
        request,
        "GODKJENT",
        sender="godkjenner1@bits.example",
        extra_headers={"Authentication-Results": "dmarc=fail action=none header.from=bits.example"},
    )
    reply(host, request, "GODKJENT eller AVSLÅTT?", sender="godkjenner1@bits.example")
    assert status(host, reference) == "awaiting_decision"
    recorded = kinds(host, reference)
    assert recorded.count("decision_refused") == 2 and "decision_unclear" in recorded
    assert mails_to(host, reference, "godkjenner1@bits.example", "forsto ikke")
    assert not mails_to(host, reference, "godkjenner1@evil.example")


def test_rejection_and_deferral_coming_back_on_its_date(host: DevHostProcess) -> None:
    rejected = to_decision(host, f"Avslås {uuid.uuid4().hex[:4]}")
    reply(
        host,
        one(host, rejected, "godkjenner2@bits.example", "Beslutning"),
        "AVSLÅTT\nIkke i tråd med formålet.",
        sender="godkjenner2@bits.example",
    )
    assert case_json(host, rejected)["case"]["details"]["outcome"] == "rejected"
    assert "Ikke i tråd med formålet." in plain(one(host, rejected, SUBMITTER, "avslått"))

    deferred = to_decision(host, f"Utsettes {uuid.uuid4().hex[:4]}")
    reply(
        host,
        one(host, deferred, "godkjenner1@bits.example", "Beslutning"),
        "UTSATT 1.3.2027\nVent på ny versjon.",
        sender="godkjenner1@bits.example",
        style="gmail",
    )
    stored = case_json(host, deferred)["case"]
    assert stored["status"] == "deferred" and stored["details"]["defer_until"] == "2027-03-01"
    assert "til 1. mars 2027" in plain(one(host, deferred, SUBMITTER, "utsatt")), "the date in words"
    try:
        timer = f"{host.url}/admin/functions/deadlines_check"
        httpx.post(f"{host.url}/admin/clock", json={"now": "2027-02-28T12:00:00+01:00"})
        assert httpx.post(timer, timeout=120).status_code == 202
        assert status(host, deferred) == "deferred", "not before its date"
        httpx.post(f"{host.url}/admin/clock", json={"now": "2027-03-01T07:00:00+01:00"})
        assert httpx.post(timer, timeout=120).status_code == 202
        assert httpx.post(timer, timeout=120).status_code == 202  # the timer again: nothing doubles
        assert status(host, deferred) == "awaiting_decision"
        back = mails_to(host, deferred, "godkjenner1@bits.example", "Beslutning")
        [again] = [m for m in back if "utsatt til i dag" in plain(m)]
        assert len(back) == 2
        reply(host, again, "GODKJENT", sender="godkjenner1@bits.example")
        assert status(host, deferred) == "approved"
    finally:
        httpx.post(f"{host.url}/admin/clock", json={"reset": True})


def test_committee_deadline_sends_it_to_decision_without_all_answers(host: DevHostProcess) -> None:
    reference = submit(host, title=f"Fagutvalget svarer ikke {uuid.uuid4().hex[:4]}")
    reply(host, one(host, reference, BITS, "Nytt endringsønske"), "KOMPLETT")
    reply(host, one(host, reference, COMMITTEE[0], "anbefaling"), "ANBEFALER", sender=COMMITTEE[0])
    try:
        httpx.post(f"{host.url}/admin/clock", json={"advance_days": 15})
        assert httpx.post(f"{host.url}/admin/functions/deadlines_check", timeout=120).status_code == 202
        dispatch(host)  # the mails are due at the moved time
    finally:
        httpx.post(f"{host.url}/admin/clock", json={"reset": True})
    assert status(host, reference) == "awaiting_decision"
    text = plain(one(host, reference, "godkjenner2@bits.example", "Beslutning"))
    assert "fristen for fagutvalget er ute" in text and "har ikke svart" in text


def test_duplicate_and_bad_input(host: DevHostProcess) -> None:
    original = submit(host, title=f"Original {uuid.uuid4().hex[:4]}")
    copy = submit(host, title=f"Kopi {uuid.uuid4().hex[:4]}")
    reply(host, one(host, copy, BITS, "Nytt endringsønske"), f"DUPLIKAT {original}")
    stored = case_json(host, copy)["case"]
    assert stored["status"] == "closed" and stored["details"]["duplicate_of"] == original
    assert original in plain(one(host, copy, SUBMITTER, "allerede meldt"))
    bad = httpx.post(f"{host.url}/api/change-requests", json={**REQUEST, "change_type": "wish", "extra": 1})
    assert bad.status_code == 422 and {"change_type", "extra"} <= set(bad.json()["errors"])
    form = httpx.get(f"{host.url}/api/change-requests?lang=en")
    assert form.status_code == 200 and "Submit a change request" in form.text


def test_terms_are_published_accepted_by_reply_and_link_and_the_rest_reminded(host: DevHostProcess) -> None:
    effective = (datetime.now(UTC) + timedelta(days=30)).date()
    terms = {
        "title": "Vilkår for Syke- og uføreopplysninger fra NAV",
        "version": f"2.{uuid.uuid4().int % 1000}",
        "effective_date": effective.isoformat(),
        "summary": "Punkt 4 om logging er nytt.",
        "document_url": "https://bits.example/vilkar.pdf",
    }
    response = httpx.post(f"{host.url}/api/terms", json=terms, headers=sign_in(host, "admin@bits.example"))
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    again = httpx.post(f"{host.url}/api/terms", json=terms, headers=sign_in(host, "admin@bits.example"))
    assert again.json()["reference"] == reference, "the same version twice is one version"
    dispatch(host)
    told = sorted(str(m["To"]) for m in outbox_mails(host, reference) if str(m["To"]) != "admin@bits.example")
    assert told == [
        "fag@demo-forsikring.example",
        "ingrid@nordlys-forsikring.example",
        "kari.nordmann@fjordtrygd.example",
        "per@vestkyst-pk.example",
        "signatar@demo-forsikring.example",
        "teknisk@test-pensjon.example",
    ]

    def mail_to(address: str) -> EmailMessage:
        return one(host, reference, address, "")

    # The signatory of Demo Forsikring accepts by replying; a business contact has no token to reply with.
    assert mail_to("fag@demo-forsikring.example")["Reply-To"] is None
    reply(host, mail_to("signatar@demo-forsikring.example"), "AKSEPTERT", sender="signatar@demo-forsikring.example")
    # Fjordtrygd accepts through the link (GET shows a button and changes nothing; POST accepts), twice.
    link = re.search(r"https?://\S+/api/terms-accept\?k=\S+", plain(mail_to("kari.nordmann@fjordtrygd.example")))
    assert link is not None
    page = httpx.get(link.group(0))
    assert page.status_code == 200 and "Aksepter vilkårene" in page.text and "Fjordtrygd" in page.text
    assert "Takk, vilkårene er akseptert" in httpx.post(link.group(0)).text
    assert "Allerede akseptert" in httpx.post(link.group(0)).text
    assert httpx.post(link.group(0).replace("k=", "k=x")).status_code == 400

    table = httpx.get(f"{host.url}/api/terms/{reference}", headers=sign_in(host)).json()
    accepted = {r["organisation_number"]: (r["accepted_by"], r["channel"]) for r in table["companies"] if r["accepted"]}
    assert accepted == {
        "310000019": ("signatar@demo-forsikring.example", "email"),
        "310000035": ("kari.nordmann@fjordtrygd.example", "link"),
    }

    # Ten days before it takes effect the timer reminds the other three companies, once.
    try:
        httpx.post(f"{host.url}/admin/clock", json={"advance_days": 20})
        for _ in range(2):
            assert httpx.post(f"{host.url}/admin/functions/deadlines_check", timeout=120).status_code == 202
        dispatch(host)
    finally:
        httpx.post(f"{host.url}/admin/clock", json={"reset": True})
    reminded = sorted(
        str(m["To"])
        for m in outbox_mails(host, reference)
        if "Påminnelse" in str(m["Subject"]) or "Reminder" in str(m["Subject"])
    )
    assert reminded == ["ingrid@nordlys-forsikring.example", "per@vestkyst-pk.example", "teknisk@test-pensjon.example"]


def bits_emails(host: DevHostProcess, sender: str, subject: str, body: str, pdf: bytes | None, **headers: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ssu@bits.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@bits.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename="vilkar.pdf")
    (host.mail_dir / "inbox").mkdir(parents=True, exist_ok=True)
    (host.mail_dir / "inbox" / f"terms-{uuid.uuid4().hex[:6]}.eml").write_bytes(message.as_bytes())
    poll(host)


def terms_cases(host: DevHostProcess) -> list[dict[str, Any]]:
    found = httpx.get(f"{host.url}/api/cases", params={"process": "E"}, headers=sign_in(host)).json()["cases"]
    return [c for c in found if c["kind"] == "terms"]


def test_terms_published_by_email_with_the_pdf_attached(host: DevHostProcess) -> None:
    version = f"3.{uuid.uuid4().int % 1000}"
    pdf = b"%PDF-1.4 vilkar " + version.encode()
    body = f"versjon: {version}\ngjelder fra: 1.3.2099\n\nNytt punkt 7 om lagringstid.\n\nHilsen\nBits"
    bits_emails(host, "Bits administrator <admin@bits.example>", f"VILKÅR {version}", body, pdf)
    [case] = [c for c in terms_cases(host) if c["details"].get("version") == version]
    assert case["status"] == "published" and case["details"]["effective_date"] == "2099-03-01"
    document = httpx.get(case["details"]["document_url"])
    assert document.status_code == 200 and document.content == pdf
    assert document.headers["content-type"].startswith("application/pdf")
    assert httpx.get(f"{host.url}/api/terms-document/{'0' * 64}").status_code == 404, "only terms documents"
    text = plain(one(host, case["reference"], "signatar@demo-forsikring.example", ""))
    assert "Nytt punkt 7 om lagringstid." in text and "Hilsen" not in text

    # Without a version: nothing is published, and Bits is told what is missing.
    before = len(terms_cases(host))
    bits_emails(host, "Bits administrator <admin@bits.example>", "VILKÅR", "gjelder fra: 1.3.2099\nEndringer.", pdf)
    refused = [c for c in terms_cases(host) if c["status"] == "closed"]
    assert refused and "version" in refused[-1]["details"]["errors"]
    assert len(terms_cases(host)) == before + 1, "one refused attempt, kept closed"
    assert "  Versjon: " in plain(one(host, refused[-1]["reference"], "admin@bits.example", "ikke publisert"))

    # The same words from someone outside Bits, from Bits' support (not an admin), or from Bits failing DMARC,
    # publish nothing.
    published = len([c for c in terms_cases(host) if c["status"] == "published"])
    bits_emails(
        host, "Frida <fag@demo-forsikring.example>", "VILKÅR 9.9", "versjon: 9.9\ngjelder fra: 1.3.2027\nx", pdf
    )
    bits_emails(
        host, "Bits brukerstøtte <support@bits.example>", "VILKÅR 9.7", "versjon: 9.7\ngjelder fra: 1.3.2099\nx", pdf
    )
    bits_emails(
        host,
        "Bits administrator <admin@bits.example>",
        "VILKÅR 9.8",
        "versjon: 9.8\ngjelder fra: 1.3.2027\nx",
        pdf,
        Authentication_Results="dmarc=fail action=none header.from=bits.example",
    )
    assert len([c for c in terms_cases(host) if c["status"] == "published"]) == published
