"""Email intake triggers: the mailbox poll. Handlers are imported on first call (light cold start)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("mailbox_poll")
@bp.timer_trigger(arg_name="timer", schedule="%SSU_MAILBOX_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def mailbox_poll(timer: func.TimerRequest) -> None:
    """Take in what waits in the shared mailbox: new cases, messages on cases, bounces; set aside the rest."""
    from ..catalogue import CATALOGUE
    from ..composition import get_services
    from ..core.timer_runs import timed_run
    from .workflow import poll_mailbox

    services = get_services()
    await timed_run(services, "mailbox_poll", lambda: poll_mailbox(services, services.mailbox, CATALOGUE))


@bp.function_name("mailbox_notifications")
@bp.route(route="mailbox/notifications", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def mailbox_notifications(req: func.HttpRequest) -> func.HttpResponse:
    """Graph change notifications: answer the validation handshake, check clientState, acknowledge at once."""
    from ..composition import get_services
    from .subscription import receive_notifications

    token = req.params.get("validationToken")
    if token is not None:
        if len(token) > 2048:
            return func.HttpResponse("validation token too long", status_code=400)
        # Graph requires the token back as plain text within 10 seconds.
        return func.HttpResponse(
            token, status_code=200, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"}
        )
    if len(req.get_body() or b"") > 1_048_576:
        return func.HttpResponse(status_code=413)
    result = await receive_notifications(get_services(), req.get_body() or b"")
    return func.HttpResponse(status_code=result.status)


@bp.function_name("mailbox_subscription_renew")
@bp.timer_trigger(arg_name="timer", schedule="%SSU_SUBSCRIPTION_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def mailbox_subscription_renew(timer: func.TimerRequest) -> None:
    """Create the Graph subscription on the shared inbox, or renew it before it expires."""
    from ..adapters.graph_subscription import keep_subscription
    from ..composition import get_services
    from ..core.timer_runs import timed_run

    services = get_services()
    await timed_run(services, "mailbox_subscription_renew", lambda: keep_subscription(services))
