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
