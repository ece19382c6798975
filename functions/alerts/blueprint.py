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
@bp.route(route="alerts/{reference}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def alert(req: func.HttpRequest) -> func.HttpResponse:
    """One of your alerts, with its ledger: who was sent what, and in which state."""
    from . import api

    return await api.alert(req)
