"""Bits' workspace page for alert drafts and terms over HTTP: a draft waits with the mail the companies would get;
publishing it from the page sends what the PUBLISER reply sends, recorded with the person's name; discarding sends
nothing; a form sent twice applies once; without its CSRF token nothing changes; only an admin publishes terms."""

from __future__ import annotations

import html
import re
import uuid
from email.message import EmailMessage

import httpx

from tests.conftest import DevHostProcess
from tests.e2e.helpers import case_json, dispatch, mails_to, outbox_mails, plain, reply, sign_in
from tests.e2e.test_alert_drafts import BITS, draft_notice, nav_emails
from tests.e2e.test_terms_publishing import ADMIN, body
from tests.e2e.test_workspace_actions import browser, events, status
from tests.e2e.test_workspace_case import text_of

SUPPORT = "support@bits.example"
PAGE = "/api/bits/publishing"
# An outage of the disability API in production: technical contacts of the production companies using it, and Bits.
OUTAGE = "uføre-API-et i produksjon svarer med feilkode 503 siden 08:40. Vi feilsøker."
# The demo registry's people an outage in production reaches; other tests may connect more companies on this host.
OUTAGE_TO = {"api@fjordtrygd.example", BITS, "teknisk@demo-forsikring.example"}
MAINTENANCE = "uføre-API-et i produksjon er nede for vedlikehold natt til fredag 22:00–02:00."
ALERT_SUBJECT = r"\] (Driftshendelse|Planlagt vedlikehold|Endring) \("
TIMES = "slutt: 4.12.2026 02:00\nstart: 3.12.2026 22:00"


def draft_item(page: str, reference: str) -> str:
    """The draft's part of the page (its <li>), or '' when the page does not list it."""
    found = re.search(rf'<li data-draft="{re.escape(reference)}">(.*?)</li>\n', page, re.S)
    return found.group(1) if found else ""


def draft_form(client: httpx.Client, reference: str) -> dict[str, str]:
    """The hidden fields of the draft's form on the page (its CSRF token with the one-time action id)."""
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    item = draft_item(page.text, reference)
    assert item, f"the page lists no draft {reference}"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', item))
    assert fields["decision"] == "alert.draft" and fields["csrf_token"]
    return fields


def preview_of(item: str) -> tuple[str, str]:
    """The subject and text of the mail the draft's part of the page shows."""
    subject = re.search(r'<span class="subject">(.*?)</span>', item, re.S)
    text = re.search(r'<div class="mail".*?<div class="text">(.*?)</div>', item, re.S)
    assert subject and text, "the draft shows the companies' mail"
    return html.unescape(subject.group(1)), html.unescape(text.group(1))


def act(client: httpx.Client, reference: str, form: dict[str, str], command: str, reason: str = "") -> httpx.Response:
    return client.post(f"{PAGE}/drafts/{reference}", data={**form, "command": command, "reason": reason})


def alert_mails(host: DevHostProcess, reference: str) -> list[EmailMessage]:
    """The notice's mails to the companies and Bits, once sent (not the draft's notice to Bits or NAV's receipt)."""
    dispatch(host)
    return [m for m in outbox_mails(host, reference) if re.search(ALERT_SUBJECT, str(m["Subject"]))]


def test_a_draft_waits_with_its_preview_and_publishing_it_from_the_page_sends_exactly_that(
    devhost: DevHostProcess,
) -> None:
    subject = f"Driftsavbrudd uføre-API {uuid.uuid4().hex[:4]}"
    reference = nav_emails(devhost, subject, OUTAGE)
    with browser(devhost, SUPPORT) as client:
        page = client.get(PAGE)
        assert page.status_code == 200 and 'aria-current="page"' in page.text
        item = draft_item(page.text, reference)
        assert subject in item and "NAV" in item and "drift@nav.example" in item
        assert "Driftshendelse" in item and "Produksjon" in item, "the proposal in words"
        preview_subject, preview_text = preview_of(item)
        assert preview_subject == f"[{reference}] Driftshendelse (produksjon): {subject}", "the environment in words"
        assert "feilkode 503" in preview_text
        assert not alert_mails(devhost, reference), "nothing is sent before Bits publishes"

        done = act(client, reference, draft_form(client, reference), "publish")
        assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=decided"
        after = client.get(done.headers["location"]).text
        assert "Beslutningen er registrert i saken." in text_of(after)
        assert not draft_item(after, reference), "a published draft waits no more"
        # Now among the notices out, with its case page and its place on the status page.
        assert f'href="/api/bits/cases/{reference}"' in after and f'href="/api/status#{reference}"' in after
    assert status(devhost, reference) == "published"
    [published] = events(devhost, reference, "published")
    assert published["actor"] == SUPPORT and published["channel"] == "web"
    assert published["data"]["by_name"] == "Bits brukerstøtte"
    assert published["data"]["reply"]["command"] == "publish"
    sent = alert_mails(devhost, reference)
    assert {str(m["To"]) for m in sent} >= OUTAGE_TO
    for company in (m for m in sent if str(m["To"]) != BITS):
        assert str(company["Subject"]) == preview_subject
    # The preview is the mail a company contact got, word for word (feeds and all).
    assert preview_text.strip() in {plain(m).strip() for m in sent}


def test_publishing_with_corrections_from_the_page_sends_what_the_publiser_reply_sends(
    devhost: DevHostProcess,
) -> None:
    tag = uuid.uuid4().hex[:4]
    by_web = nav_emails(devhost, f"Planlagt vedlikehold uføre-API nett {tag}", MAINTENANCE)
    by_email = nav_emails(devhost, f"Planlagt vedlikehold uføre-API epost {tag}", MAINTENANCE)
    with browser(devhost, SUPPORT) as client:
        # A maintenance without an end cannot go out as it stands: the page says what is missing, and shows no mail.
        item = draft_item(client.get(PAGE).text, by_web)
        assert 'data-errors="' in item and "Slutt" in text_of(item) and 'class="subject"' not in item
        # Published anyway, as it stands: refused as the bare PUBLISER reply is - it stays a draft, the page says so.
        assert act(client, by_web, draft_form(client, by_web), "publish").status_code == 303
        assert status(devhost, by_web) == "new" and not alert_mails(devhost, by_web)
        assert len(events(devhost, by_web, "publish_refused")) == 1
        assert "Forsøkt publisert før og avvist: 1" in text_of(draft_item(client.get(PAGE).text, by_web))
        [told] = [m for m in mails_to(devhost, by_web, SUPPORT) if "ikke publisert" in str(m["Subject"])]
        assert "  Slutter: " in plain(told) and "ends_at" not in plain(told), "the field by its name, not its code"
        done = act(client, by_web, draft_form(client, by_web), "publish", TIMES)
        assert done.status_code == 303
    reply(devhost, draft_notice(devhost, by_email), f"PUBLISER\n{TIMES}")
    assert status(devhost, by_web) == status(devhost, by_email) == "published"
    assert case_json(devhost, by_web)["case"]["details"]["ends_at"] == "2026-12-04T02:00:00+01:00"

    def same(mail: EmailMessage, reference: str, word: str) -> tuple[str, str, str]:
        def neutral(text: str) -> str:
            return text.replace(reference, "REF").replace(word, "WORD")

        return str(mail["To"]), neutral(str(mail["Subject"])), neutral(plain(mail))

    web = sorted(same(m, by_web, "nett") for m in alert_mails(devhost, by_web))
    email = sorted(same(m, by_email, "epost") for m in alert_mails(devhost, by_email))
    assert {to for to, _, _ in web} >= OUTAGE_TO
    assert web == email, "the same mails to the same people, whichever way Bits published"
    [published] = events(devhost, by_web, "published")
    assert published["actor"] == SUPPORT and published["data"]["by_name"] == "Bits brukerstøtte"


def test_discarding_from_the_page_sends_nothing_and_the_form_sent_twice_applies_once(devhost: DevHostProcess) -> None:
    reference = nav_emails(devhost, f"Driftsavbrudd uføre-API forkast {uuid.uuid4().hex[:4]}", OUTAGE)
    dispatch(devhost)  # the draft's own mails (NAV's receipt, Bits' notice) are out
    before = {p.name for p in (devhost.mail_dir / "outbox").glob(f"{reference}_*.eml")}
    with browser(devhost, SUPPORT) as client:
        form = draft_form(client, reference)
        first = act(client, reference, form, "discard", "Falsk alarm.")
        second = act(client, reference, form, "discard", "Falsk alarm.")
        assert first.headers["location"] == f"{PAGE}?done=decided"
        assert second.status_code == 303 and second.headers["location"] == f"{PAGE}?done=again"
        assert "registrert én gang" in text_of(client.get(second.headers["location"]).text)
        assert not draft_item(client.get(PAGE).text, reference)
    assert status(devhost, reference) == "discarded"
    [discarded] = events(devhost, reference, "discarded")
    assert discarded["actor"] == SUPPORT and discarded["channel"] == "web"
    assert discarded["data"]["by_name"] == "Bits brukerstøtte"
    dispatch(devhost)
    assert {p.name for p in (devhost.mail_dir / "outbox").glob(f"{reference}_*.eml")} == before, "no mail at all"
    # A form for a draft already published or discarded is refused in words and changes nothing.
    with browser(devhost, SUPPORT) as client:
        other = nav_emails(devhost, f"Driftsavbrudd uføre-API annen {uuid.uuid4().hex[:4]}", OUTAGE)
        late = act(client, reference, {**draft_form(client, other)}, "publish")
        assert late.status_code == 409 and "allerede besluttet" in text_of(late.text), late.text
    assert status(devhost, reference) == "discarded" and not events(devhost, reference, "published")


def test_a_draft_form_without_its_csrf_token_or_with_bad_fields_changes_nothing(devhost: DevHostProcess) -> None:
    reference = nav_emails(devhost, f"Driftsavbrudd uføre-API csrf {uuid.uuid4().hex[:4]}", OUTAGE)
    with browser(devhost, SUPPORT) as client:
        form = draft_form(client, reference)
        # No token; a token from another browser (its cookie is not this one's): a page in words, nothing done.
        missing = act(client, reference, {"decision": "alert.draft"}, "publish")
        assert missing.status_code == 403 and "Ingenting er endret" in text_of(missing.text)
        with browser(devhost, SUPPORT) as other:
            stolen = act(other, reference, form, "publish")
            assert stolen.status_code == 403
        # The route takes the draft decision only, known commands only, text without control characters.
        assert act(client, reference, {**form, "decision": "question.bits"}, "resolve").status_code == 409
        assert act(client, reference, form, "approve").status_code == 400
        assert act(client, reference, form, "publish", "slutt: i morgen\x07").status_code == 422
        assert act(client, reference, form, "publish", "x" * 10_001).status_code == 400
        assert act(client, "SSU-B-2026-9999", form, "publish").status_code == 404
        as_json = client.post(f"{PAGE}/drafts/{reference}", json={**form, "command": "publish"})
        assert as_json.status_code == 415
    assert status(devhost, reference) == "new" and not events(devhost, reference, "published")
    assert not alert_mails(devhost, reference)
    # Not signed in: sent to sign in (a page visit) or told 401, and the draft stays a draft.
    assert httpx.get(f"{devhost.url}{PAGE}", headers={"Accept": "text/html"}).status_code == 302
    assert httpx.post(f"{devhost.url}{PAGE}/drafts/{reference}", data={"command": "publish"}).status_code == 401
    assert status(devhost, reference) == "new"


def test_terms_versions_are_listed_with_publisher_and_acceptances_and_only_an_admin_publishes(
    devhost: DevHostProcess,
) -> None:
    terms = body()
    published = httpx.post(f"{devhost.url}/api/terms", json=terms, headers=sign_in(devhost, ADMIN))
    assert published.status_code == 201, published.text
    reference = published.json()["reference"]
    # A signatory accepts through the link in their mail.
    [mail] = mails_to(devhost, reference, "signatar@demo-forsikring.example")
    link = re.search(r"(https?://\S+/api/terms-accept\?k=\S+)", plain(mail))
    assert link and httpx.post(link.group(1)).status_code == 200

    support = httpx.get(f"{devhost.url}{PAGE}", headers=sign_in(devhost, SUPPORT))
    item = re.search(rf'<li data-terms="{reference}" data-version="[^"]+">(.*?)</li>', support.text, re.S)
    assert item, "the version is listed"
    words = text_of(item.group(1))
    assert terms["version"] in words and "Bits administrator <admin@bits.example>" in words
    assert re.search(r"Akseptert av 1 av \d+ tilkoblede virksomheter", words), words
    assert 'id="publish-terms"' not in support.text and "krever rollen administrator" in support.text
    # Support asking to publish gets a page in words; posting to the terms flow anyway publishes nothing.
    refused = httpx.get(f"{devhost.url}{PAGE}/terms", headers=sign_in(devhost, SUPPORT))
    assert refused.status_code == 403 and "krever rollen administrator" in text_of(refused.text)
    assert "text/html" in refused.headers["content-type"]
    forced = httpx.post(f"{devhost.url}/api/terms", json=body(), headers=sign_in(devhost, SUPPORT))
    assert forced.status_code == 403
    english = httpx.get(f"{devhost.url}{PAGE}?lang=en", headers=sign_in(devhost, SUPPORT))
    assert "needs the role admin" in english.text and "Accepted by" in english.text

    # The admin goes on to the terms' own form, with its preview step.
    admin = httpx.get(f"{devhost.url}{PAGE}", headers=sign_in(devhost, ADMIN))
    assert 'id="publish-terms"' in admin.text
    onward = httpx.get(f"{devhost.url}{PAGE}/terms?lang=en", headers=sign_in(devhost, ADMIN))
    assert onward.status_code == 303 and onward.headers["location"] == "/api/terms?lang=en"
    form = httpx.get(f"{devhost.url}/api/terms", headers={**sign_in(devhost, ADMIN), "Accept": "text/html"})
    assert form.status_code == 200 and "csrf_token" in form.text
