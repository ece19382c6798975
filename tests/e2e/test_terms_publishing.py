"""Publishing terms through the dev host, signed in as App Service Authentication signs people in: only an admin
publishes, only a numbered version ahead of today, after a preview that stores and sends nothing; the admin is the
publisher on record and gets one receipt. The preview page in headless Chromium, checked with axe-core."""

from __future__ import annotations

import base64
import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser

from functions.core.glossary import field_label
from functions.devhost.azurite import PROJECT_ROOT
from functions.web.staff import PRINCIPAL_HEADER
from tests.conftest import DevHostProcess
from tests.e2e.helpers import case_json, dispatch, outbox_mails, poll, sign_in

ADMIN = "admin@bits.example"
SUPPORT = "support@bits.example"
CONNECTED = ["310000019", "310000027", "310000035", "310000043", "310000051"]
READERS = sorted(
    [
        "fag@demo-forsikring.example",
        "signatar@demo-forsikring.example",
        "teknisk@test-pensjon.example",
        "kari.nordmann@fjordtrygd.example",
        "ingrid@nordlys-forsikring.example",
        "per@vestkyst-pk.example",
    ]
)
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def new_version() -> str:
    return f"{random.randint(100, 999)}.{random.randint(0, 999)}"


def body(**changes: Any) -> dict[str, Any]:
    return {
        "title": "Vilkår for Syke- og uføreopplysninger fra NAV",
        "version": new_version(),
        "effective_date": (datetime.now(UTC) + timedelta(days=60)).date().isoformat(),
        "summary": "Punkt 4 om logging er nytt.\nPunkt 7 om lagringstid er endret.",
        "document_url": "https://bits.example/vilkar.pdf",
        **changes,
    }


def post(host: DevHostProcess, payload: dict[str, Any], as_: str | None = ADMIN, **params: str) -> httpx.Response:
    headers = sign_in(host, as_) if as_ else {}
    return httpx.post(f"{host.url}/api/terms", json=payload, params=params, headers=headers)


def terms_cases(host: DevHostProcess) -> list[dict[str, Any]]:
    found = httpx.get(f"{host.url}/api/cases", params={"process": "E"}, headers=sign_in(host, ADMIN))
    assert found.status_code == 200, found.text
    return [c for c in found.json()["cases"] if c["kind"] == "terms"]


def sent_files(host: DevHostProcess) -> set[Path]:
    dispatch(host)
    folder = host.mail_dir / "outbox"
    return set(folder.glob("*.eml")) if folder.exists() else set()


def test_a_version_that_is_no_number_or_not_ahead_is_refused_by_field_and_nothing_is_stored(
    devhost: DevHostProcess,
) -> None:
    before_cases, before_mails = len(terms_cases(devhost)), sent_files(devhost)
    named = post(devhost, body(version="to"))
    assert named.status_code == 422, named.text
    assert set(named.json()["errors"]) == {"version"} and "2.1.3" in named.json()["errors"]["version"]
    english = post(devhost, body(version="to", language="en"))
    assert "e.g. 2.0 or 2.1.3" in english.json()["errors"]["version"]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    past = post(devhost, body(effective_date=yesterday))
    assert past.status_code == 422 and set(past.json()["errors"]) == {"effective_date"}
    assert "etter i dag" in past.json()["errors"]["effective_date"]
    assert len(terms_cases(devhost)) == before_cases
    assert sent_files(devhost) == before_mails, "nothing mailed"


def test_the_preview_shows_every_connected_company_and_the_mail_and_stores_nothing(devhost: DevHostProcess) -> None:
    before_cases, before_mails = len(terms_cases(devhost)), sent_files(devhost)
    asked = body()
    for preview in (post(devhost, {**asked, "preview": True}), post(devhost, asked, preview="1")):
        assert preview.status_code == 200, preview.text
        shown = preview.json()
        assert [c["organisation_number"] for c in shown["companies"]] == CONNECTED
        assert sorted(p["email"] for c in shown["companies"] for p in c["recipients"]) == READERS
        assert shown["published_by"]["email"] == ADMIN
        [nb] = [m for m in shown["mails"] if m["language"] == "nb"]
        assert f"versjon {asked['version']}" in nb["subject"] and "Punkt 7 om lagringstid" in nb["text"]
    assert len(terms_cases(devhost)) == before_cases
    assert sent_files(devhost) == before_mails, "a preview mails no one"


def test_an_admin_publishes_is_recorded_as_the_publisher_and_gets_one_receipt(devhost: DevHostProcess) -> None:
    asked = body()
    published = post(devhost, asked)
    assert published.status_code == 201, published.text
    reference = published.json()["reference"]
    again = post(devhost, asked)  # a retry of the very same version: the same case, no second mail
    assert again.status_code == 201 and again.json()["reference"] == reference
    other = post(devhost, {**asked, "summary": "Noe helt annet."})
    assert other.status_code == 409 and other.json()["reference"] == reference and "version" in other.json()["errors"]

    stored = case_json(devhost, reference)
    assert stored["case"]["submitter_email"] == ADMIN and stored["case"]["details"]["published_by"]["email"] == ADMIN
    first = stored["events"][0]
    assert (first["kind"], first["actor"]) == ("received", ADMIN)
    assert first["data"]["published_by"]["name"] == "Bits administrator"

    dispatch(devhost)
    mails = outbox_mails(devhost, reference)
    told = sorted(str(m["To"]) for m in mails if str(m["To"]) != ADMIN)
    assert told == READERS
    [receipt] = [m for m in mails if str(m["To"]) == ADMIN]
    text = receipt.get_body(("plain",))
    assert text is not None
    assert "Kvittering" in str(receipt["Subject"]) and asked["version"] in str(receipt["Subject"])
    assert "6 mottakere i 5 virksomheter" in text.get_content()
    assert f"/api/terms/{reference}" in text.get_content()
    acceptances = httpx.get(f"{devhost.url}/api/terms/{reference}", headers=sign_in(devhost, ADMIN))
    assert acceptances.status_code == 200 and acceptances.json()["version"] == asked["version"]


def test_only_a_signed_in_admin_may_publish(devhost: DevHostProcess) -> None:
    before = len(terms_cases(devhost))
    for role_holder in (SUPPORT, "godkjenner1@bits.example"):
        refused = post(devhost, body(), as_=role_holder)
        assert refused.status_code == 403, refused.text
        assert httpx.get(f"{devhost.url}/api/terms", headers=sign_in(devhost, role_holder)).status_code == 403
    assert post(devhost, body(), as_=None).status_code == 401
    page = httpx.get(f"{devhost.url}/api/terms", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["Location"].startswith("/.auth/login/aad")
    # A principal header a client writes itself is dropped by the platform (here the dev host): still no one.
    forged = sign_in_header_for(ADMIN)
    assert httpx.post(f"{devhost.url}/api/terms", json=body(), headers=forged).status_code == 401
    assert len(terms_cases(devhost)) == before


def sign_in_header_for(email: str) -> dict[str, str]:
    claims = [{"typ": "preferred_username", "val": email}, {"typ": "roles", "val": "admin"}]
    principal = base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()
    return {PRINCIPAL_HEADER: principal}


def test_the_preview_page_in_the_browser_then_publish(devhost: DevHostProcess, browser: Browser) -> None:
    version = new_version()
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script; our CSP allows none
    page = context.new_page()
    page.goto(f"{devhost.url}/.auth/login/aad?as={ADMIN}&post_login_redirect_uri=/api/terms")
    assert page.get_by_role("heading", name="Publiser en ny versjon av vilkårene").is_visible()
    page.get_by_label("Tittel").fill("Vilkår for Syke- og uføreopplysninger fra NAV")
    page.get_by_label("Versjon").fill("to")
    page.get_by_label("Gjelder fra").fill((datetime.now(UTC) + timedelta(days=45)).date().isoformat())
    page.get_by_label("Hva er endret?").fill("Punkt 4 om logging er nytt.\nPunkt 7 om lagringstid er endret.")
    page.get_by_label("Lenke til dokumentet").fill("https://bits.example/vilkar.pdf")
    page.get_by_role("button", name="Forhåndsvis").click()
    assert "for eksempel 2.0 eller 2.1.3" in page.locator("#version-error").inner_text()
    page.get_by_label("Versjon").fill(version)
    page.get_by_role("button", name="Forhåndsvis").click()

    assert page.get_by_role("heading", name=f"Forhåndsvisning: versjon {version} av vilkårene").is_visible()
    rows = page.locator("tbody tr")
    assert [rows.nth(i).get_attribute("data-organisation") for i in range(rows.count())] == CONNECTED
    assert page.get_by_role("heading", name="E-posten").is_visible()
    assert "Punkt 7 om lagringstid er endret." in page.locator("pre").first.inner_text()
    assert not [c for c in terms_cases(devhost) if c["details"].get("version") == version], "nothing stored yet"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    assert result == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in result]

    page.get_by_role("button", name=f"Publiser versjon {version}").click()
    page.wait_for_url(re.compile(r".*/api/case-page/SSU-E-.*receipt=1.*"))
    [case] = [c for c in terms_cases(devhost) if c["details"].get("version") == version]
    assert case["submitter_email"] == ADMIN
    stored = case_json(devhost, case["reference"])
    assert stored["events"][0]["data"]["summary"] == "Punkt 4 om logging er nytt.\nPunkt 7 om lagringstid er endret."
    context.close()


def test_the_form_page_passes_axe(devhost: DevHostProcess, browser: Browser) -> None:
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(f"{devhost.url}/.auth/login/aad?as={ADMIN}&post_login_redirect_uri=/api/terms%3Flang%3Den")
    assert page.get_by_role("heading", name="Publish a new version of the terms").is_visible()
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    assert result == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in result]
    context.close()


def vilkar_email(host: DevHostProcess, body: str) -> None:
    message = EmailMessage()
    message["From"] = "Bits administrator <admin@bits.example>"
    message["To"] = "ssu@bits.example"
    message["Subject"] = "VILKÅR"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@bits.example>"
    message.set_content(body)
    (host.mail_dir / "inbox").mkdir(parents=True, exist_ok=True)
    (host.mail_dir / "inbox" / f"vilkar-{uuid.uuid4().hex[:8]}.eml").write_bytes(message.as_bytes())
    poll(host)


def test_a_vilkar_email_with_a_bad_version_or_a_past_date_publishes_nothing_and_bits_is_told_why(
    devhost: DevHostProcess,
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().strftime("%d.%m.%Y")
    ahead = (datetime.now(UTC) + timedelta(days=60)).date().strftime("%d.%m.%Y")
    link = "lenke: https://bits.example/vilkar.pdf"
    for lines, field in (
        (f"versjon: to\ngjelder fra: {ahead}", "version"),
        (f"versjon: {new_version()}\ngjelder fra: {yesterday}", "effective_date"),
    ):
        before = {c["reference"] for c in terms_cases(devhost)}
        vilkar_email(devhost, f"{lines}\n{link}\n\nNytt punkt om logging.")
        [refused] = [c for c in terms_cases(devhost) if c["reference"] not in before]
        assert refused["status"] == "closed" and set(refused["details"]["errors"]) == {field}
        dispatch(devhost)
        [answer] = outbox_mails(devhost, refused["reference"])
        assert str(answer["To"]) == "admin@bits.example" and "ikke publisert" in str(answer["Subject"])
        text = answer.get_body(("plain",))
        # The field by its name, as the line to write begins ("Versjon", "Gjelder fra"), not its code.
        assert text is not None and f"  {field_label(field, 'nb')}: " in text.get_content()
