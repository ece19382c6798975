"""Web form plumbing: render, parse (form or JSON), validate, protect, and answer in the user's language."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import secrets
from datetime import timedelta
from enum import Enum
from http.cookies import SimpleCookie
from typing import Any, Literal, get_args, get_origin

import azure.functions as func
from pydantic import BaseModel, ValidationError

from ..core import telemetry
from ..core.cases import AddressProof
from ..core.forms import Refusal, SubmissionPending, SubmissionRefused, WebForm
from ..core.model import Channel
from ..core.privacy import MASK, mask_fields
from ..core.services import Services
from ..core.signing import sign, verify
from ..core.store import AlreadyProcessed, StorageUnavailable
from .http import (
    MAX_JSON_DEPTH,
    BadBody,
    html_response,
    intake_outcome,
    json_response,
    parse_json,
    requested_language,
    unsafe_fields,
)
from .rate_limit import count_submission, rate_limited_message
from .staff import principal_of

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
CSRF_COOKIE = "ssu_form"
# A browser that confirmed an address by the signed link remembers it (confirm page, cases/views.py): its later
# form posts naming that very address have it proven, so a registered contact is not asked every time.
ADDRESS_COOKIE = "ssu_address"
ADDRESS_PURPOSE = "proven-address"
ADDRESS_DAYS = 30
HONEYPOT_FIELD = "website"  # hidden from people; bots fill it in
BROWSER_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A JSON client's own id for one submission, sent the same on every try of it (the IETF draft's header): printable
# ASCII, as a structured-field string may hold.
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,200}")
REPLAYED_HEADER = "Idempotent-Replayed"  # "true" on the answer to a submission sent again
RETRY_AFTER = "30"

# Error messages per pydantic error type, (nb, en). Placeholders come from the error's context.
MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("Fyll ut dette feltet.", "Please fill in this field."),
    "string_too_short": (
        "Teksten er for kort (minst {min_length} tegn).",
        "Too short (at least {min_length} characters).",
    ),
    "string_too_long": (
        "Teksten er for lang (høyst {max_length} tegn).",
        "Too long (at most {max_length} characters).",
    ),
    "literal_error": ("Velg et av alternativene.", "Choose one of the options."),
    "enum": ("Velg et av alternativene.", "Choose one of the options."),
    "extra_forbidden": ("Ukjent felt.", "Unknown field."),
    "organisation_number": (
        "Organisasjonsnummeret må ha 9 siffer og gyldig kontrollsiffer.",
        "The organisation number must have 9 digits and a valid check digit.",
    ),
    "email": (
        "Skriv en gyldig e-postadresse, for eksempel navn@firma.no.",
        "Enter a valid email address, e.g. name@company.com.",
    ),
    "one_line": ("Skriv på én linje, uten spesialtegn.", "Use a single line without control characters."),
    "control_characters": ("Teksten inneholder ugyldige tegn.", "The text contains invalid characters."),
    "string_type": ("Ugyldig verdi.", "Invalid value."),
    "string_pattern_mismatch": ("Ugyldige tegn i feltet.", "The field contains characters that are not allowed."),
    "int_parsing": ("Skriv et helt tall.", "Enter a whole number."),
    "int_type": ("Skriv et helt tall.", "Enter a whole number."),
    "greater_than_equal": ("Tallet må være minst {ge}.", "The number must be at least {ge}."),
    "less_than_equal": ("Tallet kan være høyst {le}.", "The number must be at most {le}."),
    "datetime_parsing": ("Skriv dato og klokkeslett.", "Enter a date and time."),
    "datetime_from_date_parsing": ("Skriv dato og klokkeslett.", "Enter a date and time."),
    "datetime_type": ("Skriv dato og klokkeslett.", "Enter a date and time."),
    "future": ("Tidspunktet kan ikke være frem i tid.", "The time cannot be in the future."),
    "discovered_before_occurred": (
        "Bruddet kan ikke være oppdaget før det skjedde.",
        "The breach cannot have been discovered before it happened.",
    ),
    "too_short": ("Velg minst ett alternativ.", "Choose at least one option."),
    "too_long": ("For mange verdier (høyst {max_length}).", "Too many values (at most {max_length})."),
    "repeated": ("Samme verdi er gitt to ganger.", "A value is given twice."),
    "ends_at_required": ("Vedlikehold må ha sluttidspunkt.", "Maintenance needs ends_at."),
    "ends_before_start": ("Slutt må være etter start.", "ends_at must be after starts_at."),
    "timezone_aware": ("Oppgi tidssone, for eksempel +01:00.", "Give a time zone, e.g. +01:00."),
    "bool_parsing": ("Skriv true eller false.", "Use true or false."),
    "bool_type": ("Skriv true eller false.", "Use true or false."),
    "model_type": ("Forventet et JSON-objekt.", "Expected a JSON object."),
    "list_type": ("Forventet en liste.", "Expected a list."),
    "date_parsing": ("Skriv en dato (åååå-mm-dd).", "Enter a date (yyyy-mm-dd)."),
    "date_from_datetime_parsing": ("Skriv en dato (åååå-mm-dd).", "Enter a date (yyyy-mm-dd)."),
    "date_type": ("Skriv en dato (åååå-mm-dd).", "Enter a date (yyyy-mm-dd)."),
    "missing_roles": (
        "Oppgi minst én kontaktperson for hver rolle. Mangler: {missing}.",
        "Give at least one contact for every role. Missing: {missing}.",
    ),
    "phone": ("Skriv et telefonnummer, for eksempel +47 22 33 44 55.", "Enter a phone number, e.g. +47 22 33 44 55."),
    "supplier_incomplete": (
        "Oppgi både leverandørens navn og organisasjonsnummer.",
        "Give both the supplier's name and organisation number.",
    ),
    "must_be_true": ("Dette må bekreftes.", "This must be confirmed."),
    "not_a_contact": (
        "Adressen er ikke registrert som teknisk kontakt eller fagkontakt for virksomheten.",
        "The address is not registered as a technical or business contact of the company.",
    ),
    "https_origin": (
        "«{value}» er ikke en gyldig adresse. Skriv bare adressen til nettstedet, uten sti eller mellomrom, for "
        "eksempel https://app.forsikring.no.",
        '"{value}" is not a valid address. Give only the address of the site, with no path or spaces, e.g. '
        "https://app.insurer.com.",
    ),
    "https_required": (
        "«{value}» begynner med http://. Redirect-domener må bruke https, for eksempel https://app.forsikring.no.",
        '"{value}" starts with http://. Redirect domains must use https, e.g. https://app.insurer.com.',
    ),
    "date_past": (
        "Datoen har allerede vært. Velg i dag eller en dato fram i tid.",
        "The date has passed. Choose today or a later date.",
    ),
    "date_future": (
        "Datoen er fram i tid. Skriv datoen det skjedde, i dag eller tidligere.",
        "The date is in the future. Give the date it happened, today or earlier.",
    ),
    # A required choice left open (a dropdown, a group of boxes): "missing" in the words for a choice.
    "choose": ("Velg et av alternativene.", "Choose one of the options."),
    "choose_some": ("Velg minst ett alternativ.", "Choose at least one option."),
    "identity_number": (
        "Feltet ser ut til å inneholde et fødselsnummer. Fjern det og send på nytt.",
        "The field seems to contain a national identity number. Remove it and send again.",
    ),
    "unsafe_text": (
        "Teksten inneholder kontrolltegn eller usynlige tegn som endrer skriveretningen. Fjern dem og send på nytt.",
        "The text contains control characters or invisible characters that change the writing direction. Remove "
        "them and send again.",
    ),
}
GENERAL = {
    "expired": (
        "Skjemaet er utløpt eller ble ikke sendt fra denne siden. Se over feltene og send på nytt.",
        "The form has expired or was not sent from this page. Check the fields and send it again.",
    ),
    "invalid": (
        "Noen felter må rettes. Se meldingene ved feltene.",
        "Some fields need correcting. See the messages by the fields.",
    ),
    # Storage did not answer in time: the write may still have happened (it commits when storage comes back), so
    # we never say that nothing was stored; a form and a keyed request can be sent again without a second case.
    "unconfirmed": (
        "Vi fikk ikke bekreftet at saken ble lagret. Det er trygt å sende det samme på nytt om litt: saken blir ikke "
        "registrert to ganger.",
        "We could not confirm that the case was stored. It is safe to send the same again shortly: the case will not "
        "be registered twice.",
    ),
    "unconfirmed_keyed": (
        "Vi fikk ikke bekreftet at saken ble lagret. Det er trygt å sende den samme forespørselen på nytt om litt, "
        "med samme Idempotency-Key: saken blir ikke registrert to ganger.",
        "We could not confirm that the case was stored. It is safe to send the same request again shortly, with the "
        "same Idempotency-Key: the case will not be registered twice.",
    ),
    "unconfirmed_unkeyed": (
        "Vi fikk ikke bekreftet at saken ble lagret. Sender du den på nytt, kan det bli to saker, med mindre "
        "forespørselen har headeren Idempotency-Key (den samme ved hvert forsøk).",
        "We could not confirm that the case was stored. Sending it again may create a second case, unless the "
        "request carries an Idempotency-Key header (the same on every try).",
    ),
    "bad_idempotency_key": (
        "Headeren Idempotency-Key må være 1–200 synlige ASCII-tegn.",
        "The Idempotency-Key header must be 1–200 printable ASCII characters.",
    ),
    "idempotency_key_reused": (
        "Denne Idempotency-Key er brukt for en annen forespørsel. Bruk en ny nøkkel for en ny forespørsel.",
        "This Idempotency-Key was used for another request. Use a new key for a new request.",
    ),
    "rejected": ("Skjemaet ble avvist.", "The form was rejected."),
}


def message(kind: str, language: str, **context: Any) -> str:
    nb, en = MESSAGES.get(kind, ("Ugyldig verdi.", "Invalid value."))
    text = en if language == "en" else nb
    try:
        return text.format(**context)
    except (KeyError, IndexError):
        return text


def field_errors(exc: ValidationError, language: str, model: type[BaseModel] | None = None) -> dict[str, str]:
    """The errors by field path (`contacts.0.email`), in the person's words. With the `model`, a required choice
    left open is told to choose, not to fill in."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "body"
        # A value masked before validation that then fails it (an identifier, a link, a count) failed because of
        # the identity number it held: the person is told that, not that the field has characters not allowed.
        value = err.get("input")
        kind = "identity_number" if isinstance(value, str) and MASK in value else err["type"]
        if kind == "missing" and model is not None and len(err["loc"]) == 1:
            kind = _choice_kind(model, str(err["loc"][0])) or kind
        elif kind == "too_short" and model is not None and len(err["loc"]) == 1:
            # An empty list of typed values (one a line in a text box) is to be filled in; only options are chosen.
            kind = "too_short" if _choice_kind(model, str(err["loc"][0])) else "missing"
        errors.setdefault(name, message(kind, language, **(err.get("ctx") or {})))
    return errors


def _choice_kind(model: type[BaseModel], name: str) -> str | None:
    """ "choose" for a field of fixed options, "choose_some" for a list of them; None for any other field."""
    field = model.model_fields.get(name)
    if field is None:
        return None
    annotation = field.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation) or (None,)
        return "choose_some" if _is_choice(annotation) else None
    return "choose" if _is_choice(annotation) else None


def _is_choice(annotation: Any) -> bool:
    return get_origin(annotation) is Literal or (isinstance(annotation, type) and issubclass(annotation, Enum))


def at_fields(errors: dict[str, str]) -> dict[str, str]:
    """A browser form's errors at its fields: an error of one item of a list (`production_redirect_domains.1`,
    `services.0`) belongs to the field that holds the list, since the form has no field per item."""
    shown: dict[str, str] = {}
    for name, text in errors.items():
        parts = name.split(".")
        while len(parts) > 1 and parts[-1].isdigit():
            parts.pop()
        shown.setdefault(".".join(parts), text)
    return shown


def general(kind: str, language: str) -> str:
    nb, en = GENERAL[kind]
    return en if language == "en" else nb


# What each refusal answers over HTTP.
REFUSAL_STATUS = {Refusal.UNKNOWN: 404, Refusal.CONFLICT: 409, Refusal.NOT_ALLOWED: 403, Refusal.PENDING: 202}


class BodyRejected(Exception):
    """A request body we do not read: `response` says why. A browser form's fields with unsafe characters come as
    `fields` (name -> message) and the `data` to show again, so that the form can be shown with them marked."""

    def __init__(
        self, response: func.HttpResponse, fields: dict[str, str] | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self.response, self.fields, self.data = response, fields, data


async def handle_form(req: func.HttpRequest, form: WebForm, services: Services) -> func.HttpResponse:
    """GET renders the empty form; POST validates and opens the case, or explains what is wrong.

    Sent again (a double click, a retry after a 503), a submission opens nothing more: a browser form's signed
    token carries its one-time submission id, a JSON client may send an Idempotency-Key, and the case is written
    with markers of that id in the same transaction (`submission_markers`). The second answer is the first one.
    A POST is one `intake form` span, counted by outcome (the answer's status in words)."""
    if req.method == "GET":
        return _render(services, form, requested_language(req), {}, {}, None, 200)
    with telemetry.operation("intake form", one_case=True, channel="form") as intake:
        response = await _take_form(req, form, services)
        outcome = intake_outcome(response.status_code, replayed=REPLAYED_HEADER in response.headers)
        intake.note(outcome=outcome)
        telemetry.count("ssu.intake.outcome", channel="form", outcome=outcome)
        return response


async def _take_form(req: func.HttpRequest, form: WebForm, services: Services) -> func.HttpResponse:
    language = requested_language(req)
    try:
        data, is_browser = read_body(req, language, form.max_body_bytes or services.settings.max_body_bytes)
    except BodyRejected as rejected:
        if rejected.data is not None and rejected.fields is not None:
            return _render(services, form, language, rejected.data, rejected.fields, general("invalid", language), 422)
        return rejected.response
    language = "en" if data.get("language") == "en" else ("nb" if data.get("language") == "nb" else language)
    submission: str | None = None  # the browser form's one-time id, kept when the form is shown again
    if not is_browser and HONEYPOT_FIELD in data:
        # The field exists only hidden in the HTML form: a JSON body that has it was made from the page by a bot.
        log.info("form %s: honeypot field in a JSON body; rejected", form.template)
        return json_response({"error": "rejected", "message": general("rejected", language)}, 400)
    if is_browser:
        if data.pop(HONEYPOT_FIELD, ""):
            log.info("form %s: honeypot filled in; rejected", form.template)
            return _render(services, form, language, data, {}, general("rejected", language), 400)
        submission = form_submission(req, services, data.pop(CSRF_FIELD, ""))
        if submission is None:
            return _render(services, form, language, data, {}, general("expired", language), 403)
        markers = submission_markers(form.route, data, form_id=submission)
    else:
        key = req.headers.get(IDEMPOTENCY_HEADER.lower())
        if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
            return json_response(
                {"error": "bad_idempotency_key", "message": general("bad_idempotency_key", language)}, 400
            )
        markers = submission_markers(form.route, data, key=key) if key is not None else ()

    def again(values: dict[str, Any], errors: dict[str, str], notice: str | None, status: int) -> func.HttpResponse:
        """The form once more, with the same submission id: what it sends next is still this submission."""
        return _render(services, form, language, values, errors, notice, status, submission=submission)

    masked = mask_fields(data)
    try:
        model = form.model.model_validate(form.from_browser(data) if is_browser and form.from_browser else data)
    except ValidationError as exc:
        errors = field_errors(exc, language, form.model)
        if not is_browser:
            return json_response(
                {"error": "validation", "message": general("invalid", language), "errors": errors}, 422
            )
        return again(data, at_fields(errors), general("invalid", language), 422)
    replayed = False
    try:
        # Anonymous submissions only (Bits' staff, signed in with a staff role, are no relay; a principal without a
        # role is anyone); counted once valid, before anything is stored or mailed, against the client's network,
        # each address named and the organisation. A submission sent again is counted once (its marker).
        member = principal_of(req, services.settings)
        staff = member is not None and member.may("support")
        once = markers[0] if markers else None
        wait = None if staff else await count_submission(services, req.headers, model, once=once)
        # A typed address proves nothing; a browser's remembered confirmation proves its own address (JSON clients
        # confirm by the link every time), and Bits' signed-in staff vouch for what they give.
        proof = AddressProof(
            remembered=remembered_address(req, services) if is_browser else None,
            by_staff=staff,
            filed_by=member.email if staff and member is not None else None,
            markers=markers,
        )
        if wait is not None and form.taken_over_rate_limit:
            # A breach is never turned away: it is stored and Bits' security contacts hear of it, but nothing goes
            # to the address it names (a flood of them must not become mail to a victim).
            log.warning("form %s: over a rate limit; taken without mail to the submitter", form.template)
            proof = dataclasses.replace(proof, may_mail=False)
        elif wait is not None:
            log.warning("form %s: over a rate limit; refused for %ss", form.template, wait)
            return _rate_limited(services, form, language, data, is_browser, wait, submission)
        try:
            case = await form.submit(services, model, Channel.FORM if is_browser else Channel.API, masked, proof=proof)
        except AlreadyProcessed as done:
            if done.marker not in markers:
                raise
            if proof.key_reused(done):
                log.info("form %s: an Idempotency-Key used for another body; refused", form.template)
                reused = {"error": "idempotency_key_reused", "message": general("idempotency_key_reused", language)}
                return json_response(reused, 422)
            # This very submission was stored before (a double click, or a retry whose first answer was lost or
            # was a 503): the answer is the first one, about that case, and nothing more is written.
            stored = await services.store.load(done.reference)
            if stored is None:
                raise StorageUnavailable(f"{done.reference} is not readable yet") from None
            log.info("form %s: sent again; answered with %s", form.template, done.reference)
            case, replayed = stored.case, True
    except SubmissionRefused as refused:
        text = refused.en if language == "en" else refused.nb
        status = REFUSAL_STATUS[refused.why]
        if not is_browser:
            answer: dict[str, Any] = {"error": "refused", "message": text, "errors": refused.errors}
            if isinstance(refused, SubmissionPending):
                answer = {"status": "pending_confirmation", "message": text}
            if refused.reference:
                answer["reference"] = refused.reference
            return json_response(answer, status)
        if isinstance(refused, SubmissionPending):  # taken: a new submission from this page is a new one
            return _render(services, form, language, data, refused.errors, text, status)
        return again(data, refused.errors, text, status)
    except StorageUnavailable as exc:
        log.error("form %s: storage unavailable: %s", form.template, exc)
        if not is_browser:
            kind = "unconfirmed_keyed" if markers else "unconfirmed_unkeyed"
            body = {"error": "unavailable", "message": general(kind, language), "retry_safe": bool(markers)}
            return json_response(body, 503, {"Retry-After": RETRY_AFTER})
        page = again(data, {}, general("unconfirmed", language), 503)
        page.headers["Retry-After"] = RETRY_AFTER
        return page
    case_link = services.case_page_link(case.reference, receipt=True)
    if not is_browser:
        created = {"reference": case.reference, "status": case.status, "identity_numbers_removed": masked}
        if replayed:
            # A key is only as secret as the client keeps it: an answer sent again names the case, never its signed
            # link (the first answer gave that to whoever sent the request).
            return json_response(created, 201, {REPLAYED_HEADER: "true"})
        return json_response({**created, "case_url": case_link}, 201, {"Location": case_link})
    # Post/Redirect/Get: the receipt is the case page, so reloading it never sends the form twice.
    return func.HttpResponse(status_code=303, headers={"Location": f"{case_link}&receipt=1&lang={language}"})


def submission_markers(
    route: str, data: dict[str, Any], *, form_id: str | None = None, key: str | None = None
) -> tuple[str, ...]:
    """The markers a submission's case is written with (`AddressProof.markers`), per form route: a browser form's
    one-time id (whatever the fields are: the same page sent again is the same submission); or a JSON client's
    Idempotency-Key bound to the body (first: the very same request) and the key alone (then: the key went with
    another body before, which is refused). Hashes: a marker is a row key, and a client's key may hold any
    printable character."""

    def marker(*parts: str) -> str:
        return "submission-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]

    if form_id is not None:
        return (marker(route, "form", form_id),)
    assert key is not None
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    body = hashlib.sha256(canonical.encode()).hexdigest()
    return marker(route, "key", key, body), marker(route, "key", key)


def _rate_limited(
    services: Services,
    form: WebForm,
    language: str,
    data: dict[str, Any],
    is_browser: bool,
    wait: int,
    submission: str | None = None,
) -> func.HttpResponse:
    """429 with Retry-After: the JSON error, or the form page again with the values and the message."""
    text = rate_limited_message(language, wait)
    if not is_browser:
        return json_response(
            {"error": "rate_limited", "message": text, "retry_after": wait}, 429, {"Retry-After": str(wait)}
        )
    response = _render(services, form, language, data, {}, text, 429, submission=submission)
    response.headers["Retry-After"] = str(wait)
    return response


def read_body(req: func.HttpRequest, language: str, limit: int, *, browser: bool = True) -> tuple[dict[str, Any], bool]:
    """The body of a POST (or PATCH) as a dict, and whether a browser's form sent it; every endpoint that takes a
    body reads it here. JSON goes through `parse_json` (depth, numbers, unsafe characters); a browser's fields are
    checked for the same characters. `browser=False`: JSON only (an API). BodyRejected says what is wrong: 413,
    415, 400 for what is not a JSON object we read, 422 for unsafe characters (with the fields)."""
    declared = req.headers.get("content-length")
    body = req.get_body() or b""
    if len(body) > limit or (declared is not None and declared.isdigit() and int(declared) > limit):
        raise BodyRejected(_error(413, "too_large", language, f"≤ {limit // 1024} KiB"))
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = parse_json(body)
        except BadBody as bad:
            if bad.kind == "unsafe_text":
                raise BodyRejected(_unsafe(bad.fields, language)[0]) from None
            detail = f"≤ {MAX_JSON_DEPTH}" if bad.kind == "too_deep" else ""
            raise BodyRejected(_error(400, bad.kind, language, detail)) from None
        if not isinstance(data, dict):
            raise BodyRejected(_error(400, "bad_json", language))
        return data, False
    if browser and content_type in BROWSER_TYPES:
        try:
            fields = req.form
        except Exception:  # werkzeug rejects broken multipart bodies with a variety of errors
            raise BodyRejected(_error(400, "bad_form", language)) from None
        data = {}
        for key in fields:
            values = [v for v in fields.getlist(key) if isinstance(v, str)]
            data[key] = values if len(values) > 1 else (values[0] if values else "")
        if unsafe := unsafe_fields(data):
            response, errors = _unsafe(unsafe, language)
            shown = {k: v for k, v in data.items() if k not in unsafe and k not in (CSRF_FIELD, HONEYPOT_FIELD)}
            raise BodyRejected(response, errors, shown)
        # Empty optional fields come as "": treat them as not given.
        return {k: v for k, v in data.items() if v != "" or k in (HONEYPOT_FIELD, CSRF_FIELD)}, True
    raise BodyRejected(_error(415, "unsupported_type" if browser else "json_only", language))


def _unsafe(fields: tuple[str, ...], language: str) -> tuple[func.HttpResponse, dict[str, str]]:
    """The 422 for text with unsafe characters, and its errors by field."""
    errors = {name: message("unsafe_text", language) for name in fields}
    body = {"error": "validation", "message": general("invalid", language), "errors": errors}
    return json_response(body, 422), errors


_ERRORS = {
    "too_large": ("Innholdet er for stort {detail}.", "The content is too large {detail}."),
    "bad_json": ("Innholdet er ikke et gyldig JSON-objekt.", "The body is not a valid JSON object."),
    "bad_form": ("Skjemadataene kunne ikke leses.", "The form data could not be read."),
    "too_deep": ("JSON-objektet er nøstet for dypt {detail}.", "The JSON object is nested too deeply {detail}."),
    "bad_number": (
        "Innholdet har et tall vi ikke tar imot: større enn et 64-biters heltall, uendelig (som 1e999999) eller NaN.",
        "The body has a number we do not take: beyond a 64-bit integer, infinite (like 1e999999) or NaN.",
    ),
    "json_only": ("Send JSON (application/json).", "Send JSON (application/json)."),
    "unsupported_type": (
        "Send skjema (application/x-www-form-urlencoded eller multipart/form-data) eller JSON (application/json).",
        "Send a form (application/x-www-form-urlencoded or multipart/form-data) or JSON (application/json).",
    ),
}


def _error(status: int, kind: str, language: str, detail: str = "") -> func.HttpResponse:
    nb, en = _ERRORS[kind]
    text = (en if language == "en" else nb).format(detail=f"({detail})" if detail else "").replace(" .", ".")
    return json_response({"error": kind, "message": text}, status)


def _cookie(req: func.HttpRequest, name: str) -> str | None:
    cookie = SimpleCookie()
    try:
        cookie.load(req.headers.get("cookie", ""))
    except Exception:
        return None
    morsel = cookie.get(name)
    return morsel.value if morsel is not None else None


_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def page_nonce(req: func.HttpRequest) -> str:
    """The browser's CSRF nonce when it has one, else a new one: kept, so that the forms of an earlier view of a
    workspace page (the back button, a second tab) still match the cookie; each form's one-time id stays its own."""
    nonce = _cookie(req, CSRF_COOKIE)
    return nonce if nonce is not None and _NONCE.fullmatch(nonce) else secrets.token_urlsafe(16)


def form_submission(req: func.HttpRequest, services: Services, token: Any) -> str | None:
    """The one-time submission id of a browser form's token when the token is ours, unexpired and matches the
    browser's cookie (double submit, against CSRF); None otherwise. A token from before ids were given has its
    nonce, which is as unique."""
    if not isinstance(token, str):
        return None
    payload = verify(services.settings.verification_keys, "form", token, services.clock.now())
    nonce = _cookie(req, CSRF_COOKIE)
    if payload is None or nonce is None or not secrets.compare_digest(str(payload.get("n")).encode(), nonce.encode()):
        return None
    return str(payload.get("s") or payload.get("n"))


def _csrf_ok(req: func.HttpRequest, services: Services, token: Any) -> bool:
    return form_submission(req, services, token) is not None


def remember_address_cookie(services: Services, address: str) -> str:
    """The Set-Cookie value that lets this browser prove `address` on later forms (for ADDRESS_DAYS): a token we
    sign, sent back only to our own /api and not on other sites' posts (SameSite=Lax), unreadable by scripts."""
    expires = services.clock.now() + timedelta(days=ADDRESS_DAYS)
    token = sign(services.settings.effective_signing_key, ADDRESS_PURPOSE, {"e": address.casefold()}, expires)
    secure = "; Secure" if services.settings.public_base_url.startswith("https://") else ""
    return f"{ADDRESS_COOKIE}={token}; Path=/api; Max-Age={ADDRESS_DAYS * 86400}; HttpOnly; SameSite=Lax{secure}"


def remembered_address(req: func.HttpRequest, services: Services) -> str | None:
    """The (casefolded) address this browser proved by a confirmation link, when its cookie is one we signed and
    has not expired; None for anything else."""
    token = _cookie(req, ADDRESS_COOKIE)
    payload = verify(services.settings.verification_keys, ADDRESS_PURPOSE, token or "", services.clock.now())
    address = payload.get("e") if payload else None
    return address if isinstance(address, str) and address else None


def form_token(services: Services, nonce: str, submission: str | None = None) -> str:
    """A form's CSRF token: signed, bound to the browser's cookie `nonce` (double submit), carrying the form's
    one-time submission id (`submission`, or a new one) that `form_submission` gives back when it is posted."""
    expires = services.clock.now() + timedelta(hours=services.settings.form_token_hours)
    payload = {"n": nonce, "s": submission or secrets.token_urlsafe(16)}
    return sign(services.settings.effective_signing_key, "form", payload, expires)


def form_cookie(services: Services, nonce: str) -> str:
    """The Set-Cookie value of the double-submit nonce the page's form tokens are bound to."""
    secure = "; Secure" if services.settings.public_base_url.startswith("https://") else ""
    return f"{CSRF_COOKIE}={nonce}; Path=/api; HttpOnly; SameSite=Strict{secure}"


def _render(
    services: Services,
    form: WebForm,
    language: str,
    values: dict[str, Any],
    errors: dict[str, str],
    notice: str | None,
    status: int,
    *,
    submission: str | None = None,
) -> func.HttpResponse:
    """The form page with a fresh CSRF token (double submit: a signed field that must match a cookie) that carries
    the form's one-time submission id: a new one, or `submission` when the page shows a submission again that may
    be sent once more (after a 503 or a correction): then sending it twice is still one case."""
    nonce = secrets.token_urlsafe(16)
    token = form_token(services, nonce, submission)
    cookie = form_cookie(services, nonce)
    if errors and notice == general("invalid", language):
        notice = None  # the error summary says it, with a link to every field
    body = services.renderer.page(
        form.template,
        language=language,
        values={k: v for k, v in values.items() if k not in (CSRF_FIELD, HONEYPOT_FIELD)},
        errors=errors,
        field_labels={},  # filled in by the fields as they are drawn, for the error summary above them
        notice=notice,
        csrf_field=CSRF_FIELD,
        csrf_token=token,
        honeypot_field=HONEYPOT_FIELD,
    )
    return html_response(body, status, {"Set-Cookie": cookie, "Cache-Control": "no-store"})
