"""Bits' workspace actions over HTTP: a decision taken from the case view's form goes the way an email reply goes (the
same handler, states and ETag), recorded with the signed-in person's name; a form sent twice applies once; a
decision needs its role; a form from before the case moved on, or without its CSRF token, changes nothing."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from functions.changes.workflow import CHANGE_REQUEST_FORM
from functions.incidents.security import SECURITY_BREACH_FORM
from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, REPORT, as_contact, case_json, mails_to, plain, reply, sign_in
from tests.e2e.test_workspace_case import text_of

SUPPORT = "support@bits.example"
APPROVER = "godkjenner1@bits.example"
ASKER = str(QUESTION["email"])


def browser(host: DevHostProcess, who: str) -> httpx.Client:
    """A staff member's browser: the sign-in session and whatever cookies the pages set (the forms' CSRF nonce)."""
    session = sign_in(host, who)["Cookie"].split("=", 1)[1]
    return httpx.Client(base_url=host.url, cookies={"AppServiceAuthSession": session})


def action_form(client: httpx.Client, reference: str, decision: str, kind: str = "decide") -> dict[str, str]:
    """The hidden fields of the case view's `kind` of form (decide, answer, note) for `decision` (its CSRF token
    with the one-time action id)."""
    page = client.get(f"/api/bits/cases/{reference}")
    assert page.status_code == 200, page.text
    form = re.search(
        rf'<form class="action[^"]*"[^>]*data-decision="{re.escape(decision)}" data-form="{kind}">(.*?)</form>',
        page.text,
        re.S,
    )
    assert form, f"no form for {decision}"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(1)))
    assert fields["decision"] == decision and fields["csrf_token"]
    return fields


def act(client: httpx.Client, reference: str, form: dict[str, str], command: str, reason: str = "") -> httpx.Response:
    return client.post(f"/api/bits/cases/{reference}/actions", data={**form, "command": command, "reason": reason})


def events(host: DevHostProcess, reference: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in case_json(host, reference)["events"] if e["kind"] == kind]


def status(host: DevHostProcess, reference: str) -> str:
    return str(case_json(host, reference)["case"]["status"])


def question(host: DevHostProcess, subject: str, *, unique: bool = True) -> str:
    title = f"{subject} {uuid.uuid4().hex[:6]}" if unique else subject
    reference = as_contact(host, "questions", {**QUESTION, "subject": title})
    mails_to(host, reference, SUPPORT)  # Bits' notice is out: the decision is asked on the case
    return reference


def test_support_resolves_a_question_from_the_browser_as_the_email_reply_would(devhost: DevHostProcess) -> None:
    answer = "Bruk uføregraden fra IFU-feltet; den andre er historisk."
    title = f"Tvillingspørsmål {uuid.uuid4().hex[:6]}"  # twin cases: their mails differ only by reference
    by_web, by_email = question(devhost, title, unique=False), question(devhost, title, unique=False)
    with browser(devhost, SUPPORT) as client:
        done = act(client, by_web, action_form(client, by_web, "question.bits"), "resolve", answer)
        assert done.status_code == 303 and done.headers["location"] == f"/api/bits/cases/{by_web}?done=decided"
        page = client.get(done.headers["location"])
        assert "Beslutningen er registrert i saken." in text_of(page.text)
    assert status(devhost, by_web) == "closed"
    [resolved] = events(devhost, by_web, "resolved")
    assert resolved["actor"] == SUPPORT and resolved["channel"] == "web"
    assert resolved["data"]["by_name"] == "Bits brukerstøtte"
    assert resolved["data"]["reply"]["command"] == "resolve" and resolved["data"]["reply"]["reason"] == answer
    assert resolved["data"]["reply"]["message_id"].startswith("<web.")
    # The same decision by email on a twin case: the asker gets the same mail, but for the reference.
    [notice] = mails_to(devhost, by_email, SUPPORT)
    reply(devhost, notice, f"LØST\n{answer}")
    assert status(devhost, by_email) == "closed"
    [web_mail] = [m for m in mails_to(devhost, by_web, ASKER) if answer in plain(m)]
    [email_mail] = [m for m in mails_to(devhost, by_email, ASKER) if answer in plain(m)]
    assert plain(web_mail).replace(by_web, "REF") == plain(email_mail).replace(by_email, "REF")
    assert str(web_mail["Subject"]).replace(by_web, "REF") == str(email_mail["Subject"]).replace(by_email, "REF")
    # In the timeline: the person's name and the channel, in words.
    html = browser(devhost, SUPPORT).get(f"/api/bits/cases/{by_web}").text
    assert "Bits brukerstøtte &lt;support@bits.example&gt; · Arbeidsflaten (nettleser)" in html


def test_the_same_form_sent_twice_applies_once(devhost: DevHostProcess) -> None:
    reference = question(devhost, "Dobbeltklikk")
    with browser(devhost, SUPPORT) as client:
        form = action_form(client, reference, "question.bits")
        first = act(client, reference, form, "answer", "Svaret er ja.")
        second = act(client, reference, form, "answer", "Svaret er ja.")
        assert first.headers["location"].endswith("?done=decided")
        assert second.status_code == 303 and second.headers["location"].endswith("?done=again")
        assert "registrert én gang" in text_of(client.get(second.headers["location"]).text)
    assert status(devhost, reference) == "answered"
    assert len(events(devhost, reference, "answered")) == 1
    assert len([m for m in mails_to(devhost, reference, ASKER) if "Svaret er ja." in plain(m)]) == 1


def test_an_approvers_decision_is_refused_for_support_and_taken_by_an_approver(devhost: DevHostProcess) -> None:
    body = {**dict(CHANGE_REQUEST_FORM.example or {}), "title": f"Nytt felt {uuid.uuid4().hex[:6]}"}
    reference = as_contact(devhost, "change-requests", body)
    mails_to(devhost, reference, SUPPORT)
    support = browser(devhost, SUPPORT)
    # Support triages from the browser (KOMPLETT); with no committee on this host it goes to the approvers.
    assert act(support, reference, action_form(support, reference, "change.handle"), "complete").status_code == 303
    assert status(devhost, reference) == "awaiting_decision"
    page = support.get(f"/api/bits/cases/{reference}").text
    assert 'data-decision="change.decide"' in page and "krever rollen godkjenner" in page
    # Support sends the approver's form anyway, made by hand with a valid CSRF token from another case's page: 403.
    other = action_form(support, question(devhost, "Annen sak"), "question.bits")
    forged = {"csrf_token": other["csrf_token"], "decision": "change.decide"}
    refused = act(support, reference, forged, "approve", "Godkjent av brukerstøtte")
    assert refused.status_code == 403 and "krever rollen godkjenner" in text_of(refused.text)
    assert status(devhost, reference) == "awaiting_decision" and not events(devhost, reference, "approved")
    with browser(devhost, APPROVER) as approver:
        done = act(approver, reference, action_form(approver, reference, "change.decide"), "approve", "Fornuftig.")
        assert done.status_code == 303
    assert status(devhost, reference) == "approved"
    [approved] = events(devhost, reference, "approved")
    assert approved["actor"] == APPROVER and approved["data"]["by_name"] == "Godkjenner 1"
    support.close()


def test_a_form_from_before_the_case_moved_on_is_refused(devhost: DevHostProcess) -> None:
    reference = question(devhost, "Gammelt skjema")
    with browser(devhost, SUPPORT) as client:
        stale = action_form(client, reference, "question.bits")
        # Meanwhile a colleague closes it by email.
        [notice] = mails_to(devhost, reference, SUPPORT)
        reply(devhost, notice, "LØST\nSvar gitt på telefon.")
        before = case_json(devhost, reference)
        refused = act(client, reference, stale, "answer", "Et svar til innsenderen.")
        assert refused.status_code == 409
        assert "allerede besluttet" in text_of(refused.text) and "Ingenting er endret" in text_of(refused.text)
    assert case_json(devhost, reference) == before, "nothing changed: no event, no mail"


def test_an_action_without_its_csrf_token_changes_nothing(devhost: DevHostProcess) -> None:
    reference = question(devhost, "Uten token")
    before = case_json(devhost, reference)
    with browser(devhost, SUPPORT) as client:
        form = action_form(client, reference, "question.bits")
        missing = act(client, reference, {k: v for k, v in form.items() if k != "csrf_token"}, "resolve", "x")
        assert missing.status_code == 403 and "Ingenting er endret" in text_of(missing.text)
    # A page's token posted from another browser (another site's form carries no matching cookie): refused too.
    with browser(devhost, SUPPORT) as other:
        cross = act(other, reference, form, "resolve", "x")
        assert cross.status_code == 403
    assert case_json(devhost, reference) == before


def test_bad_bodies_and_unknown_commands_are_refused_and_change_nothing(devhost: DevHostProcess) -> None:
    reference = question(devhost, "Dårlig innhold")
    before = case_json(devhost, reference)
    url = f"/api/bits/cases/{reference}/actions"
    with browser(devhost, SUPPORT) as client:
        form = action_form(client, reference, "question.bits")
        # Text with a NUL or a right-to-left override: 422, in words.
        for bad in ("Hei\x00du", "Faktura \u202efdp.exe"):
            refused = act(client, reference, form, "resolve", bad)
            assert refused.status_code == 422 and "kontrolltegn" in text_of(refused.text)
        # A command the decision does not declare: 400.
        assert act(client, reference, form, "approve", "x").status_code == 400
        # A decision never asked on this case (no token for it here): 409.
        assert act(client, reference, {**form, "decision": "change.handle"}, "complete").status_code == 409
        # JSON is no browser form; an oversized body is not read.
        json_body = client.post(url, json={**form, "command": "resolve"})
        assert json_body.status_code == 415 and "Ingenting er endret" in text_of(json_body.text)
        assert client.post(url, data={**form, "command": "resolve", "reason": "x" * 2_000_000}).status_code == 413
        # The same form is still good afterwards: nothing above used its one-time id.
        assert act(client, reference, form, "answer", "Et svar.").headers["location"].endswith("?done=decided")
    after = case_json(devhost, reference)
    assert [e["kind"] for e in after["events"]] == [*(e["kind"] for e in before["events"]), "answered"]


def test_a_decision_that_is_not_bits_own_is_never_offered_nor_taken(devhost: DevHostProcess) -> None:
    """The reporter's MELDT (Datatilsynet notified) is theirs to say, by reply: not even an admin says it for them."""
    body = {**dict(SECURITY_BREACH_FORM.example or {}), "data_categories": f"Testdata {uuid.uuid4().hex[:6]}"}
    reference = as_contact(devhost, "incidents/security", body)
    with browser(devhost, "admin@bits.example") as admin:
        page = admin.get(f"/api/bits/cases/{reference}").text
        assert 'data-decision="security_breach.acknowledge"' in page
        assert 'data-decision="security_breach.reported"' not in page
        own = action_form(admin, reference, "security_breach.acknowledge")
        before = case_json(devhost, reference)
        forged = {"csrf_token": own["csrf_token"], "decision": "security_breach.reported"}
        refused = act(admin, reference, forged, "reported", "Meldt i går.")
        assert refused.status_code == 409 and "Ingenting er endret" in text_of(refused.text)
    assert case_json(devhost, reference) == before


def test_an_internal_note_and_an_answer_are_separate_actions_and_a_note_reaches_nobody(devhost: DevHostProcess) -> None:
    """On an error report (where email text without a command always was a note) and a question (where it used to be
    the answer): the note form stores text for Bits only; the answer form sends exactly the mail SVAR would."""
    report = as_contact(devhost, "incidents", {**REPORT, "title": f"Notat og svar {uuid.uuid4().hex[:6]}"})
    mails_to(devhost, report, SUPPORT)
    ask = question(devhost, "Notat og svar")
    reporter = str(REPORT["email"])
    with browser(devhost, SUPPORT) as client:
        for reference, decision, person in ((report, "error_report.triage", reporter), (ask, "question.bits", ASKER)):
            before = len(mails_to(devhost, reference, person))
            secret = "Intern: kunden har ringt tre ganger, ikke si noe om NAV-feilen ennå."
            noted = act(client, reference, action_form(client, reference, decision, "note"), "text", secret)
            assert noted.status_code == 303
            [note] = events(devhost, reference, "note")
            assert note["public"] is False and note["data"]["text"] == secret and note["channel"] == "web"
            assert len(mails_to(devhost, reference, person)) == before, "the note went to nobody"
            assert not [m for m in mails_to(devhost, reference, person) if secret in plain(m)]
            answered = act(
                client, reference, action_form(client, reference, decision, "answer"), "answer", "Vi ser på det."
            )
            assert answered.status_code == 303
            [mail] = [m for m in mails_to(devhost, reference, person) if "Svar fra Bits" in str(m["Subject"])]
            assert "Vi ser på det." in plain(mail) and secret not in plain(mail)
            [answer] = events(devhost, reference, "answered")
            assert answer["public"] is True and answer["data"]["by_name"] == "Bits brukerstøtte"
            page = client.get(f"/api/bits/cases/{reference}").text
            assert "Internt notat" in page and "Svar innsenderen" in page


def test_a_form_from_an_earlier_view_of_the_page_still_works_and_each_form_applies_once(
    devhost: DevHostProcess,
) -> None:
    """Two tabs (or the back button): the page keeps the browser's CSRF nonce, so the first view's form still
    matches the cookie; its one-time id is still its own, so the second view's form is a second action."""
    reference = question(devhost, "To faner")
    with browser(devhost, SUPPORT) as client:
        first = action_form(client, reference, "question.bits", "note")
        second = action_form(client, reference, "question.bits", "note")  # the page opened again, in another tab
        assert first["csrf_token"] != second["csrf_token"]
        assert act(client, reference, first, "text", "Fra første fane.").headers["location"].endswith("?done=decided")
        assert act(client, reference, second, "text", "Fra andre fane.").headers["location"].endswith("?done=decided")
        assert act(client, reference, first, "text", "Fra første fane.").headers["location"].endswith("?done=again")
    assert [e["data"]["text"] for e in events(devhost, reference, "note")] == ["Fra første fane.", "Fra andre fane."]
