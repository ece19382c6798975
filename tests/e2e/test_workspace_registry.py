"""Bits' registry in the workspace over HTTP: support reads it in words but cannot edit it; an admin's edit is recorded
(who, when, before → after), told once to each contact the company had before it, applied once when the form is
sent twice, and seen by the next request; bad or stale forms change nothing and say why on a page."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from unittest.mock import patch
from urllib.parse import urlencode

import azure.functions as func
import httpx

from functions.adapters.tables import TableCaseStore, TableRegistryStore, TableStorage
from functions.core.model import CaseEvent, Contact, Organisation, Process, TermsAcceptance
from functions.core.services import Services
from functions.core.settings import Settings
from functions.core.store import StorageUnavailable
from functions.web.forms import CSRF_COOKIE, form_token
from functions.web.staff import StaffMember
from functions.workspace.registry_view import change_company, version_of
from tests.conftest import DevHostProcess
from tests.e2e.helpers import dispatch, new_organisation_number, outbox_mails, plain, poll, sign_in
from tests.e2e.test_workspace_case import text_of

SUPPORT = "support@bits.example"
ADMIN = "admin@bits.example"


def browser(host: DevHostProcess, who: str) -> httpx.Client:
    session = sign_in(host, who)["Cookie"].split("=", 1)[1]
    return httpx.Client(base_url=host.url, cookies={"AppServiceAuthSession": session})


@contextmanager
def _storage(host: DevHostProcess) -> Iterator[TableStorage]:
    settings = Settings(
        storage_connection_string=host.env["SSU_STORAGE_CONNECTION_STRING"], table_prefix=host.env["SSU_TABLE_PREFIX"]
    )
    yield TableStorage(settings)


def _run(host: DevHostProcess, work: Any) -> Any:
    async def go() -> Any:
        with _storage(host) as storage:
            try:
                return await work(storage)
            finally:
                await storage.close()

    # In a thread of its own: a browser test's thread already runs Playwright's event loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def company(host: DevHostProcess, contacts: list[Contact], **fields: Any) -> Organisation:
    """A company of the test's own in the dev host's registry (so that tests never share one)."""
    tag = uuid.uuid4().hex[:6]
    organisation = Organisation(
        organisation_number=new_organisation_number(),
        legal_name=f"Prøve Forsikring {tag} AS",
        status="in_production",
        services=["ufore"],
        environments=["test", "production"],
        contacts=contacts,
        **fields,
    )
    _run(host, lambda s: TableRegistryStore(s).put_organisation(organisation))
    return organisation


def stored(host: DevHostProcess, number: str) -> Organisation:
    found = _run(host, lambda s: TableRegistryStore(s).get_organisation(number))
    assert found is not None
    return found  # type: ignore[no-any-return]


def trail(host: DevHostProcess, number: str) -> list[CaseEvent]:
    return _run(host, lambda s: TableCaseStore(s, "SSU").events(f"SSU-REG-{number}"))  # type: ignore[no-any-return]


def mails(host: DevHostProcess, number: str) -> list[EmailMessage]:
    dispatch(host)
    return outbox_mails(host, f"SSU-REG-{number}")


def card_of(html: str, number: str) -> str:
    """The text of one company's entry in the registry's list."""
    found = re.search(rf'<li data-organisation="{number}">(.*?)</li>\s*(?:<li data-organisation|</ul>)', html, re.S)
    assert found, f"{number} is not listed"
    return text_of(found.group(1))


def people(tag: str) -> list[Contact]:
    """Two contacts, one reading Norwegian and one English, holding every role between them."""
    return [
        Contact(name="Frida Fag", email=f"fag.{tag}@prove.example", roles=["business", "signatory"]),
        Contact(name="Tim Tech", email=f"tech.{tag}@prove.example", roles=["technical", "security"], language="en"),
    ]


def forms(client: httpx.Client, number: str, query: str = "") -> dict[str, dict[str, str]]:
    """The hidden fields of every edit form on the company's page, by form (add, connection, roles:<email>, …)."""
    page = client.get(f"/api/bits/registry/{number}{query}")
    assert page.status_code == 200, page.text
    found: dict[str, dict[str, str]] = {}
    for attrs, body in re.findall(r'<form class="edit"([^>]*)>(.*?)</form>', page.text, re.S):
        kind = re.search(r'data-form="([^"]+)"', attrs)
        email = re.search(r'data-email="([^"]+)"', attrs)
        assert kind
        key = f"{kind.group(1)}:{email.group(1)}" if email else kind.group(1)
        found[key] = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body))
    return found


def send(client: httpx.Client, number: str, form: dict[str, str], **fields: Any) -> httpx.Response:
    return client.post(f"/api/bits/registry/{number}/changes", data={**form, **fields})


def test_support_reads_the_registry_in_words_but_cannot_edit_it(devhost: DevHostProcess) -> None:
    tag = uuid.uuid4().hex[:6]
    accepted = TermsAcceptance(
        version="2.0",
        accepted_by=f"fag.{tag}@prove.example",
        accepted_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        channel="email",
    )
    org = company(devhost, people(tag), terms_accepted=accepted)
    with browser(devhost, SUPPORT) as support, browser(devhost, ADMIN) as admin:
        listing = support.get("/api/bits/registry")
        assert listing.status_code == 200
        text = text_of(listing.text)
        assert "Demo Forsikring ASA" in text and "Digdir (Maskinporten)" in text
        assert "NAV drift <drift@nav.example> – Drift" in text
        assert "Bits administrator <admin@bits.example> – Administrator" in text
        card = card_of(listing.text, org.organisation_number)  # other tests' companies are listed too
        assert card.startswith(org.legal_name)
        assert "Tilknytning I produksjon Miljøer Test, Produksjon Tjenester Uføretrygd" in card
        assert "Signaturberettiget Frida Fag" in card and "Sikkerhetskontakt Tim Tech" in card
        assert f"Versjon 2.0, akseptert 1. desember 2026 kl. 10.00 av fag.{tag}@prove.example (E-post)" in card
        assert "in_production" not in card and "signatory" not in card and "ufore" not in card
        english = card_of(support.get("/api/bits/registry?lang=en").text, org.organisation_number)
        assert "In production" in english and "Disability benefit" in english and "Signatory Frida Fag" in english
        assert "accepted 1 December 2026, 10:00" in english
        page = support.get(f"/api/bits/registry/{org.organisation_number}")
        assert page.status_code == 200 and 'data-form="' not in page.text
        assert "Bare administratorer kan endre virksomheten." in text_of(page.text)
        # Support sends an admin's form anyway, with a CSRF token of its own browser (from another page): a 403 page.
        token = re.search(r'name="csrf_token" value="([^"]+)"', support.get("/api/questions").text)
        assert token
        form = forms(admin, org.organisation_number)[f"remove:fag.{tag}@prove.example"]
        refused = send(support, org.organisation_number, {**form, "csrf_token": token.group(1)})
        assert refused.status_code == 403
        assert "Bare administratorer kan endre registeret" in text_of(refused.text)
    assert stored(devhost, org.organisation_number) == org
    assert trail(devhost, org.organisation_number) == [] and mails(devhost, org.organisation_number) == []


def test_an_admin_adds_a_contact_recorded_and_told_once_to_each_earlier_contact(devhost: DevHostProcess) -> None:
    tag = uuid.uuid4().hex[:6]
    org = company(devhost, people(tag))
    number, new = org.organisation_number, f"ny.{tag}@prove.example"
    with browser(devhost, ADMIN) as admin:
        form = forms(admin, number)["add"]
        fields = {"name": "Nora Ny", "email": new, "roles": ["technical", "security"], "language": "nb"}
        first = send(admin, number, form, **fields)
        assert first.status_code == 303, first.text
        assert first.headers["location"] == f"/api/bits/registry/{number}?done=add_contact&told=1"
        page = text_of(admin.get(first.headers["location"]).text)
        assert "Kontaktpersonen er lagt til." in page and "får hver sin e-post" in page
        assert f"Lagt til: Nora Ny <{new}> som Teknisk kontakt, Sikkerhetskontakt" in page
        assert "Bits administrator <admin@bits.example>" in page
        again = send(admin, number, form, **fields)  # the same form, sent again after the page (the back button)
        assert again.status_code == 303 and again.headers["location"].endswith("?done=again")
        assert "endringen er gjort én gang" in text_of(admin.get(again.headers["location"]).text)
    after = stored(devhost, number)
    assert [c.email for c in after.contacts] == [*(c.email for c in org.contacts), new]
    assert after.contact(new) == Contact(name="Nora Ny", email=new, roles=["technical", "security"])
    [entry] = trail(devhost, number)
    assert entry.kind == "registry_changed" and entry.actor == ADMIN and entry.channel.value == "web"
    assert entry.data["by_name"] == "Bits administrator" and entry.data["action"] == "add_contact"
    assert [c["email"] for c in entry.data["before"]["contacts"]] == [c.email for c in org.contacts]
    assert [c["email"] for c in entry.data["after"]["contacts"]] == [c.email for c in after.contacts]
    assert entry.data["told"] == [c.email for c in org.contacts]
    told = mails(devhost, number)
    assert sorted(str(m["To"]) for m in told) == sorted(c.email for c in org.contacts), "one each, none to the new one"
    norwegian = next(m for m in told if str(m["To"]) == org.contacts[0].email)
    assert str(norwegian["Subject"]) == f"[SSU-REG-{number}] Kontaktpersonene for {org.legal_name} er endret"
    assert "Bits administrator (admin@bits.example)" in plain(norwegian)
    assert f"Lagt til: Nora Ny <{new}> som Teknisk kontakt, Sikkerhetskontakt" in plain(norwegian)
    assert "Ventet du ikke denne endringen? Kontakt Bits" in plain(norwegian)
    english = next(m for m in told if str(m["To"]) == org.contacts[1].email)
    assert "have changed" in str(english["Subject"]) and "Added: Nora Ny" in plain(english)
    assert "Did you not expect this change? Contact Bits" in plain(english)


def test_a_removal_is_told_to_the_removed_contact_too_and_the_last_of_a_role_stays(devhost: DevHostProcess) -> None:
    tag = uuid.uuid4().hex[:6]
    extra = Contact(name="Sara Sikker", email=f"sikker.{tag}@prove.example", roles=["security"])
    org = company(devhost, [*people(tag), extra])
    number = org.organisation_number
    with browser(devhost, ADMIN) as admin:
        removed = send(admin, number, forms(admin, number)[f"remove:{extra.email}"])
        assert removed.status_code == 303 and "done=remove_contact" in removed.headers["location"]
        assert f"Fjernet: Sara Sikker <{extra.email}> (Sikkerhetskontakt)" in text_of(
            admin.get(removed.headers["location"]).text
        )
        # Tim is now the only technical and security contact: removing him would leave those roles to no one.
        kept = send(admin, number, forms(admin, number)[f"remove:tech.{tag}@prove.example"])
        assert kept.status_code == 409
        assert "Da ville ingen ha rollen Teknisk kontakt, Sikkerhetskontakt" in text_of(kept.text)
        narrowed = send(admin, number, forms(admin, number)[f"roles:tech.{tag}@prove.example"], roles=["technical"])
        assert narrowed.status_code == 409 and "Da ville ingen ha rollen Sikkerhetskontakt, og" in text_of(
            narrowed.text
        )
        # Giving Frida the security role too is allowed; then Tim may give it up.
        frida = f"fag.{tag}@prove.example"
        both = ["business", "signatory", "security"]
        assert send(admin, number, forms(admin, number)[f"roles:{frida}"], roles=both).status_code == 303
        tim = send(admin, number, forms(admin, number)[f"roles:tech.{tag}@prove.example"], roles=["technical"])
        assert tim.status_code == 303
        page = text_of(admin.get(f"/api/bits/registry/{number}").text)
        assert "Roller for Tim Tech <tech." in page and "Teknisk kontakt, Sikkerhetskontakt → Teknisk kontakt" in page
    after = stored(devhost, number)
    assert [c.email for c in after.contacts] == [c.email for c in org.contacts[:2]]
    assert after.contact(f"tech.{tag}@prove.example").roles == ["technical"]  # type: ignore[union-attr]
    assert [e.data["action"] for e in trail(devhost, number)] == ["remove_contact", "change_roles", "change_roles"]
    told = [str(m["To"]) for m in mails(devhost, number) if "Fjernet" in plain(m) or "Removed" in plain(m)]
    assert sorted(told) == sorted(c.email for c in org.contacts), "the removed contact hears of it too"


def test_the_last_contact_is_never_removed(devhost: DevHostProcess) -> None:
    only = Contact(name="Ene Eier", email=f"ene.{uuid.uuid4().hex[:6]}@prove.example", roles=[])
    org = company(devhost, [only])
    with browser(devhost, ADMIN) as admin:
        refused = send(admin, org.organisation_number, forms(admin, org.organisation_number)[f"remove:{only.email}"])
    assert refused.status_code == 409 and "må ha minst én kontaktperson" in text_of(refused.text)
    assert stored(devhost, org.organisation_number) == org and trail(devhost, org.organisation_number) == []


def test_environments_and_services_are_changed_and_recorded_without_mail(devhost: DevHostProcess) -> None:
    org = company(devhost, people(uuid.uuid4().hex[:6]))
    number = org.organisation_number
    with browser(devhost, ADMIN) as admin:
        form = forms(admin, number, "?lang=en")["connection"]
        done = admin.post(
            f"/api/bits/registry/{number}/changes?lang=en", data={**form, "environments": "test", "services": ["aap"]}
        )
        assert done.status_code == 303 and done.headers["location"].endswith("?done=change_connection&lang=en")
        page = text_of(admin.get(done.headers["location"]).text)
        assert "Environments: Test, Production → Test" in page
        assert "Services: Disability benefit → Work assessment allowance (AAP)" in page
    after = stored(devhost, number)
    assert after.environments == ["test"] and after.services == ["aap"] and after.contacts == org.contacts
    assert mails(devhost, number) == []


def test_bad_forms_change_nothing_and_say_why(devhost: DevHostProcess) -> None:
    tag = uuid.uuid4().hex[:6]
    org = company(devhost, people(tag))
    number = org.organisation_number
    with browser(devhost, ADMIN) as admin:
        add = forms(admin, number)["add"]
        good = {"name": "Nora Ny", "email": f"ny.{tag}@prove.example", "roles": "technical"}
        bad_email = send(admin, number, add, **{**good, "email": "nora@"})
        assert bad_email.status_code == 400 and "Skriv en gyldig e-postadresse" in text_of(bad_email.text)
        assert 'value="Nora Ny"' in bad_email.text, "the form is shown again as it was filled in"
        injected = send(admin, number, add, **{**good, "name": "Nora\r\nBcc: alle@angriper.example"})
        assert injected.status_code == 400 and "Skriv på én linje" in text_of(injected.text)
        control = send(admin, number, add, **{**good, "name": "Nora\x07Ny"})
        assert control.status_code == 422 and "kontrolltegn" in text_of(control.text)
        no_role = send(admin, number, add, **{k: v for k, v in good.items() if k != "roles"})
        assert no_role.status_code == 400 and "Fyll ut dette feltet." in text_of(no_role.text)
        wrong_role = send(admin, number, add, **{**good, "roles": "admin"})
        assert wrong_role.status_code == 400 and "Velg et av alternativene." in text_of(wrong_role.text)
        known = send(admin, number, add, **{**good, "email": org.contacts[0].email.upper()})
        assert known.status_code == 409 and "er allerede kontaktperson" in text_of(known.text)
        unknown_field = send(admin, number, add, **good, isadmin="true")
        assert unknown_field.status_code == 400 and "Noen felter må rettes" in text_of(unknown_field.text)
        no_csrf = send(admin, number, {k: v for k, v in add.items() if k != "csrf_token"}, **good)
        assert no_csrf.status_code == 403 and "Skjemaet er utløpt" in text_of(no_csrf.text)
        bad_action = send(admin, number, {**add, "action": "delete_company"}, **good)
        assert bad_action.status_code == 400 and "Velg en av endringene" in text_of(bad_action.text)
        json_body = admin.post(f"/api/bits/registry/{number}/changes", json={**add, **good})
        assert json_body.status_code == 415
        elsewhere = new_organisation_number()
        unknown = send(admin, elsewhere, add, **good)
        assert unknown.status_code == 404 and "kjenner ingen virksomhet" in text_of(unknown.text)
        assert admin.get(f"/api/bits/registry/{elsewhere}").status_code == 404
        # A stale form: another admin's change came in between.
        remove = forms(admin, number)[f"remove:tech.{tag}@prove.example"]
        assert send(admin, number, forms(admin, number)["add"], **good).status_code == 303
        stale = send(admin, number, remove)
        assert stale.status_code == 409 and "endret siden du åpnet siden" in text_of(stale.text)
    after = stored(devhost, number)
    assert [c.email for c in after.contacts] == [*(c.email for c in org.contacts), good["email"]]
    assert [e.data["action"] for e in trail(devhost, number)] == ["add_contact"]
    assert len(mails(devhost, number)) == 2


def test_the_add_form_is_filled_in_from_the_query_for_a_held_messages_sender(devhost: DevHostProcess) -> None:
    org = company(devhost, people(uuid.uuid4().hex[:6]))
    number = org.organisation_number
    with browser(devhost, ADMIN) as admin:
        page = admin.get(
            f"/api/bits/registry/{number}", params={"add_email": "ny@prove.example", "add_name": "Nora Ny"}
        )
        assert 'id="add-email" name="email" maxlength="254" autocomplete="off" value="ny@prove.example"' in page.text
        assert 'value="Nora Ny"' in page.text
        hostile = admin.get(f"/api/bits/registry/{number}", params={"add_name": '"><script>alert(1)</script>'})
        assert "<script>alert(1)" not in hostile.text and "&lt;script&gt;" in hostile.text
        control = admin.get(f"/api/bits/registry/{number}", params={"add_name": "Nora\x07Ny"})
        assert 'id="add-name" name="name" maxlength="200" autocomplete="off" value=""' in control.text
        support = browser(devhost, SUPPORT).get(f"/api/bits/registry/{number}", params={"add_email": "ny@x.example"})
        assert support.status_code == 200 and 'id="add-contact"' not in support.text


def test_a_contact_added_is_known_to_the_next_email_at_once(devhost: DevHostProcess) -> None:
    """The intake reads the registry through the host's cache: an edit empties it, so the next mail from the new
    contact is filed under the company, not a minute later."""
    tag = uuid.uuid4().hex[:6]
    org = company(devhost, people(tag))
    new = f"ny.{tag}@annen-leverandor.example"
    with browser(devhost, ADMIN) as admin:
        assert admin.get("/api/bits").status_code == 200  # the registry is in the host's cache now
        added = send(
            admin,
            org.organisation_number,
            forms(admin, org.organisation_number)["add"],
            name="Nora Ny",
            email=new,
            roles="technical",
        )
        assert added.status_code == 303
    subject = f"Spørsmål om feltet uføregrad {tag}"
    raw = "\r\n".join(
        [
            f"From: Nora Ny <{new}>",
            "To: ssu@bits.example",
            f"Subject: {subject}",
            f"Message-ID: <{uuid.uuid4().hex}@annen-leverandor.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "Hva betyr feltet uføregrad?",
            "",
        ]
    )
    (devhost.mail_dir / "inbox").mkdir(parents=True, exist_ok=True)
    (devhost.mail_dir / "inbox" / f"registry-{tag}.eml").write_bytes(raw.encode())
    poll(devhost)
    cases = _run(devhost, lambda s: TableCaseStore(s, "SSU").cases(Process.QUESTION))
    [case] = [c for c in cases if c.title == subject]
    assert case.organisation_number == org.organisation_number


async def test_an_edit_that_stopped_after_its_record_is_finished_once_when_sent_again(services: Services) -> None:
    """Storage fails between the record (audit entry and mails) and the registry: the page says so, and the same
    form sent again finishes the change - one entry, one mail to each earlier contact, the contact added once."""
    tag = uuid.uuid4().hex[:6]
    org = Organisation(
        organisation_number=new_organisation_number(), legal_name=f"Avbrutt {tag} AS", contacts=people(tag)
    )
    await services.registry_store.put_organisation(org)
    member = StaffMember(ADMIN, "Bits administrator", "oid-admin", frozenset({"admin"}))
    nonce = secrets.token_urlsafe(16)
    fields = {
        "csrf_token": form_token(services, nonce),
        "action": "add_contact",
        "version": version_of(org),
        "name": "Nora Ny",
        "email": f"ny.{tag}@prove.example",
        "roles": ["technical"],
    }

    def request() -> func.HttpRequest:
        return func.HttpRequest(
            "POST",
            f"http://localhost/api/bits/registry/{org.organisation_number}/changes",
            headers={"content-type": "application/x-www-form-urlencoded", "cookie": f"{CSRF_COOKIE}={nonce}"},
            route_params={"organisation_number": org.organisation_number},
            body=urlencode(fields, doseq=True).encode(),
        )

    store = services.registry_store

    async def down(*_: Any) -> None:
        raise StorageUnavailable("registry table down")

    with patch.object(store, "update_organisation", down):
        first = await change_company(request(), services, member)
    assert first.status_code == 503 and "skjemaet blir ikke utført to ganger" in first.get_body().decode()
    assert await store.get_organisation(org.organisation_number) == org
    second = await change_company(request(), services, member)
    assert second.status_code == 303 and second.headers["Location"].endswith("?done=again")
    after = await store.get_organisation(org.organisation_number)
    assert after is not None and [c.email for c in after.contacts][-1] == fields["email"]
    reference = f"SSU-REG-{org.organisation_number}"
    assert [e.kind for e in await services.store.events(reference)] == ["registry_changed"]
    assert sorted(m.mail.to for m in await services.store.mails(reference)) == sorted(c.email for c in org.contacts)
    third = await change_company(request(), services, member)
    assert third.status_code == 303 and len((await store.get_organisation(org.organisation_number)).contacts) == 3  # type: ignore[union-attr]


async def test_an_edit_that_meets_a_change_made_at_the_same_moment_is_not_made(services: Services) -> None:
    """Someone else's change lands between reading the entry and writing it: theirs stands, ours is recorded as not
    made and refused as stale - also when the same form is sent again."""
    tag = uuid.uuid4().hex[:6]
    extra = Contact(name="Sara Sikker", email=f"sikker.{tag}@prove.example", roles=["security"])
    org = Organisation(
        organisation_number=new_organisation_number(), legal_name=f"Samtidig {tag} AS", contacts=[*people(tag), extra]
    )
    store = services.registry_store
    await store.put_organisation(org)
    member = StaffMember(ADMIN, "Bits administrator", "oid-admin", frozenset({"admin"}))
    nonce = secrets.token_urlsafe(16)
    fields = {"csrf_token": form_token(services, nonce), "action": "remove_contact", "version": version_of(org)}
    fields["email"] = extra.email
    theirs = org.model_copy(
        update={"contacts": [*org.contacts, Contact(email=f"x.{tag}@prove.example", roles=["business"])]}
    )
    real = store.update_organisation

    async def meanwhile(number: str, change: Any) -> Any:
        await store.put_organisation(theirs)
        return await real(number, change)

    def request() -> func.HttpRequest:
        return func.HttpRequest(
            "POST",
            f"http://localhost/api/bits/registry/{org.organisation_number}/changes",
            headers={"content-type": "application/x-www-form-urlencoded", "cookie": f"{CSRF_COOKIE}={nonce}"},
            route_params={"organisation_number": org.organisation_number},
            body=urlencode(fields).encode(),
        )

    with patch.object(store, "update_organisation", meanwhile):
        first = await change_company(request(), services, member)
    assert first.status_code == 409 and "endret siden du åpnet siden" in first.get_body().decode()
    assert await store.get_organisation(org.organisation_number) == theirs
    again = await change_company(request(), services, member)
    assert again.status_code == 409 and await store.get_organisation(org.organisation_number) == theirs
    reference = f"SSU-REG-{org.organisation_number}"
    assert sorted(e.kind for e in await services.store.events(reference)) == [
        "registry_change_not_applied",
        "registry_changed",
    ]
