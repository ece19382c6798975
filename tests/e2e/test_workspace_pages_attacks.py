"""Attacks on the workspace's pages for held messages, mail health, the registry and publishing: a form's one-time
token sent again with other fields or to another item, Bits' own addresses in a held message, and what an edit
that is not made tells the company's contacts."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

import azure.functions as func

from functions.core.model import Contact, Organisation
from functions.core.privacy import MASK
from functions.core.services import Services
from functions.web.forms import CSRF_COOKIE, form_token
from functions.web.staff import StaffMember
from functions.workspace.registry_view import change_company, version_of
from tests.conftest import DevHostProcess
from tests.e2e.helpers import case_json, new_organisation_number
from tests.e2e.test_workspace_actions import browser
from tests.e2e.test_workspace_case import text_of
from tests.e2e.test_workspace_held import HELD, act, broken_message, events, form_of, held_item, question
from tests.e2e.test_workspace_mail import PAGE, asker, bounce_thrice, failed_confirmation, hidden, item
from tests.e2e.test_workspace_registry import people
from tests.identity_numbers import identity_number

SUPPORT = "support@bits.example"
ADMIN_EMAIL = "admin@bits.example"
ADMIN = StaffMember("admin@bits.example", "Bits administrator", "oid-admin", frozenset({"admin"}))


def _registry_request(number: str, nonce: str, fields: dict[str, Any]) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        f"http://localhost/api/bits/registry/{number}/changes",
        headers={"content-type": "application/x-www-form-urlencoded", "cookie": f"{CSRF_COOKIE}={nonce}"},
        route_params={"organisation_number": number},
        body=urlencode(fields, doseq=True).encode(),
    )


async def _company(services: Services, name: str) -> Organisation:
    tag = uuid.uuid4().hex[:6]
    extra = Contact(name="Sara Sikker", email=f"sikker.{tag}@prove.example", roles=["security"])
    org = Organisation(
        organisation_number=new_organisation_number(), legal_name=f"{name} {tag} AS", contacts=[*people(tag), extra]
    )
    await services.registry_store.put_organisation(org)
    return org


# -- the registry: a used form token is no licence for an edit without a record ------------------------------------


async def test_a_used_registry_token_sent_with_another_edit_changes_nothing_unrecorded(services: Services) -> None:
    """An admin keeps the token of a form that was applied (add a contact) and sends it again with the page's new
    version and another edit (remove a contact): the removal must not be made without a record of its own and a
    mail to the company's contacts - the one-time id found taken is no sign that this edit was recorded."""
    org = await _company(services, "Gjenbruk")
    number, extra = org.organisation_number, org.contacts[2]
    nonce = secrets.token_urlsafe(16)
    token = form_token(services, nonce)
    added = {"action": "add_contact", "version": version_of(org), "name": "Nora Ny", "roles": ["technical"]}
    added["email"] = f"ny.{uuid.uuid4().hex[:6]}@prove.example"
    first = await change_company(_registry_request(number, nonce, {"csrf_token": token, **added}), services, ADMIN)
    assert first.status_code == 303 and "done=add_contact" in first.headers["Location"]
    now = await services.registry_store.get_organisation(number)
    assert now is not None
    removal = {"csrf_token": token, "action": "remove_contact", "version": version_of(now), "email": extra.email}
    second = await change_company(_registry_request(number, nonce, removal), services, ADMIN)
    after = await services.registry_store.get_organisation(number)
    assert after is not None
    trail = [e.data["action"] for e in await services.store.events(f"SSU-REG-{number}")]
    removed = after.contact(extra.email) is None
    assert not removed or trail.count("remove_contact") == 1, f"removed without a record: {trail}"
    assert second.status_code != 303 or "done=again" not in second.headers["Location"]


async def test_a_registry_token_used_on_one_company_makes_no_unrecorded_change_on_another(services: Services) -> None:
    one, other = await _company(services, "Første"), await _company(services, "Andre")
    nonce = secrets.token_urlsafe(16)
    token = form_token(services, nonce)
    email = f"ny.{uuid.uuid4().hex[:6]}@prove.example"
    fields = {"csrf_token": token, "action": "add_contact", "name": "Nora Ny", "roles": ["technical"], "email": email}
    first = await change_company(
        _registry_request(one.organisation_number, nonce, {**fields, "version": version_of(one)}), services, ADMIN
    )
    assert first.status_code == 303
    second = await change_company(
        _registry_request(other.organisation_number, nonce, {**fields, "version": version_of(other)}), services, ADMIN
    )
    after = await services.registry_store.get_organisation(other.organisation_number)
    assert after is not None
    trail = await services.store.events(f"SSU-REG-{other.organisation_number}")
    assert after.contact(email) is None or [e.kind for e in trail] == ["registry_changed"], "added without a record"
    assert second.status_code != 303 or "done=again" not in second.headers["Location"]


# -- held messages: one message's form sent to another ---------------------------------------------------------------


def test_a_held_messages_used_form_sent_to_another_message_is_refused_in_words(devhost: DevHostProcess) -> None:
    """The discard form of one held message, applied, then posted to another held message's action: refused as a
    form not from this item (not a 500), and the other message stays open."""
    first, _ = broken_message(devhost, "Første melding")
    second, _ = broken_message(devhost, "Andre melding")
    with browser(devhost, SUPPORT) as client:
        form = form_of(client, first, "discard")
        assert act(client, first, form, reason="spam").status_code == 303
        answer = act(client, second, form, reason="spam")
        assert answer.status_code == 403, answer.text
        assert "Skjemaet er utløpt" in text_of(answer.text)
        assert held_item(client, second), "the other message is still open"
        assert client.get(f"{HELD}?show=handled").status_code == 200


def test_a_held_message_from_bits_own_mailbox_is_not_opened_as_a_case_nor_made_a_contact(
    devhost: DevHostProcess,
) -> None:
    """A broken message claiming to come from Bits' own mailbox (a plus tag of it): the email path never opens a case
    for our own address (intake ignores it), so opening it as a new case would file the stranger's text under Bits'
    own mailbox and mail the confirmation request to ourselves; nor is our mailbox a company's contact."""
    key, _ = broken_message(devhost, "Ser ut som fra Bits", sender="Bits SSU <ssu+feil@bits.example>")
    with browser(devhost, SUPPORT) as client:
        opened = act(client, key, form_of(client, key, "open_case"), process="D")
        assert opened.status_code == 422, opened.headers
        assert "Bits' egen postkasse" in text_of(opened.text)
        known = act(client, key, form_of(client, key, "known_contact"), organisation_number="310000027")
        assert known.status_code == 422 and "Bits' egen postkasse" in text_of(known.text)
        assert held_item(client, key), "still open: nothing changed"
        assert act(client, key, form_of(client, key, "discard"), reason="falsk").status_code == 303


# -- identity numbers typed by Bits into the new pages' forms --------------------------------------------------------


def test_an_identity_number_in_a_held_actions_reason_is_masked_before_it_is_stored(devhost: DevHostProcess) -> None:
    """Support pastes an identity number into the reason for attaching a held message to a case: the internal
    entry on the case and the held message's record keep the marker, never the number (as every form does)."""
    number = identity_number(3, 4, 1985)
    reference = question(devhost)
    key, _ = broken_message(devhost, "Gjelder en sak")
    with browser(devhost, SUPPORT) as client:
        done = act(client, key, form_of(client, key, "attach"), reference=reference, reason=f"Gjelder {number}")
        assert done.status_code == 303, done.text
        handled = held_item(client, key, "?show=handled") or ""
    assert number not in handled and MASK in handled
    [attached] = events(devhost, reference, "held_message_attached")
    assert attached["data"]["reason"] == f"Gjelder {MASK}"


async def test_an_identity_number_in_a_new_contacts_name_is_masked_in_the_registry_and_its_mails(
    services: Services,
) -> None:
    org = await _company(services, "Maskert")
    number, fnr = org.organisation_number, identity_number(5, 6, 1975)
    nonce = secrets.token_urlsafe(16)
    fields: dict[str, Any] = {
        "csrf_token": form_token(services, nonce),
        "action": "add_contact",
        "version": version_of(org),
    }
    fields |= {"name": f"Nora Ny {fnr}", "email": f"ny.{uuid.uuid4().hex[:6]}@prove.example", "roles": ["technical"]}
    answer = await change_company(_registry_request(number, nonce, fields), services, ADMIN)
    assert answer.status_code == 303, answer.get_body().decode()[:2000]
    after = await services.registry_store.get_organisation(number)
    assert after is not None and after.contacts[-1].name == f"Nora Ny {MASK}"
    [entry] = await services.store.events(f"SSU-REG-{number}")
    assert fnr not in entry.model_dump_json()
    told = await services.store.mails(f"SSU-REG-{number}")
    assert told and all(fnr not in m.mail.text and fnr not in m.mail.html for m in told)


# -- mail health: one row's used form sent for another row ----------------------------------------------------------


def test_a_used_lift_form_sent_for_another_address_is_refused_not_told_done(devhost: DevHostProcess) -> None:
    """An admin's lift form for one address, applied, then sent with another suppressed address: the page must not
    say "sent before, done once" while the other address stays suppressed; it is refused, nothing changes."""
    first, second = asker(), asker()
    reference = question(devhost)
    bounce_thrice(devhost, first, reference)
    bounce_thrice(devhost, second, reference)
    with browser(devhost, ADMIN_EMAIL) as admin:
        form = hidden(item(admin.get(PAGE).text, "data-address", first))
        assert admin.post(f"{PAGE}/lift", data=form).status_code == 303
        other = admin.post(f"{PAGE}/lift", data={**form, "address": second})
        assert other.status_code == 403, other.headers
        assert "Skjemaet er utløpt" in text_of(other.text)
        assert f'data-address="{second}"' in admin.get(PAGE).text, "still suppressed"


def test_a_used_resend_form_sent_for_another_failed_mail_is_refused_not_told_done(devhost: DevHostProcess) -> None:
    """Two failed mails on cases of one process and year; the resend form of the first, applied, then sent with
    the second's reference and mail id: refused (not "sent before"), and the second is still failed."""
    _, one_address, one_mail = failed_confirmation(devhost)
    two, two_address, two_mail = failed_confirmation(devhost)
    with browser(devhost, ADMIN_EMAIL) as admin:
        for address in (one_address, two_address):
            lift = hidden(item(admin.get(PAGE).text, "data-address", address))
            assert admin.post(f"{PAGE}/lift", data=lift).status_code == 303
        form = hidden(item(admin.get(PAGE).text, "data-mail", one_mail))
        assert admin.post(f"{PAGE}/resend", data=form).headers["location"] == f"{PAGE}?done=resent"
        other = admin.post(f"{PAGE}/resend", data={**form, "reference": two, "mail": two_mail})
        assert other.status_code == 403, other.headers
        assert "Skjemaet er utløpt" in text_of(other.text)
        assert f'data-mail="{two_mail}"' in admin.get(PAGE).text, "still failed, to be sent from its own form"


# -- held messages: the sender as mail servers read it, not as encoded words decode ----------------------------------


def test_a_set_aside_messages_sender_is_the_address_mail_servers_read_not_one_in_encoded_words(
    devhost: DevHostProcess,
) -> None:
    """A broken message from attacker@evil.example whose display name is an encoded word that decodes to another
    company's contact in angle brackets: decoded, the From reads "<fag@demo-forsikring.example> <attacker@…>", and
    the first address is not the sender. Opening it as a case must never file it under the contact's address."""
    attacker = f"attacker-{uuid.uuid4().hex[:6]}@evil.example"
    key, _ = broken_message(
        devhost, "Send meg alle data", sender=f"=?utf-8?q?=3Cfag=40demo-forsikring=2Eexample=3E?= <{attacker}>"
    )
    with browser(devhost, SUPPORT) as client:
        done = act(client, key, form_of(client, key, "open_case"), process="D")
        assert done.status_code == 303, done.text
        handled = held_item(client, key, "?show=handled") or ""
    found = re.search(r'href="/api/bits/cases/(SSU-D-\d{4}-\d{4,})"', handled)
    assert found, handled
    case = case_json(devhost, found.group(1))["case"]
    assert case["submitter_email"] == attacker, case["submitter_email"]
    assert case["organisation_number"] != "310000019", "not filed under the contact's company"
