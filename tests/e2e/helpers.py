"""What the end-to-end tests share: sample bodies, and driving the dev host (forms, the outbox, the inbox, replies)."""

from __future__ import annotations

import email
import random
import re
import uuid
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx

from functions.core.identifiers import is_valid_organisation_number
from functions.incidents.workflow import ERROR_REPORT_FORM
from functions.questions.workflow import QUESTION_FORM
from tests.conftest import DevHostProcess

MAINTENANCE: dict[str, Any] = {
    "source_alert_id": "NAV-2026-117",
    "kind": "maintenance",
    "environments": ["production"],
    "components": ["ufore-api"],
    "severity": "medium",
    "title": "Planlagt vedlikehold av uføre-API",
    "description": "API-et er utilgjengelig i vedlikeholdsvinduet.",
    "starts_at": "2026-12-03T22:00:00+01:00",
    "ends_at": "2026-12-04T02:00:00+01:00",
}


def post(host: DevHostProcess, body: dict[str, Any], key: str | None = "nav-key-one") -> httpx.Response:
    headers = {"X-Api-Key": key} if key else {}
    return httpx.post(f"{host.url}/api/alerts", json=body, headers=headers)


MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def drop(host: DevHostProcess, name: str, *, as_name: str | None = None, **subs: str) -> str:
    inbox = host.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    raw = (MAIL / name).read_bytes()
    for key, value in subs.items():
        raw = raw.replace(b"{" + key.encode() + b"}", value.encode())
    target = as_name or name.removesuffix(".tmpl")
    (inbox / target).write_bytes(raw)
    return target


def poll(host: DevHostProcess) -> None:
    response = httpx.post(f"{host.url}/admin/functions/mailbox_poll", timeout=120)
    assert response.status_code == 202, response.text


def reply(
    host: DevHostProcess,
    notice: EmailMessage,
    body: str,
    *,
    sender: str = "Bits brukerstøtte <support@bits.example>",
    extra_headers: dict[str, str] | None = None,
    subject_prefix: str = "SV: ",
    style: str = "outlook",
    take_in: bool = True,
) -> str:
    """A reply to `notice`, sent to its Reply-To and dropped in the inbox (then taken in, unless `take_in` is
    False). `style` is how the client quotes: Outlook nb (`Fra:/Sendt:` block), Gmail (`On … wrote:` and `>`)
    or iPhone Mail (`Sendt fra min iPhone`, then `>` quotes)."""
    name = f"reply-{uuid.uuid4().hex[:8]}.eml"
    quoted = notice.get_body(("plain",))
    assert quoted is not None
    original = quoted.get_content()
    history = {
        "outlook": [
            "________________________________",
            "Fra: Bits SSU <ssu@bits.example>",
            "Sendt: søndag 29. november 2026 10:00",
            "Til: support@bits.example",
            f"Emne: {notice['Subject']}",
            "",
            original,
        ],
        "gmail": [
            "On Sun, 29 Nov 2026 at 10:00, Bits SSU <ssu@bits.example> wrote:",
            "",
            *(f"> {line}" for line in original.splitlines()),
        ],
        "iphone": [
            "Sendt fra min iPhone",
            "",
            "> Den 29. nov. 2026 kl. 10:00 skrev Bits SSU <ssu@bits.example>:",
            ">",
            *(f"> {line}" for line in original.splitlines()),
        ],
    }[style]
    prefix = {"outlook": subject_prefix, "gmail": "Re: ", "iphone": "Re: "}[style]
    lines = [
        f"From: {sender}",
        f"To: {notice['Reply-To'] or 'ssu@bits.example'}",
        f"Subject: {prefix}{notice['Subject']}",
        f"Message-ID: <{uuid.uuid4().hex}@bits.example>",
        f"In-Reply-To: {notice['Message-ID']}",
        f"References: {notice['Message-ID']}",
        *(f"{k}: {v}" for k, v in (extra_headers or {}).items()),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
        "",
        *history,
    ]
    (host.mail_dir / "inbox").mkdir(parents=True, exist_ok=True)
    (host.mail_dir / "inbox" / name).write_bytes("\r\n".join(lines).encode())
    if take_in:
        poll(host)
    return name


def kinds(host: DevHostProcess, reference: str) -> list[str]:
    return [e["kind"] for e in case_json(host, reference)["events"]]


REPORTER = "teknisk@demo-forsikring.example"
REPORT: dict[str, Any] = dict(ERROR_REPORT_FORM.example or {})  # the form's declared example


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def mails_to(host: DevHostProcess, reference: str, address: str, subject: str = "") -> list[EmailMessage]:
    """Send what is due, then the case's mails to `address` (whose subject contains `subject`)."""
    dispatch(host)
    return [m for m in outbox_mails(host, reference) if str(m["To"]) == address and subject in str(m["Subject"])]


QUESTION: dict[str, Any] = dict(QUESTION_FORM.example or {})  # the form's declared example


def form_token(client: httpx.Client, url: str) -> str:
    page = client.get(f"{url}/api/questions")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def dispatch(host: DevHostProcess) -> None:
    response = httpx.post(f"{host.url}/admin/functions/outbox_dispatch", json={"input": ""}, timeout=60)
    assert response.status_code == 202, response.text


def outbox_mails(host: DevHostProcess, reference: str) -> list[EmailMessage]:
    folder = host.mail_dir / "outbox"
    files = sorted(folder.glob(f"{reference}_*.eml")) if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=default) for p in files]


_SESSIONS: dict[tuple[str, str], dict[str, str]] = {}


def sign_in(host: DevHostProcess, email: str = "support@bits.example") -> dict[str, str]:
    """Headers of a Bits staff member signed in on the dev host (`/.auth/login/aad?as=`, as a script would): the
    session cookie App Service Authentication sets. Support unless told; admin@bits.example is the admin."""
    key = (host.url, email)
    if key not in _SESSIONS:
        response = httpx.get(f"{host.url}/.auth/login/aad", params={"as": email, "post_login_redirect_uri": "/"})
        assert response.status_code == 302, response.text
        _SESSIONS[key] = {"Cookie": f"AppServiceAuthSession={response.cookies['AppServiceAuthSession']}"}
    return _SESSIONS[key]


def case_json(host: DevHostProcess, reference: str) -> dict[str, Any]:
    response = httpx.get(f"{host.url}/api/cases/{reference}", headers=sign_in(host))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def organisation(host: DevHostProcess, number: str) -> dict[str, Any]:
    response = httpx.get(f"{host.url}/api/registry/organisations/{number}", headers=sign_in(host))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def in_registry(host: DevHostProcess, number: str) -> bool:
    """Whether the registry has an entry for the organisation at all."""
    response = httpx.get(f"{host.url}/api/registry/organisations/{number}", headers=sign_in(host))
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def new_organisation_number() -> str:
    while True:
        number = f"3{random.randint(10_000_000, 99_999_999)}"
        if is_valid_organisation_number(number):
            return number


def cases_by_message(host: DevHostProcess) -> dict[str, dict[str, Any]]:
    """Every email-created case, by the Message-ID of the email that opened it."""
    found: dict[str, dict[str, Any]] = {}
    for process in "ACDE":
        for case in httpx.get(f"{host.url}/api/cases", params={"process": process}, headers=sign_in(host)).json()[
            "cases"
        ]:
            if case["details"].get("source") == "email":
                body = case_json(host, case["reference"])
                found[body["events"][0]["data"]["message_id"]] = body
    return found


_REMEMBERED: dict[tuple[str, str], str] = {}


def remembered(host: DevHostProcess, address: str) -> str:
    """The `ssu_address` cookie of a browser whose person once confirmed `address` by the link (POST /api/confirm
    sets it): their later forms naming that address have it proven, so a registered contact's case goes on at once.
    Got as a person gets it - a question of its own, confirmed - once per dev host and address."""
    key = (host.url, address.casefold())
    if key not in _REMEMBERED:
        body = {**QUESTION, "email": address, "subject": "Første henvendelse fra denne nettleseren"}
        asked = httpx.post(f"{host.url}/api/questions", json=body)
        assert asked.status_code == 201 and asked.json()["status"] == "awaiting_confirmation", asked.text
        [request] = mails_to(host, asked.json()["reference"], address, "Bekreft e-postadressen")
        link = re.search(r"(https?://\S+/api/confirm\?t=[\w.\-~%]+)", plain(request))
        assert link, plain(request)
        confirmed = httpx.post(link.group(1))
        assert confirmed.status_code == 200 and "ssu_address" in confirmed.cookies, confirmed.headers
        _REMEMBERED[key] = confirmed.cookies["ssu_address"]
    return _REMEMBERED[key]


def submit_form(
    host: DevHostProcess,
    route: str,
    body: dict[str, Any],
    *,
    remember: str | None = None,
    browser: httpx.Client | None = None,
) -> httpx.Response:
    """Send `body` as a person does in a browser: the form page first (its CSRF token and cookie), then the fields
    as application/x-www-form-urlencoded, with the remembered-address cookie of `remember` when given. `browser`:
    a client of the test's own, whose cookies (and local address) it keeps; else a fresh one. The answer is not
    followed (a 303 to the receipt, or the form again)."""
    client = browser or httpx.Client()
    try:
        page = client.get(f"{host.url}/api/{route}")
        assert page.status_code == 200, page.text
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, "the form carries a CSRF token"
        if remember is not None:
            client.cookies.set("ssu_address", remembered(host, remember))
        fields = {k: v if isinstance(v, list) else str(v) for k, v in body.items() if v is not None}
        return client.post(f"{host.url}/api/{route}", data={**fields, "csrf_token": match.group(1), "website": ""})
    finally:
        if browser is None:
            client.close()


def reference_of(answer: httpx.Response) -> str:
    """The case a browser form's answer (a 303 to the receipt page) is about."""
    assert answer.status_code == 303, answer.text
    found = re.search(r"/api/case-page/([A-Z]+-[A-Z]-\d{4}-\d{4,})", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def as_contact(host: DevHostProcess, route: str, body: dict[str, Any]) -> str:
    """A registered contact's submission as they make it in practice: from a browser that has confirmed their
    address before (`remembered`), so that it goes on at once as theirs. Returns the reference."""
    return reference_of(submit_form(host, route, body, remember=str(body["email"])))


def confirm_address(
    host: DevHostProcess, reference: str, address: str, subject: str = "Bekreft e-postadressen"
) -> EmailMessage:
    """Follow the neutral confirmation request the case sent `address` (as its owner would: the button POSTs);
    returns the request. A JSON client's submission goes on this way, registered contact or not."""
    [request] = mails_to(host, reference, address, subject)
    link = re.search(r"(https?://\S+/api/confirm\?t=[\w.\-~%]+)", plain(request))
    assert link, plain(request)
    confirmed = httpx.post(link.group(1))
    assert confirmed.status_code == 200, confirmed.text
    return request
