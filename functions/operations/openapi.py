"""The OpenAPI 3.1 document of the JSON endpoints, served at GET /api/openapi.json.

Request bodies come from the same pydantic models the handlers validate with, so the document cannot drift from
what is accepted. Responses are described by the small schemas below: what each handler really returns.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from ..alerts.models import AlertClosing, AlertIn, AlertUpdate
from ..changes.models import ChangeRequest
from ..incidents.models import ErrorReport, SecurityBreach
from ..onboarding.models import ContactUpdate, ProductionRequest, Registration
from ..questions.models import Question
from ..terms.models import TermsVersion

REF = "#/components/schemas/{model}"


# The body of POST /api/terms as terms/views.py reads it: `preview` is taken out first, the rest is validated as a
# TermsVersion. A subclass, so that the document describes both from the handler's own model.
class TermsPublication(TermsVersion):
    """A version of the terms to publish to every connected company, or to preview (`preview`)."""

    preview: bool = Field(
        default=False,
        description="true: answer 200 with what publishing would send (every company and person, a sample mail in "
        "each language they read), storing and sending nothing. Anything but a boolean is refused (422). "
        "`?preview=1` does the same.",
    )


_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "A short machine-readable kind, e.g. `validation`."},
        "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Per field."},
    },
}
_ALERT = {
    "type": "object",
    "required": ["id", "status", "title"],
    "properties": {
        "id": {"type": "string", "description": "Our reference, e.g. SSU-B-2026-0001."},
        "status": {"type": "string"},
        "title": {"type": "string"},
        "revision": {"type": "integer"},
        "source": {"type": "string", "enum": ["NAV", "ALTINN", "DIGDIR"]},
        "identity_numbers_removed": {"type": "integer", "description": "Fødselsnumre masked in the alert's text."},
    },
    "additionalProperties": True,
    "description": "The alert as stored: the fields sent, the revision and the source.",
}
_LEDGER_ROW = {
    "type": "object",
    "required": ["recipient", "mail", "state"],
    "properties": {
        "recipient": {"type": "string"},
        "mail": {"type": "string", "description": "Which mail: the revision (`r1`, `r2`, …), `closed` or a reminder."},
        "state": {"type": "string", "enum": ["pending", "sent", "failed", "bounced"]},
    },
}
_RECEIPT = {
    "type": "object",
    "required": ["reference", "status", "case_url"],
    "properties": {
        "reference": {"type": "string"},
        "status": {"type": "string"},
        "case_url": {"type": "string", "format": "uri"},
        "identity_numbers_removed": {"type": "integer", "description": "Fødselsnumre masked in the text."},
    },
}
_CASE = {"type": "object", "required": ["reference", "process", "status"], "additionalProperties": True}
RESPONSES: dict[str, dict[str, Any]] = {
    "Error": _ERROR,
    "Alert": _ALERT,
    "AlertWithLedger": {
        "allOf": [
            {"$ref": "#/components/schemas/Alert"},
            {
                "type": "object",
                "required": ["ledger"],
                "properties": {"ledger": {"type": "array", "items": _LEDGER_ROW}},
            },
        ]
    },
    "AlertList": {
        "type": "object",
        "required": ["alerts"],
        "properties": {"alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}}},
    },
    "Receipt": _RECEIPT,
    "Case": _CASE,
    "CaseList": {
        "type": "object",
        "required": ["cases"],
        "properties": {"cases": {"type": "array", "items": {"$ref": "#/components/schemas/Case"}}},
    },
    "CaseDetail": {
        "type": "object",
        "required": ["case", "events", "mails"],
        "properties": {
            "case": {"$ref": "#/components/schemas/Case"},
            "events": {"type": "array", "items": {"type": "object"}},
            "mails": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "storage", "mail_transport", "failing", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "storage": {"type": "string", "enum": ["ok", "unreachable"]},
            "mail_transport": {"type": "string", "enum": ["local", "graph"]},
            "failing": {"type": "array", "items": {"type": "string"}, "description": "The degraded checks' names."},
            "checks": {
                "type": "object",
                "description": "Each check (storage, mail_transport, outbox, mailbox_poll, graph_subscription, "
                "timer:<name>) with its status and figures.",
                "additionalProperties": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": ["ok", "degraded"]}},
                },
            },
        },
    },
    "TermsAcceptances": {
        "type": "object",
        "required": ["reference", "version", "effective_date", "accepted", "companies"],
        "properties": {
            "reference": {"type": "string"},
            "version": {"type": "string"},
            "effective_date": {"type": "string", "format": "date"},
            "accepted": {"type": "integer"},
            "companies": {"type": "array", "items": {"type": "object"}},
        },
    },
    "TermsPublished": {
        "type": "object",
        "required": ["reference", "status", "case_url", "acceptances_url"],
        "properties": {
            "reference": {"type": "string", "description": "The terms case, e.g. SSU-E-2026-0001."},
            "status": {"const": "published"},
            "case_url": {"type": "string", "format": "uri"},
            "acceptances_url": {"type": "string", "format": "uri", "description": "GET /terms/{reference}."},
            "identity_numbers_removed": {"type": "integer", "description": "Fødselsnumre masked in the text."},
        },
    },
    "TermsPreview": {
        "type": "object",
        "required": ["preview", "published_by", "terms", "companies", "company_count", "recipient_count", "mails"],
        "properties": {
            "preview": {"const": True},
            "published_by": {
                "type": "object",
                "required": ["email", "name"],
                "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
                "description": "The signed-in admin, who would be named as the publisher.",
            },
            "terms": {"type": "object", "description": "The version as it would be published."},
            "companies": {
                "type": "array",
                "description": "Every connected company and the people in it who would be told.",
                "items": {
                    "type": "object",
                    "required": ["organisation_number", "legal_name", "recipients"],
                    "properties": {
                        "organisation_number": {"type": "string"},
                        "legal_name": {"type": "string"},
                        "recipients": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "email", "roles", "language"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "email": {"type": "string"},
                                    "roles": {"type": "array", "items": {"type": "string"}},
                                    "language": {"type": "string", "enum": ["nb", "en"]},
                                },
                            },
                        },
                    },
                },
            },
            "company_count": {"type": "integer"},
            "recipient_count": {"type": "integer"},
            "mails": {
                "type": "array",
                "description": "The mail one recipient would get, for each language the recipients read.",
                "items": {
                    "type": "object",
                    "required": ["language", "company", "person", "subject", "text", "html"],
                    "properties": {
                        "language": {"type": "string", "enum": ["nb", "en"]},
                        "company": {"type": "string"},
                        "person": {"type": "string"},
                        "subject": {"type": "string"},
                        "text": {"type": "string"},
                        "html": {"type": "string"},
                    },
                },
            },
        },
    },
    "Pending": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {"status": {"const": "pending_confirmation"}, "message": {"type": "string"}},
    },
    "Organisation": {
        "type": "object",
        "required": ["organisation_number", "legal_name", "status", "services", "environments", "contacts"],
        "properties": {
            "organisation_number": {"type": "string"},
            "legal_name": {"type": "string"},
            "status": {"type": "string"},
            "services": {"type": "array", "items": {"type": "string"}},
            "environments": {"type": "array", "items": {"type": "string", "enum": ["test", "production"]}},
            "contacts": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": True,
    },
    "Suppressions": {
        "type": "object",
        "required": ["addresses", "lifted"],
        "properties": {
            "addresses": {"type": "array", "items": {"type": "object"}},
            "lifted": {
                "type": "array",
                "description": "The latest suppressions lifted, newest first, with the staff member who lifted each.",
                "items": {
                    "type": "object",
                    "required": ["address", "lifted_by", "lifted_at"],
                    "properties": {
                        "address": {"type": "string"},
                        "permanent_bounces": {"type": "integer"},
                        "lifted_by": {"type": "string", "description": "the staff member's email"},
                        "lifted_by_id": {
                            "type": "string",
                            "description": "the staff member's Entra object id (stays when the email changes)",
                        },
                        "lifted_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
        },
    },
}
REQUESTS: list[type[BaseModel]] = [
    AlertIn,
    AlertUpdate,
    AlertClosing,
    Question,
    ErrorReport,
    SecurityBreach,
    ChangeRequest,
    TermsPublication,
    Registration,
    ProductionRequest,
    ContactUpdate,
]


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": REF.format(model=schema)}}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "The body is not a JSON object we read (not JSON, nested deeper than 8 levels, a number beyond a 64-bit "
        "integer, infinite like `1e999999`, or NaN), or a query parameter or header is wrong.",
        401: "Not signed in as Bits staff, or (alerts) no API key or a wrong one.",
        403: "Not allowed: a staff member without the app role, another source's alert, or an address that is not a "
        "contact of the company.",
        404: "No such alert, case or company.",
        409: "Not now: the alert is closed, or a registration is already open, or the step does not fit yet.",
        413: "The body is too large.",
        415: "The body is not application/json.",
        422: "A field is wrong: `errors` says which and why (also a text with control characters, NUL among them, or "
        "the invisible characters that change the writing direction, U+202A–U+202E and U+2066–U+2069).",
        429: "Too many submissions this hour from this client, for this address or this company (`rate_limited`); "
        "nothing was stored or sent. `Retry-After` says in how many seconds to try again.",
        503: "Storage is unavailable; try again.",
    }
    return {str(code): _json("Error", text[code]) for code in codes}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}}


def _reference(name: str = "reference") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x20-\\x7E]+$"},
    "description": "Your own id for this submission (1–200 printable ASCII characters, e.g. a UUID), the same on "
    "every try of it. Sent again with the same key and the same body, the request opens nothing more and gets the "
    "first answer again (the same status and reference, with `Idempotent-Replayed: true`, without the signed "
    "`case_url`, which only the first answer carries), also when the first answer was lost or was a 503. Use a "
    "random key: the same key with another body is refused (422 `idempotency_key_reused`). "
    "Without a key, sending again after a 503 may open a second case. (A browser form carries a one-time id in its "
    "signed token instead.)",
}
_UNCONFIRMED = (
    "Storage did not answer in time: we could not confirm that the case was stored (it may still be, once storage "
    "answers). With an `Idempotency-Key` (`retry_safe`: true) sending the same request again is safe: it is not "
    "registered twice. Without one, sending again may open a second case. `Retry-After` says when to try."
)


def _form(
    model: type[BaseModel], summary: str, name: str, security: list[Any] | None = None, pending: bool = False
) -> dict[str, Any]:
    operations: dict[str, Any] = {
        "get": {
            "operationId": f"{name}Form",
            "summary": f"{summary}: the web form (HTML, nb; ?lang=en for English).",
            "tags": ["forms"],
            "responses": {"200": {"description": "The form.", "content": {"text/html": {}}}},
        },
        "post": {
            "operationId": f"submit{name[0].upper()}{name[1:]}",
            "summary": f"{summary}: submit as JSON (the browser form posts form data to the same address).",
            "tags": ["forms"],
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": _body(model),
            "responses": {
                "201": _json(
                    "Receipt",
                    "The case is opened (or, sent again with the same Idempotency-Key, was opened by the first try: "
                    "the same answer, with `Idempotent-Replayed: true`).",
                )
                | CASE_LINKS
            }
            | _errors(400, 403, 404, 409, 413, 415, 422, 429)
            | {"503": _json("Error", _UNCONFIRMED)},
        },
    }
    if pending:
        operations["post"]["responses"]["202"] = _json(
            "Pending", "Taken; it goes on when the contact confirms by link."
        )
    if security is not None:
        for operation in operations.values():
            operation["security"] = security
            operation["responses"] |= _errors(401, 403)
        operations["get"]["responses"]["302"] = SIGN_IN_REDIRECT
    return operations


# Links tell a client (and schemathesis' stateful phase) where the id in an answer can be used next.
ALERT_LINKS = {
    "links": {
        op: {"operationId": op, "parameters": {"reference": "$response.body#/id"}}
        for op in ("getAlert", "reviseAlert", "resolveAlert")
    }
}
CASE_LINKS = {
    "links": {"getCase": {"operationId": "getCase", "parameters": {"reference": "$response.body#/reference"}}}
}
# Sources authenticate with their own key, staff by signing in: no operation takes a function or host key.
ALERT_KEY: list[dict[str, list[str]]] = [{"alertKey": []}]
STAFF: list[dict[str, list[str]]] = [{"staffSignIn": []}]
SIGN_IN_REDIRECT = {"description": "A browser that is not signed in is sent to /.auth/login/aad."}


def _terms() -> dict[str, Any]:
    """GET and POST /api/terms as `terms/views.py` answers them: the POST as it answers a JSON client."""
    operations = _form(TermsPublication, "Bits publishes a version of the terms (E); app role admin", "terms", STAFF)
    post = operations["post"]
    post["summary"] = (
        "Publish a version of the terms to every connected company (app role admin), or preview it first: "
        '`"preview": true` or `?preview=1` answers 200 with every company and person it would go to and the mail '
        "they would get, storing and sending nothing. The effective date must be after today; the publisher is the "
        "signed-in admin, who gets a receipt."
    )
    post["description"] = (
        "A browser's form post to the same address (form data, with the form's CSRF token) gets HTML pages instead: "
        "the preview, then the publication with the preview's signed token, then a 303 to the case."
    )
    post["tags"] = ["terms"]
    post["parameters"] = [
        {
            "name": "preview",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["1", "true"]},
            "description": 'Preview only, as `"preview": true` in the body.',
        }
    ]
    post["responses"] = (
        {
            "200": _json("TermsPreview", "The preview: nothing is stored or sent."),
            "201": _json(
                "TermsPublished",
                "Published: the version is stored and is being sent to every connected company; the admin gets a "
                "receipt. The very same content under the same version again is the same case.",
            )
            | {"headers": {"Location": {"schema": {"type": "string", "format": "uri"}, "description": "The case."}}}
            | CASE_LINKS,
        }
        | _errors(400, 413, 415, 503)
        | {
            "401": _json("Error", "Not signed in as Bits staff (`unauthenticated`); sign in at /.auth/login/aad."),
            "403": _json("Error", "Signed in, but without the app role admin (`forbidden`)."),
            "409": _json(
                "Error",
                "The version number is already published (`reference` names that case): a preview of it, or another "
                "content under it. Nothing is stored or sent.",
            ),
            "422": _json(
                "Error",
                "A field is wrong (`errors` says which and why): e.g. the version is not numbers with dots, the "
                "effective date is not after today, or `preview` is not a boolean. Nothing is stored or sent.",
            ),
        }
    )
    return operations


def openapi_document(server_url: str) -> dict[str, Any]:
    _, defs = models_json_schema([(m, "validation") for m in REQUESTS], ref_template=REF)
    schemas = {**defs.get("$defs", {}), **RESPONSES}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SSU governance API (Bits)",
            "version": "1.0.0",
            "description": (
                "Alerts from NAV, Altinn and Digdir (process B), the JSON side of the web forms (C, D), and the case "
                "API for Bits. Alert calls carry the source's own key in `X-Api-Key` (or `Authorization: Bearer`); "
                "Bits' endpoints need a staff member signed in with Entra ID (App Service Authentication: the "
                "session cookie from `/.auth/login/aad`) who holds the app role named on the operation. No call "
                "takes a function or host key."
            ),
        },
        "servers": [{"url": server_url}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "alertKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Api-Key",
                    "description": "The calling source's own API key (NAV, Altinn or Digdir); it names the source.",
                },
                "staffSignIn": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "AppServiceAuthSession",
                    "description": "A Bits staff member signed in with Entra ID at /.auth/login/aad (App Service "
                    "Authentication; locally the dev host's pick of the demo staff). The platform passes the person "
                    "and their app roles (support, approver, admin) to the app in X-MS-CLIENT-PRINCIPAL.",
                },
            },
        },
        "paths": {
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Storage, outbox, mailbox poll, Graph subscription and timers, each checked.",
                    "tags": ["operations"],
                    "responses": {
                        "200": _json("Health", "Healthy."),
                        "503": _json("Health", "Degraded: see the failing checks."),
                    },
                }
            },
            "/alerts": {
                "get": {
                    "operationId": "listAlerts",
                    "summary": "The alerts of the calling source.",
                    "tags": ["alerts"],
                    "security": ALERT_KEY,
                    "responses": {"200": _json("AlertList", "The source's alerts.")} | _errors(401, 503),
                },
                "post": {
                    "operationId": "createAlert",
                    "summary": "Create an alert; the same source_alert_id again returns the existing one.",
                    "tags": ["alerts"],
                    "security": ALERT_KEY,
                    "requestBody": _body(AlertIn),
                    "responses": {
                        "201": _json("Alert", "Created and being sent to every affected company.") | ALERT_LINKS,
                        "200": _json("Alert", "This source_alert_id exists already: the stored alert.") | ALERT_LINKS,
                    }
                    | _errors(400, 401, 413, 415, 422, 503),
                },
            },
            "/alerts/{reference}": {
                "parameters": [_reference()],
                "get": {
                    "operationId": "getAlert",
                    "summary": "One alert with its ledger: who got which mail, and its state.",
                    "tags": ["alerts"],
                    "security": ALERT_KEY,
                    "responses": {"200": _json("AlertWithLedger", "The alert.")} | _errors(401, 403, 404, 503),
                },
                "patch": {
                    "operationId": "reviseAlert",
                    "summary": "A new revision (new times or text), sent to those who got the alert.",
                    "tags": ["alerts"],
                    "security": ALERT_KEY,
                    "requestBody": _body(AlertUpdate),
                    "responses": {"200": _json("Alert", "The new revision.")}
                    | _errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
                },
            },
            "/alerts/{reference}/resolve": {
                "parameters": [_reference()],
                "post": {
                    "operationId": "resolveAlert",
                    "summary": "Close the alert (resolved, completed or cancelled) with a closing text.",
                    "tags": ["alerts"],
                    "security": ALERT_KEY,
                    "requestBody": _body(AlertClosing),
                    "responses": {"200": _json("Alert", "Closed (closing twice is closing once).")}
                    | _errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
                },
            },
            "/questions": _form(Question, "A question to Bits (D)", "question"),
            "/incidents": _form(ErrorReport, "An error report (C)", "errorReport"),
            "/incidents/security": _form(SecurityBreach, "A security breach (C)", "securityBreach"),
            "/change-requests": _form(ChangeRequest, "A change request (E)", "changeRequest"),
            "/terms": _terms(),
            "/onboarding/registration": _form(
                Registration, "Register a company as a data consumer (A)", "registration"
            ),
            "/onboarding/production": _form(
                ProductionRequest,
                "Ask to connect to production (A), from a registered contact",
                "productionRequest",
                pending=True,
            ),
            "/registry/contacts": _form(
                ContactUpdate, "Change a company's contacts (confirmed by an existing contact)", "contactUpdate"
            ),
            "/registry/organisations/{number}": {
                "parameters": [_reference("number")],
                "get": {
                    "operationId": "getOrganisation",
                    "summary": "One company as the registry holds it: status, environments, contacts, terms accepted.",
                    "tags": ["registry"],
                    "security": STAFF,
                    "responses": {"200": _json("Organisation", "The company.")} | _errors(401, 403, 404, 503),
                },
            },
            "/terms/{reference}": {
                "parameters": [_reference()],
                "get": {
                    "operationId": "getTermsAcceptances",
                    "summary": "Which connected company has accepted the version, by whom and when.",
                    "tags": ["terms"],
                    "security": STAFF,
                    "responses": {"200": _json("TermsAcceptances", "The acceptance table.")}
                    | _errors(401, 403, 404, 503),
                },
            },
            "/cases": {
                "get": {
                    "operationId": "listCases",
                    "summary": "Cases for Bits, optionally of one process and status.",
                    "tags": ["cases"],
                    "security": STAFF,
                    "parameters": [
                        {"name": "process", "in": "query", "schema": {"type": "string"}},
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _json("CaseList", "The cases.")} | _errors(400, 401, 403, 503),
                }
            },
            "/cases/{reference}": {
                "parameters": [_reference()],
                "get": {
                    "operationId": "getCase",
                    "summary": "One case with its events and mails.",
                    "tags": ["cases"],
                    "security": STAFF,
                    "responses": {"200": _json("CaseDetail", "The case.")} | _errors(401, 403, 404, 503),
                },
            },
            "/mail/suppressions": {
                "get": {
                    "operationId": "listSuppressions",
                    "summary": "Addresses that get no mail after repeated permanent bounces, and the lifts lately.",
                    "tags": ["operations"],
                    "security": STAFF,
                    "responses": {"200": _json("Suppressions", "The suppressed addresses.")} | _errors(401, 403),
                }
            },
            "/mail/suppressions/{address}": {
                "parameters": [_reference("address")],
                "delete": {
                    "operationId": "liftSuppression",
                    "summary": "Lift a suppression (app role admin); the lift records who did it.",
                    "tags": ["operations"],
                    "security": STAFF,
                    "responses": _errors(401, 403)
                    | {
                        "200": {
                            "description": "Lifted.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "404": {
                            "description": "The address was not suppressed.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                    },
                },
            },
        },
    }
