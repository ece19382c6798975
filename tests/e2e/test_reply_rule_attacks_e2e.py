"""Adversarial review of #16's one rule, over HTTP and the inbox: Bits' words meant for colleagues reach nobody
outside Bits, whether written above a command in a reply or sent as an empty answer from the case view."""

from __future__ import annotations

import re

from tests.conftest import DevHostProcess
from tests.e2e.helpers import mails_to, plain, reply
from tests.e2e.test_workspace_actions import ASKER, SUPPORT, act, action_form, browser, events, question
from tests.e2e.test_workspace_case import text_of

INTERNAL = "Frida er sur etter forrige gang, ikke nevn det for henne."


def test_a_note_above_svar_in_a_reply_reaches_nobody_and_bits_is_asked(devhost: DevHostProcess) -> None:
    reference = question(devhost, "Uføregrad i svaret")
    [notice] = mails_to(devhost, reference, SUPPORT)
    reply(devhost, notice, f"{INTERNAL}\n\nSVAR\nVi ser på saken i dag.")
    assert not any(INTERNAL in plain(m) for m in mails_to(devhost, reference, ASKER))
    assert events(devhost, reference, "answered") == []
    [asked] = mails_to(devhost, reference, SUPPORT, "Vi forsto ikke svaret ditt")
    assert "har ikke gjort noe med saken" in plain(asked)


def test_an_empty_answer_from_the_case_view_is_refused_and_sends_nothing(devhost: DevHostProcess) -> None:
    reference = question(devhost, "Tomt svar")
    before = len(mails_to(devhost, reference, ASKER))
    with browser(devhost, SUPPORT) as client:
        for kind, command in (("answer", "answer"), ("note", "text")):
            refused = act(client, reference, action_form(client, reference, "question.bits", kind), command, "   ")
            assert refused.status_code == 400, refused.text
            assert "et tomt svar eller notat lagres ikke" in text_of(refused.text)
    assert events(devhost, reference, "answered") == [] and events(devhost, reference, "note") == []
    assert len(mails_to(devhost, reference, ASKER)) == before


def test_the_decision_form_says_its_text_may_leave_bits(devhost: DevHostProcess) -> None:
    """The answer and note forms said where their text goes; the decision form (LØST, SPØRSMÅL, AVSLÅTT …, whose text
    the submitter gets) said only "reason or text", beside a note form that promised nothing leaves Bits."""
    reference = question(devhost, "Hvor går teksten")
    with browser(devhost, SUPPORT) as client:
        page = client.get(f"/api/bits/cases/{reference}").text
    form = re.search(r'data-decision="question.bits" data-form="decide">(.*?)</form>', page, re.S)
    assert form and "kan nå innsenderen og andre utenfor Bits" in text_of(form.group(1)), form
