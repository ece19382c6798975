"""HTTP triggers of process B: the alert API and the public status; handlers load on first call (light cold start).

The alert functions are anonymous to the Functions host: each source authenticates with its own API key (hashed, two
per source for rotation; alerts/api.py), never with a function or host key, which would open every other endpoint.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("alerts")
@bp.route(route="alerts", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def alerts(req: func.HttpRequest) -> func.HttpResponse:
    """NAV, Altinn, Digdir: POST an alert (idempotent per source_alert_id); GET your alerts."""
    from ..composition import get_services
    from . import api

    return await api.alerts(req, get_services())


@bp.function_name("alert")
@bp.route(route="alerts/{reference}", methods=["GET", "PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
async def alert(req: func.HttpRequest) -> func.HttpResponse:
    """GET one of your alerts with its ledger (who was sent what, in which state); PATCH makes a new revision."""
    from ..composition import get_services
    from . import api

    return await (api.revise(req, get_services()) if req.method == "PATCH" else api.alert(req, get_services()))


@bp.function_name("alert_resolve")
@bp.route(route="alerts/{reference}/resolve", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def alert_resolve(req: func.HttpRequest) -> func.HttpResponse:
    """Close one of your alerts: resolved, completed or cancelled, with a closing text."""
    from ..composition import get_services
    from . import api

    return await api.resolve(req, get_services())


@bp.function_name("status_page")
@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def status_page(req: func.HttpRequest) -> func.HttpResponse:
    """Public: the headline, each component's state, incidents with updates, maintenance ahead, 90 days (?lang=en)."""
    from ..composition import get_services
    from ..web.http import html_response, requested_language
    from .status import status_page as build

    services = get_services()
    language = requested_language(req)
    page = services.renderer.page("status", language=language, status=await build(services, language))
    return html_response(page, headers={"Cache-Control": "public, max-age=60"})


@bp.function_name("status_feed")
@bp.route(route="status/feed.atom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def status_feed(req: func.HttpRequest) -> func.HttpResponse:
    """Atom feed of the alerts with their full text: public, or one company's own with ?org=<number>&k=<signed key>;
    in English with &lang=en."""
    from ..composition import get_services
    from ..web.http import requested_language
    from .status import atom_feed, current_status, feed_alerts, notices

    services = get_services()
    organisation = await _feed_organisation(services, req)
    if isinstance(organisation, func.HttpResponse):
        return organisation
    language = requested_language(req)
    alerts = feed_alerts(await current_status(services, organisation))
    worded = await notices(services, alerts, language)
    body = atom_feed(services, alerts, worded, services.clock.now(), language)
    cache = "private, max-age=60" if organisation else "public, max-age=60"
    return func.HttpResponse(body, mimetype="application/atom+xml", headers={"Cache-Control": cache})


@bp.function_name("status_calendar")
@bp.route(route="status/maintenance.ics", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def status_calendar(req: func.HttpRequest) -> func.HttpResponse:
    """iCalendar of planned maintenance to subscribe to (times in UTC): public, or one company's own (?org=…&k=…)."""
    from ..composition import get_services
    from ..web.http import requested_language
    from .status import current_status, maintenance_calendar, notices

    services = get_services()
    organisation = await _feed_organisation(services, req)
    if isinstance(organisation, func.HttpResponse):
        return organisation
    language = requested_language(req)
    status = await current_status(services, organisation)
    alerts = [a for a in status.maintenance + status.recently_closed if a.kind == "maintenance"]
    body = maintenance_calendar(services, alerts, await notices(services, alerts, language), language)
    cache = "private, max-age=300" if organisation else "public, max-age=300"
    return func.HttpResponse(body, mimetype="text/calendar", headers={"Cache-Control": cache})


async def _feed_organisation(services: Any, req: func.HttpRequest) -> Any:
    """None for the public feed; the company for a validly signed ?org=…&k=…; else the 403/404 to answer."""
    from ..web.http import json_response
    from .status import feed_organisation

    number = req.params.get("org")
    if number is None:
        return None
    if not feed_organisation(services, number, req.params.get("k", "")):
        return json_response({"error": "forbidden", "message": "The link's key is not valid for this company."}, 403)
    organisation = (await services.registry()).organisation(number)
    if organisation is None:
        return json_response({"error": "not_found", "message": "No such company in the registry."}, 404)
    return organisation
