"""The receipt link (where a form sends its browser at once) against the link we mail: the first was in the hands of
whoever sent the form, whatever address they typed, so it shows what was sent and where the case stands, but not
Bits' answers, and it cannot write on the case; the mailed link, which reached the address, does both."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, case_json, dispatch, mails_to, plain, reply, submit_form

SUPPORT = "support@bits.example"
ANSWER = "Bruk uføregraden; den andre er historisk."


def test_the_receipt_link_shows_no_answer_and_cannot_write_but_the_mailed_link_does(devhost: DevHostProcess) -> None:
    title = f"Kvitteringslenke {uuid.uuid4().hex[:6]}"
    asker = str(QUESTION["email"])
    with httpx.Client(base_url=devhost.url) as browser:
        sent = submit_form(devhost, "questions", {**QUESTION, "subject": title}, remember=asker, browser=browser)
        receipt = re.sub(r"^https?://[^/]+", "", sent.headers["location"])
        reference = re.search(r"(SSU-D-\d{4}-\d{4,})", receipt)
        assert reference
        ref = reference.group(1)
        dispatch(devhost)
        [notice] = mails_to(devhost, ref, SUPPORT)
        reply(devhost, notice, f"SVAR\n{ANSWER}")
        dispatch(devhost)
        acknowledgement = next(m for m in mails_to(devhost, ref, asker) if "mottatt" in str(m["Subject"]))
        mailed = re.search(r"https?://[^/\s]+(/api/case-page/\S+?)(?:\s|$)", plain(acknowledgement))
        assert mailed

        by_receipt = browser.get(receipt)
        assert by_receipt.status_code == 200 and title in by_receipt.text
        assert ANSWER not in by_receipt.text, "Bits' answer only behind the mailed link"
        assert 'id="write-closed"' in by_receipt.text and 'enctype="multipart/form-data"' not in by_receipt.text
        # A valid form token of this browser's (any of our form pages gives one) does not open the box either.
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/api/questions").text)
        assert token
        before = case_json(devhost, ref)["events"]
        written = browser.post(receipt, data={"csrf_token": token.group(1), "message": "Skrevet med kvitteringen."})
        assert written.status_code == 403 and "lenken i e-posten" in written.text
        assert ANSWER not in written.text
        assert case_json(devhost, ref)["events"] == before, "nothing was added"

        by_mail = browser.get(mailed.group(1))
        assert by_mail.status_code == 200 and ANSWER in by_mail.text
        assert 'enctype="multipart/form-data"' in by_mail.text, "the box, for the holder of the mailed link"
