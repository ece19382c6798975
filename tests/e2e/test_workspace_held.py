"""Bits' held messages over HTTP: what intake held for Bits is listed with its reason in words and its text escaped
and masked; attaching it to a case, opening it as a new case, discarding it and marking its sender as a known
contact each work and are recorded with who did it; a form sent twice applies once; a handled message refuses
another action in words; no sign-in, no CSRF token or bad input changes nothing."""

from __future__ import annotations

import hashlib
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func
import httpx

from functions.catalogue import CATALOGUE
from functions.core.services import Services
from functions.intake.workflow import process_message
from functions.workspace.held import held_page
from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, as_contact, case_json, mails_to, outbox_mails, plain, poll, sign_in
from tests.e2e.test_workspace_actions import browser
from tests.e2e.test_workspace_case import text_of
from tests.identity_numbers import identity_number

SUPPORT = "support@bits.example"
HELD = "/api/bits/held"


def broken_message(
    host: DevHostProcess, body: str, *, sender: str = "Frida Fagerli <fag@demo-forsikring.example>", about: str = ""
) -> tuple[str, str]:
    """A message whose MIME structure is broken (a boundary that never appears), dropped in the dev host's inbox
    and taken in: set aside for Bits. Returns its held key and its subject."""
    tag = uuid.uuid4().hex[:10]
    message_id = f"<held-{tag}@demo-forsikring.example>"
    subject = f"{about}Ødelagt melding {tag}"
    raw = (
        f"From: {sender}\r\nTo: ssu@bits.example\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="aaa"\r\n\r\n'
        f"--bbb\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--bbb--\r\n"
    )
    (host.mail_dir / "inbox").mkdir(parents=True, exist_ok=True)
    (host.mail_dir / "inbox" / f"held-{tag}.eml").write_bytes(raw.encode())
    poll(host)
    return hashlib.sha256(message_id.encode()).hexdigest()[:16], subject


def item_html(html: str, key: str) -> str | None:
    found = re.search(rf'<li class="[a-z]+" id="held-{key}".*?</li>', html, re.S)
    return found.group(0) if found else None


def held_item(client: httpx.Client, key: str, query: str = "") -> str | None:
    page = client.get(f"{HELD}{query}")
    assert page.status_code == 200, page.text
    return item_html(page.text, key)


def forms_of(client: httpx.Client, key: str) -> dict[str, dict[str, str]]:
    """The hidden fields of the list's forms on the held message `key`, by action (each its own one-time action id),
    from one visit of the list (its cookie is the one their tokens are bound to)."""
    shown = held_item(client, key)
    assert shown, f"held message {key} is not listed as open"
    forms = {}
    for action, inside in re.findall(
        r'<form class="action"[^>]*data-action="([a-z_]+)"[^>]*>(.*?)</form>', shown, re.S
    ):
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', inside))
        assert fields["action"] == action and fields["csrf_token"]
        forms[action] = fields
    return forms


def form_of(client: httpx.Client, key: str, action: str) -> dict[str, str]:
    return forms_of(client, key)[action]


def act(client: httpx.Client, key: str, form: dict[str, str], **fields: str) -> httpx.Response:
    return client.post(f"{HELD}/{key}/actions", data={**form, **fields})


def events(host: DevHostProcess, reference: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in case_json(host, reference)["events"] if e["kind"] == kind]


def question(host: DevHostProcess) -> str:
    return as_contact(host, "questions", {**QUESTION, "subject": f"Spørsmål {uuid.uuid4().hex[:6]}"})


def test_a_set_aside_message_is_listed_with_its_reason_and_its_text_escaped_and_masked(devhost: DevHostProcess) -> None:
    number = identity_number(1, 2, 1980)
    key, subject = broken_message(devhost, f"<script>alert('held')</script>\nGjelder {number}.\nHilsen Frida")
    with browser(devhost, SUPPORT) as client:
        shown = held_item(client, key)
        assert shown is not None
        assert f"<h2>{subject}</h2>" in shown
        assert "Frida Fagerli &lt;fag@demo-forsikring.example&gt;" in shown and "ikke bekreftet" in shown
        assert "Det var ingen tekst å lese i den" in shown
        assert "&lt;script&gt;alert(&#39;held&#39;)&lt;/script&gt;" in shown and "<script>" not in shown
        assert number not in shown and "[fødselsnummer fjernet]" in shown
        assert re.search(r"<time datetime=\"[^\"]+\">\d+\. \w+ 2026 kl\. \d\d\.\d\d</time>", shown)
        english = client.get(f"{HELD}?lang=en")
        assert "There was no text to read in it" in (item_html(english.text, key) or "")
        assert "Held messages" in english.text
        # The known-contact form names the company the sender's domain belongs to.
        assert '<option value="310000019" selected>' in shown
        assert held_item(client, key, "?show=handled") is None, "an open message is not among the handled"


def test_attaching_puts_the_text_on_the_case_once_and_a_handled_message_refuses_more(devhost: DevHostProcess) -> None:
    reference = question(devhost)
    key, _ = broken_message(devhost, "Vi glemte å legge ved versjonsnummeret: 4.2.1", about=f"SV: [{reference}] ")
    with browser(devhost, SUPPORT) as client:
        assert f'name="reference" value="{reference}"' in (held_item(client, key) or "")
        forms = forms_of(client, key)
        attach, discard = forms["attach"], forms["discard"]
        done = act(client, key, attach)  # the case its subject names
        assert done.status_code == 303 and done.headers["location"] == f"{HELD}?done=attach"
        again = act(client, key, attach, reference=reference)
        assert again.status_code == 303 and again.headers["location"] == f"{HELD}?done=again"
        # Another form on the same message, from the page as it was: refused in words, nothing changed.
        refused = act(client, key, discard, reason="Søppel")
        assert refused.status_code == 409
        assert "allerede behandlet (Lagt til en sak: " + reference in text_of(refused.text)
        assert "Bits brukerstøtte <support@bits.example>" in text_of(refused.text)
        assert "Meldingen er lagt til saken" in text_of(client.get(done.headers["location"]).text)
        assert held_item(client, key) is None, "a handled message leaves the open list"
        handled = held_item(client, key, "?show=handled")
        assert handled and f'href="/api/bits/cases/{reference}">{reference}</a>' in handled
        assert "Lagt til en sak" in handled and "Bits brukerstøtte &lt;support@bits.example&gt;" in handled
        assert "Søppel" not in handled
    [attached] = events(devhost, reference, "held_message_attached")
    assert attached["public"] is False and attached["actor"] == SUPPORT and attached["channel"] == "web"
    assert attached["data"]["by_name"] == "Bits brukerstøtte"
    assert "versjonsnummeret: 4.2.1" in attached["data"]["message"]
    assert attached["data"]["claimed_sender"] == "Frida Fagerli <fag@demo-forsikring.example>"
    html = browser(devhost, SUPPORT).get(f"/api/bits/cases/{reference}").text
    assert "Holdt melding lagt til saken av Bits" in html and "Internt – bare Bits" in html


def test_opening_as_a_new_case_makes_it_as_the_email_would_and_asks_the_unproven_sender_to_confirm(
    devhost: DevHostProcess,
) -> None:
    sender = f"ny-{uuid.uuid4().hex[:6]}@ukjent-forsikring.example"
    key, subject = broken_message(
        devhost, "Feltet uforegrad mangler i svaret fra testmiljøet.", sender=f"Ola <{sender}>"
    )
    with browser(devhost, SUPPORT) as client:
        form = form_of(client, key, "open_case")
        done = act(client, key, form, process="C")
        assert done.status_code == 303 and done.headers["location"] == f"{HELD}?done=open_case"
        assert act(client, key, form, process="C").headers["location"] == f"{HELD}?done=again"
        handled = held_item(client, key, "?show=handled")
    assert handled and "Åpnet som ny sak (Feilmelding): SSU-C-" in text_of(handled)
    found = re.search(r'href="/api/bits/cases/(SSU-C-\d{4}-\d{4,})"', handled)
    assert found, handled
    reference = found.group(1)
    body = case_json(devhost, reference)
    case = body["case"]
    assert (case["kind"], case["title"], case["submitter_email"]) == ("error_report", subject, sender)
    # The sender was not proven: the case waits for them to confirm, as an email from them would have.
    assert case["status"] == "awaiting_confirmation" and case["submitter_verified"] is False
    assert case["details"]["from_held"].endswith(key) and case["details"]["filed_by"] == SUPPORT
    [received] = [e for e in body["events"] if e["kind"] == "received"]
    assert "uforegrad mangler" in received["data"]["message"]
    # They get only the neutral confirmation request, without the text; no second case from the second form.
    told = mails_to(devhost, reference, sender)
    assert [("Bekreft" in str(m["Subject"])) for m in told] == [True]
    assert "uforegrad" not in plain(told[0])
    listed = httpx.get(f"{devhost.url}/api/cases", headers=sign_in(devhost, SUPPORT)).json()["cases"]
    assert [c["reference"] for c in listed if str(c["details"].get("from_held", "")).endswith(key)] == [reference]


def test_discarding_records_the_reason_and_who(devhost: DevHostProcess) -> None:
    key, _ = broken_message(devhost, "Kjøp billige klokker")
    with browser(devhost, SUPPORT) as client:
        done = act(client, key, form_of(client, key, "discard"), reason="Reklame <b>spam</b>")
        assert done.status_code == 303 and done.headers["location"] == f"{HELD}?done=discard"
        handled = held_item(client, key, "?show=handled")
    assert handled and "Forkastet" in handled and "Reklame &lt;b&gt;spam&lt;/b&gt;" in handled
    assert "Bits brukerstøtte &lt;support@bits.example&gt;" in handled


def test_marking_the_sender_a_known_contact_records_it_and_goes_on_to_the_registry(devhost: DevHostProcess) -> None:
    key, _ = broken_message(devhost, "Hei, jeg er ny hos dere.", sender="Nina Ny <nina.ny@test-pensjon.example>")
    with browser(devhost, SUPPORT) as client:
        assert '<option value="310000027" selected>' in (held_item(client, key) or "")
        form = form_of(client, key, "known_contact")
        done = act(client, key, form, organisation_number="310000027")
        expected = "/api/bits/registry/310000027?add_email=nina.ny%40test-pensjon.example&add_name=Nina+Ny"
        assert done.status_code == 303 and done.headers["location"] == expected
        assert act(client, key, form, organisation_number="310000027").headers["location"] == expected
        handled = held_item(client, key, "?show=handled")
    assert handled and "Avsenderen meldt som kjent kontakt (Test Pensjon AS (310000027))" in text_of(handled)


def test_a_stranger_writing_on_a_case_is_held_with_the_case_it_names(devhost: DevHostProcess) -> None:
    reference = question(devhost)
    tag = uuid.uuid4().hex[:8]
    raw = (
        "From: Mallory <mallory@evil.example>\r\nTo: ssu@bits.example\r\n"
        f"Subject: Re: [{reference}] Spørsmål\r\nMessage-ID: <stranger-{tag}@evil.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Send meg kundedataene.\r\n"
    )
    (devhost.mail_dir / "inbox" / f"stranger-{tag}.eml").write_bytes(raw.encode())
    poll(devhost)
    assert not events(devhost, reference, "message") and not events(devhost, reference, "message_unverified")
    key = hashlib.sha256(f"<stranger-{tag}@evil.example>".encode()).hexdigest()[:16]
    with browser(devhost, SUPPORT) as client:
        shown = held_item(client, key)
        assert shown, "the stranger's message is listed"
        assert "Mallory &lt;mallory@evil.example&gt;" in shown and "Send meg kundedataene." in shown
        assert "ikke er deltaker" in shown and f'href="/api/bits/cases/{reference}">{reference}</a>' in shown
        assert f'name="reference" value="{reference}"' in shown, "attach names the case it refers to"
        form = form_of(client, key, "attach")
        assert act(client, key, form).headers["location"] == f"{HELD}?done=attach"
    [attached] = events(devhost, reference, "held_message_attached")
    assert attached["data"]["message"] == "Send meg kundedataene."
    assert not [m for m in outbox_mails(devhost, reference) if "kundedataene" in plain(m)], "nothing relayed"


def test_without_sign_in_the_list_and_the_actions_are_closed(devhost: DevHostProcess) -> None:
    page = httpx.get(f"{devhost.url}{HELD}", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["location"].startswith("/.auth/login/aad?")
    assert httpx.get(f"{devhost.url}{HELD}").status_code == 401
    key, _ = broken_message(devhost, "Uten innlogging")
    with browser(devhost, SUPPORT) as client:
        form = form_of(client, key, "discard")
    posted = httpx.post(f"{devhost.url}{HELD}/{key}/actions", data=form)
    assert posted.status_code == 401
    with browser(devhost, SUPPORT) as client:
        assert held_item(client, key), "nothing changed"


def test_bad_forms_are_refused_in_words_and_change_nothing(devhost: DevHostProcess) -> None:
    key, _ = broken_message(devhost, "Til avvisning")
    with browser(devhost, SUPPORT) as client:
        form = form_of(client, key, "attach")
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"data": {"action": "discard"}}, 403, "Skjemaet er utløpt"),
            ({"data": {**form, "csrf_token": form["csrf_token"][:-2] + "xx"}}, 403, "Skjemaet er utløpt"),
            ({"json": {**form, "action": "discard"}}, 415, "application/x-www-form-urlencoded"),
            ({"data": {**form, "action": "delete"}}, 400, "Velg en av handlingene"),
            ({"data": {**form, "reference": "SSU-D-2026-9999"}}, 422, "ingen sak med saksnummeret SSU-D-2026-9999"),
            ({"data": {**form}}, 422, "ingen sak med saksnummeret"),
            ({"data": {**form, "action": "discard", "reason": "x" * 2001}}, 400, "Begrunnelsen er for lang"),
            ({"data": {**form, "action": "discard", "reason": "ok\u202egnp.exe"}}, 422, "kontrolltegn"),
            ({"data": {**form, "action": "open_case", "process": "A"}}, 400, "Velg spørsmål, feilmelding"),
            ({"data": {**form, "action": "known_contact", "organisation_number": "999999999"}}, 422, "Velg en av"),
        ]
        for request, status, words in cases:
            refused = client.post(f"{HELD}/{key}/actions", **request)
            assert refused.status_code == status, (request, refused.text)
            assert words in text_of(refused.text), (request, text_of(refused.text))
        unknown = client.post(f"{HELD}/0000000000000000/actions", data={**form, "action": "discard"})
        assert unknown.status_code == 404 and "ingen holdt melding" in text_of(unknown.text)
        assert client.post(f"{HELD}/not-a-key/actions", data=form).status_code == 404
        assert held_item(client, key), "still open: nothing changed"


async def test_a_command_claiming_to_be_bits_that_cannot_be_proven_is_held(services: Services) -> None:
    # Senders must be proven here, as in Azure (the shared dev host takes every sender as proven).
    services.settings = services.settings.model_copy(update={"require_dmarc": True})
    raw = (
        "From: Bits administrator <admin@bits.example>\r\nTo: ssu@bits.example\r\nSubject: VILKÅR 9.9\r\n"
        "Message-ID: <forged-terms@evil.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "\r\nversjon: 9.9\r\nlenke: https://evil.example/vilkar.pdf\r\n"
    ).encode()
    outcome = await process_message(services, raw, CATALOGUE)
    again = await process_message(services, raw, CATALOGUE)
    assert outcome.status == again.status == "held" and "not proven" in outcome.reason
    assert not outcome.settle_as_processed and again.reason.endswith("(held before)")
    assert await services.store.cases() == [], "nothing published, no case"
    [(reference, event)] = await services.store.held_events()
    assert event.kind == "message_held" and event.data["problem"] == "unproven_command"
    page = await held_page(func.HttpRequest("GET", "http://host/api/bits/held", body=b""), services)
    shown = item_html(page.get_body().decode(), reference.rsplit("-", 1)[1])
    assert shown and "En kommando bare Bits kan gi (VILKÅR)" in shown and "ikke bekreftet" in shown
    assert "Bits administrator &lt;admin@bits.example&gt;" in shown and "https://evil.example/vilkar.pdf" in shown


def test_two_different_actions_at_once_on_one_message_apply_one(devhost: DevHostProcess) -> None:
    key, _ = broken_message(devhost, "To faner samtidig")
    with browser(devhost, SUPPORT) as client:
        forms = forms_of(client, key)
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())

    def send(action: str, extra: dict[str, str]) -> httpx.Response:
        url = f"{devhost.url}{HELD}/{key}/actions"
        return httpx.post(url, data={**forms[action], **extra}, headers={"Cookie": cookie})

    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda a: send(*a), [("discard", {"reason": "dobbel"}), ("open_case", {"process": "D"})])
        )
    assert sorted(a.status_code for a in answers) == [303, 409], [a.text for a in answers]
    with browser(devhost, SUPPORT) as client:
        handled = text_of(held_item(client, key, "?show=handled") or "")
    won = "discard" if answers[0].status_code == 303 else "open_case"
    assert ("Forkastet" in handled) == (won == "discard") and ("Åpnet som ny sak" in handled) == (won == "open_case")
    listed = httpx.get(f"{devhost.url}/api/cases", headers=sign_in(devhost, SUPPORT)).json()["cases"]
    opened = [c for c in listed if str(c["details"].get("from_held", "")).endswith(key)]
    assert len(opened) == (1 if won == "open_case" else 0)
