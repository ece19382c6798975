"""HTTP triggers of process B: the alert API. Handlers are imported on first call (light cold start)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("alerts")
@bp.route(route="alerts", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
async def alerts(req: func.HttpRequest) -> func.HttpResponse:
    """NAV, Altinn, Digdir: POST an alert (idempotent per source_alert_id); GET your alerts."""
    from . import api

    return await api.alerts(req)


@bp.function_name("alert")
@bp.route(route="alerts/{reference}", methods=["GET", "PATCH"], auth_level=func.AuthLevel.FUNCTION)
async def alert(req: func.HttpRequest) -> func.HttpResponse:
    """GET one of your alerts with its ledger (who was sent what, in which state); PATCH makes a new revision."""
    from . import api

    return await (api.revise(req) if req.method == "PATCH" else api.alert(req))


@bp.function_name("alert_resolve")
@bp.route(route="alerts/{reference}/resolve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def alert_resolve(req: func.HttpRequest) -> func.HttpResponse:
    """Close one of your alerts: resolved, completed or cancelled, with a closing text."""
    from . import api

    return await api.resolve(req)


@bp.function_name("status_page")
@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def status_page(req: func.HttpRequest) -> func.HttpResponse:
    """Public: current incidents, upcoming maintenance and recently closed alerts (nb, or ?lang=en)."""
    from ..core.http import html_response, requested_language
    from ..core.services import get_services
    from .status import current_status

    services = get_services()
    status = await current_status(services)
    page = services.renderer.page("status", language=requested_language(req), status=status, now=services.clock.now())
    return html_response(page, headers={"Cache-Control": "public, max-age=60"})


@bp.function_name("status_feed")
@bp.route(route="status/feed.atom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def status_feed(req: func.HttpRequest) -> func.HttpResponse:
    """Public Atom feed of the alerts."""
    from ..core.services import get_services
    from .status import atom_feed, current_status

    services = get_services()
    status = await current_status(services)
    alerts = status.incidents + status.maintenance + status.changes + status.recently_closed
    body = atom_feed(services, alerts, services.clock.now())
    return func.HttpResponse(body, mimetype="application/atom+xml", headers={"Cache-Control": "public, max-age=60"})


@bp.function_name("status_calendar")
@bp.route(route="status/maintenance.ics", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def status_calendar(req: func.HttpRequest) -> func.HttpResponse:
    """Public iCalendar of planned maintenance, to subscribe to."""
    from ..core.services import get_services
    from .status import current_status, maintenance_calendar

    services = get_services()
    status = await current_status(services)
    body = maintenance_calendar(services, status.maintenance + status.recently_closed)
    return func.HttpResponse(body, mimetype="text/calendar", headers={"Cache-Control": "public, max-age=300"})
