"""Decisions by email reply, through the dev host: Bits answers and closes a question by replying to its notice."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, as_contact, case_json, dispatch, kinds, outbox_mails, poll, reply


def ask(host: DevHostProcess) -> tuple[str, EmailMessage]:
    """A new question; returns its reference and Bits' notice (with the token)."""
    reference = as_contact(host, "questions", {**QUESTION, "subject": f"Spørsmål {uuid.uuid4().hex[:6]}"})
    dispatch(host)
    notice = next(m for m in outbox_mails(host, reference) if str(m["To"]) == "support@bits.example")
    return reference, notice


def mails_to_asker(host: DevHostProcess, reference: str) -> list[EmailMessage]:
    dispatch(host)
    return [m for m in outbox_mails(host, reference) if str(m["To"]) == QUESTION["email"]]


def test_notice_carries_the_token_in_reply_to_and_subject(devhost: DevHostProcess) -> None:
    _, notice = ask(devhost)
    token = re.fullmatch(r"ssu\+([a-z2-9]{12})@bits\.example", str(notice["Reply-To"]))
    assert token, notice["Reply-To"]
    assert str(notice["Subject"]).endswith(f"#{token.group(1)}")
    body = notice.get_body(("plain",))
    assert body is not None and "LØST             alene på første linje" in body.get_content()


def test_bits_answers_then_closes_by_reply(devhost: DevHostProcess) -> None:
    reference, notice = ask(devhost)
    # Text without a command is an internal note, as in every process: the asker gets nothing of it.
    reply(devhost, notice, "Hei!\n\nTror det er uføregrad, men sjekker med NAV først.\n\nHilsen Bits")
    note = case_json(devhost, reference)
    assert note["case"]["status"] == "new"
    assert (note["events"][-1]["kind"], note["events"][-1]["public"]) == ("note", False)
    assert len(mails_to_asker(devhost, reference)) == 1, "the receipt only: nothing of the note went to the asker"
    reply(devhost, notice, "Hei!\n\nSVAR: Bruk uføregrad; IFU er inntekten før uførhet.\n\nHilsen Bits")
    stored = case_json(devhost, reference)
    assert stored["case"]["status"] == "answered"
    answer_event = stored["events"][-1]
    assert answer_event["kind"] == "answered" and answer_event["public"] is True
    # The greeting and the sign-off are cut: the answer goes out inside our own mail, which greets and signs it.
    assert answer_event["data"]["text"] == "Bruk uføregrad; IFU er inntekten før uførhet."
    [answer] = [m for m in mails_to_asker(devhost, reference) if "Svar fra Bits" in str(m["Subject"])]
    text = answer.get_body(("plain",))
    assert text is not None
    assert "IFU er inntekten før uførhet" in text.get_content()
    assert "Fra: Bits SSU" not in text.get_content(), "the quoted history is not relayed"
    assert answer["In-Reply-To"].startswith(f"<{reference}.")

    reply(devhost, notice, "LØST\nSpørsmålet er besvart.")
    assert case_json(devhost, reference)["case"]["status"] == "closed"
    assert any("avsluttet" in str(m["Subject"]) for m in mails_to_asker(devhost, reference))

    before = len(outbox_mails(devhost, reference))
    reply(devhost, notice, "LØST")
    assert case_json(devhost, reference)["case"]["status"] == "closed"
    assert kinds(devhost, reference)[-1] == "decision_too_late"
    dispatch(devhost)
    late = [m for m in outbox_mails(devhost, reference) if "allerede avgjort" in str(m["Subject"])]
    assert len(late) == 1 and str(late[0]["To"]) == "support@bits.example"
    assert len(outbox_mails(devhost, reference)) == before + 1


def test_unclear_replies_get_a_clarification_and_change_nothing(devhost: DevHostProcess) -> None:
    reference, notice = ask(devhost)
    for body, problem in [("Ikke løst ennå, vi ser på det", "negated"), ("LØST eller kanskje ikke", "negated")]:
        reply(devhost, notice, body)
        stored = case_json(devhost, reference)
        assert stored["case"]["status"] == "new"
        assert stored["events"][-1]["kind"] == "decision_unclear"
        assert stored["events"][-1]["data"]["problem"] == problem
    reply(devhost, notice, "", subject_prefix="")
    assert kinds(devhost, reference)[-1] == "decision_unclear"
    reply(devhost, notice, "LØST", subject_prefix="VS: ")  # forwarded, not a reply
    assert case_json(devhost, reference)["case"]["status"] == "new"
    dispatch(devhost)
    clarifications = [m for m in outbox_mails(devhost, reference) if "forsto ikke" in str(m["Subject"])]
    assert len(clarifications) == 4
    assert all(str(m["To"]) == "support@bits.example" for m in clarifications)


def test_spoofed_decisions_change_nothing_and_are_logged_as_refused(devhost: DevHostProcess) -> None:
    reference, notice = ask(devhost)
    spoofs = [
        {"sender": "Mallory <mallory@evil.example>"},
        {"sender": '"support@bits.example" <mallory@evil.example>'},  # the display-name trick
        {"sender": "Frida Fagerli <fag@demo-forsikring.example>"},  # a real participant, but not the token's holder
        {
            "extra_headers": {
                "Authentication-Results": "spf=fail smtp.mailfrom=bits.example; dkim=none; "
                "dmarc=fail action=none header.from=bits.example"
            }
        },
    ]
    for spoof in spoofs:
        reply(devhost, notice, "LØST", **spoof)  # type: ignore[arg-type]
    stored = case_json(devhost, reference)
    assert stored["case"]["status"] == "new"
    refused = [e for e in stored["events"] if e["kind"] == "decision_refused"]
    assert len(refused) == 4 and all(not e["public"] for e in refused)
    assert "DMARC fail" in refused[-1]["data"]["reason"]
    dispatch(devhost)
    assert not [m for m in outbox_mails(devhost, reference) if str(m["To"]) == "mallory@evil.example"]
    assert len(mails_to_asker(devhost, reference)) == 1, "only the acknowledgement"


def test_a_reply_processed_twice_decides_once(devhost: DevHostProcess) -> None:
    reference, notice = ask(devhost)
    name = reply(devhost, notice, "SVAR\nSvaret er ja.")
    raw = (devhost.mail_dir / "processed" / name).read_bytes()
    (devhost.mail_dir / "inbox" / f"again-{name}").write_bytes(raw)
    poll(devhost)
    assert kinds(devhost, reference).count("answered") == 1
    assert len([m for m in mails_to_asker(devhost, reference) if "Svar fra Bits" in str(m["Subject"])]) == 1


def test_the_case_page_shows_bits_answer(devhost: DevHostProcess) -> None:
    reference, notice = ask(devhost)
    reply(devhost, notice, "SVAR\nSvaret er <b>ja</b>.")
    ack = next(m for m in mails_to_asker(devhost, reference) if "mottatt" in str(m["Subject"]))
    body = ack.get_body(("plain",))
    assert body is not None
    link = re.search(r"(http://\S+/api/case-page/\S+)", body.get_content())
    assert link
    page = httpx.get(link.group(1))
    assert "Bits svarte" in page.text and "Svaret er &lt;b&gt;ja&lt;/b&gt;." in page.text
    assert "Besvart av Bits" in page.text


def test_bits_asks_nav_then_relays_and_marks_faq(devhost: DevHostProcess) -> None:
    reference, notice = ask(devhost)
    reply(devhost, notice, "VIDERESEND NAV\nVet dere hva IFU betyr her?")
    dispatch(devhost)
    [to_nav] = [m for m in outbox_mails(devhost, reference) if str(m["To"]) == "drift@nav.example"]
    body = to_nav.get_body(("plain",))
    assert body is not None and "Vet dere hva IFU betyr her?" in body.get_content()
    assert QUESTION["question"] in body.get_content() and QUESTION["email"] not in to_nav.as_string()
    reply(devhost, to_nav, "IFU er inntekt før uførhet.", sender="NAV drift <drift@nav.example>")
    assert kinds(devhost, reference)[-1] == "message"
    reply(devhost, notice, "FAQ\nIFU er inntekt før uførhet, ifølge NAV.")
    stored = case_json(devhost, reference)
    assert stored["case"]["details"]["faq"] is True and stored["case"]["status"] == "answered"
    assert any("Svar fra Bits" in str(m["Subject"]) for m in mails_to_asker(devhost, reference))


def test_a_question_that_is_an_error_becomes_an_error_report(devhost: DevHostProcess) -> None:
    reference, notice = ask(devhost)
    reply(devhost, notice, "FEIL\nDette er en feil i API-et.")
    original = case_json(devhost, reference)
    assert original["case"]["status"] == "closed"
    continued = next(e for e in original["events"] if e["kind"] == "continued")["data"]["continued_in"]
    assert continued.startswith("SSU-C-")
    new = case_json(devhost, continued)
    assert new["case"]["details"]["linked_from"] == reference
    assert new["case"]["submitter_email"] == QUESTION["email"]
    assert new["events"][0]["data"]["message"] == QUESTION["question"]
