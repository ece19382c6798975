"""Bits' mail health over HTTP: a bounced address is listed with its bounces and an admin lifts it (support cannot);
a failed mail is listed with its case and error in words, and sent again once through the outbox (a form sent twice
sends once; a suppressed recipient is refused until lifted); bad input changes nothing."""

from __future__ import annotations

import asyncio
import email
import html
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx

from functions.composition import build_services
from functions.core.mail import mail_id
from functions.core.settings import Settings
from tests.conftest import DevHostProcess
from tests.e2e.helpers import QUESTION, case_json, dispatch, sign_in
from tests.e2e.test_workspace_actions import browser
from tests.e2e.test_workspace_case import text_of

SUPPORT = "support@bits.example"
ADMIN = "admin@bits.example"
PAGE = "/api/bits/mail"


def asker() -> str:
    return f"mh-{uuid.uuid4().hex[:10]}@fjordtrygd.example"


def bounce_thrice(host: DevHostProcess, address: str, reference: str) -> None:
    """Three permanent bounces (5.1.1) of `address` on the case, written into the dev host's storage as the intake
    counts them (tests/e2e/test_email_intake.py sends a real delivery report): the address is suppressed."""

    async def write() -> None:
        env = host.env
        settings = Settings(
            storage_connection_string=env["SSU_STORAGE_CONNECTION_STRING"], table_prefix=env["SSU_TABLE_PREFIX"]
        )
        services = build_services(settings)
        try:
            for _ in range(3):
                await services.limits.record_bounce(address, datetime.now(UTC), 3, status="5.1.1", reference=reference)
        finally:
            await services.close()

    with ThreadPoolExecutor(1) as pool:  # the tests' own event loop (if any) stays out of it
        pool.submit(asyncio.run, write()).result()


def failed_confirmation(host: DevHostProcess) -> tuple[str, str, str]:
    """A question from an address that has not proven itself, whose confirmation request then fails: the address
    bounced three times (suppressed) before the outbox got to it. Returns (reference, address, mail id)."""
    address = asker()
    asked = httpx.post(f"{host.url}/api/questions", json={**QUESTION, "email": address, "subject": "Retur"})
    assert asked.status_code == 201, asked.text
    reference = asked.json()["reference"]
    bounce_thrice(host, address, reference)
    dispatch(host)
    [mail] = [m for m in case_json(host, reference)["mails"] if m["to"] == address]
    assert mail["status"] == "failed", mail
    return reference, address, mail_id(mail["purpose"], address)


def item(page: str, attribute: str, value: str) -> str:
    """The list item of the page whose `attribute` is `value`."""
    found = re.search(rf'<li [^>]*{attribute}="{re.escape(value)}"[^>]*>(.*?)</li>', page, re.S)
    assert found, f"no item with {attribute}={value}"
    return found.group(0)


def hidden(fragment: str) -> dict[str, str]:
    return {
        k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', fragment)
    }


def sent_files(host: DevHostProcess, reference: str, address: str) -> list[EmailMessage]:
    folder = host.mail_dir / "outbox"
    found = [email.message_from_bytes(p.read_bytes(), policy=default) for p in folder.glob(f"{reference}_*.eml")]
    return [m for m in found if str(m["To"]) == address]


def resent_events(host: DevHostProcess, reference: str) -> list[dict[str, Any]]:
    return [e for e in case_json(host, reference)["events"] if e["kind"] == "mail_resent"]


def test_a_bounced_address_is_listed_with_its_bounces_and_only_an_admin_lifts_it(devhost: DevHostProcess) -> None:
    reference, address, _ = failed_confirmation(devhost)  # suppressed, and a resend form on the page
    with browser(devhost, SUPPORT) as support:
        page = support.get(PAGE)
        assert page.status_code == 200 and 'aria-current="page"' in page.text
        row = item(page.text, "data-address", address)
        assert 'data-suppressed="true"' in row and "Sperret" in row and '<span class="bounces">3</span>' in row
        assert "Siste retur" in row and "<form" not in row, "support sees no lift button"
        assert "Årsak (siste retur): Adressen finnes ikke (5.1.1)" in text_of(row)
        assert f'<a href="/api/bits/cases/{reference}">{reference}</a>' in row
        assert "krever rollen administrator" in row
        # Support sends a lift anyway, with a valid token (of the page's resend form) and the page's cookie.
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        data = {"address": address, "csrf_token": html.unescape(token.group(1))}
        refused = support.post(f"{PAGE}/lift", data=data)
        assert refused.status_code == 403 and "krever rollen administrator" in text_of(refused.text)
        assert 'data-suppressed="true"' in item(support.get(PAGE).text, "data-address", address), "nothing changed"
    with browser(devhost, ADMIN) as admin:
        page = admin.get(f"{PAGE}?lang=en")
        row = item(page.text, "data-address", address)
        assert "Suppressed" in row and "Permanent bounces" in row and "The address does not exist (5.1.1)" in row
        form = hidden(row)
        lifted = admin.post(f"{PAGE}/lift?lang=en", data=form)
        assert lifted.status_code == 303 and lifted.headers["location"] == f"{PAGE}?done=lifted&lang=en"
        # The same form again (a double click): nothing is lifted twice.
        again = admin.post(f"{PAGE}/lift?lang=en", data=form)
        assert again.status_code == 303 and again.headers["location"] == f"{PAGE}?done=again&lang=en"
        after = admin.get(lifted.headers["location"]).text
        assert "The suppression is lifted" in text_of(after)
        assert f'data-address="{address}" data-suppressed' not in after, "no longer listed as suppressed"
        done = item(after.split('id="lifts"', 1)[1], "data-address", address)
        assert f'<span class="by">{ADMIN}</span>' in done and "bounces before: 3" in done
    listing = httpx.get(f"{devhost.url}/api/mail/suppressions", headers=sign_in(devhost)).json()
    assert [x["lifted_by"] for x in listing["lifted"] if x["address"] == address] == [ADMIN]


def test_a_failed_mail_is_sent_again_once_through_the_outbox_after_its_recipient_is_lifted(
    devhost: DevHostProcess,
) -> None:
    reference, address, mail = failed_confirmation(devhost)
    with browser(devhost, SUPPORT) as support:
        page = support.get(PAGE).text
        row = item(page, "data-mail", mail)
        assert f'href="/api/bits/cases/{reference}"' in row and address in row
        assert "Be innsender bekrefte e-postadressen" in row, "the purpose in words"
        assert "Adressen er sperret etter gjentatte permanente returer." in row, "the error in words"
        assert "få sperringen opphevet først" in row
        form = hidden(row)
        # Suppressed: refused with the way out, and nothing is queued.
        refused = support.post(f"{PAGE}/resend", data=form)
        assert refused.status_code == 409 and "oppheve sperringen først" in text_of(refused.text)
        assert address in text_of(refused.text)
        dispatch(devhost)
        assert sent_files(devhost, reference, address) == [] and resent_events(devhost, reference) == []
    with browser(devhost, ADMIN) as admin:
        lifted = admin.post(f"{PAGE}/lift", data=hidden(item(admin.get(PAGE).text, "data-address", address)))
        assert lifted.status_code == 303
    colleague = browser(devhost, ADMIN)
    other = hidden(item(colleague.get(PAGE).text, "data-mail", mail))  # a colleague has the page open too
    with browser(devhost, SUPPORT) as support:
        form = hidden(item(support.get(PAGE).text, "data-mail", mail))
        sent = support.post(f"{PAGE}/resend", data=form)
        assert sent.status_code == 303 and sent.headers["location"] == f"{PAGE}?done=resent"
        # A double click: the same form again resends nothing.
        again = support.post(f"{PAGE}/resend", data=form)
        assert again.status_code == 303 and again.headers["location"] == f"{PAGE}?done=again"
        page = support.get(PAGE).text
        assert f'data-mail="{mail}"' not in page, "no longer failed"
        assert 'id="queued" data-count="0"' not in page, "queued, not yet sent"
        dispatch(devhost)
        dispatch(devhost)
        [letter] = sent_files(devhost, reference, address)
        assert "Bekreft e-postadressen" in str(letter["Subject"]) and reference in str(letter["Subject"])
        [state] = [m for m in case_json(devhost, reference)["mails"] if m["to"] == address]
        assert state["status"] == "sent" and state["attempts"] == 1, state
        [event] = resent_events(devhost, reference)
        assert event["actor"] == SUPPORT and event["public"] is False and event["channel"] == "web"
        assert event["data"]["by_name"] == "Bits brukerstøtte" and event["data"]["to"] == address
        # On the case's timeline, as an internal entry with the name of who did it.
        case_page = support.get(f"/api/bits/cases/{reference}").text
        entry = re.search(
            r'<li class="internal"[^>]*>((?:(?!</li>).)*Bits sendte e-posten på nytt.*?)</li>', case_page, re.S
        )
        assert entry and "Bits brukerstøtte" in entry.group(1)
    # The colleague's form is another action, and the mail is no longer failed: nothing is sent again.
    late = colleague.post(f"{PAGE}/resend", data=other)
    colleague.close()
    assert late.status_code == 409 and "har ikke feilet" in text_of(late.text)
    dispatch(devhost)
    assert len(resent_events(devhost, reference)) == 1 and len(sent_files(devhost, reference, address)) == 1


def test_bad_input_to_the_forms_changes_nothing(devhost: DevHostProcess) -> None:
    reference, address, mail = failed_confirmation(devhost)
    with browser(devhost, SUPPORT) as support:
        form = hidden(item(support.get(PAGE).text, "data-mail", mail))
        cases = [
            ({**form, "mail": "0" * 24}, 404, "ingen e-post som feilet"),
            ({**form, "reference": "SSU-X-0000"}, 404, "ingen e-post som feilet"),
            ({k: v for k, v in form.items() if k != "csrf_token"}, 403, "Skjemaet er utløpt"),
            ({**form, "csrf_token": "forged"}, 403, "Skjemaet er utløpt"),
            ({**form, "mail": mail + "\u202e"}, 422, "kontrolltegn"),
        ]
        for data, status, words in cases:
            answer = support.post(f"{PAGE}/resend", data=data)
            assert answer.status_code == status and words in text_of(answer.text), (data, answer.text)
        as_json = support.post(f"{PAGE}/resend", json=form)
        assert as_json.status_code == 415
        # Without the browser's form cookie, the token alone is not enough (double submit).
        stranger = httpx.post(f"{devhost.url}{PAGE}/resend", data=form, headers=sign_in(devhost))
        assert stranger.status_code == 403
        # Not signed in: no page at all.
        anonymous = httpx.post(f"{devhost.url}{PAGE}/resend", data=form, headers={"Accept": "application/json"})
        assert anonymous.status_code == 401
        assert f'data-mail="{mail}"' in support.get(PAGE).text, "still failed"
    with browser(devhost, ADMIN) as admin:
        lift = hidden(item(admin.get(PAGE).text, "data-address", address))
        for data, status in [
            ({k: v for k, v in lift.items() if k != "csrf_token"}, 403),
            ({**lift, "address": "x"}, 400),
            ({**lift, "address": address + "\x07"}, 422),
        ]:
            assert admin.post(f"{PAGE}/lift", data=data).status_code == status, data
        assert 'data-suppressed="true"' in item(admin.get(PAGE).text, "data-address", address), "still suppressed"
    dispatch(devhost)
    assert sent_files(devhost, reference, address) == [] and resent_events(devhost, reference) == []
