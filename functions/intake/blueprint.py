"""Email intake triggers: the mailbox poll. Handlers are imported on first call (light cold start)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("mailbox_poll")
@bp.timer_trigger(arg_name="timer", schedule="%SSU_MAILBOX_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def mailbox_poll(timer: func.TimerRequest) -> None:
    """Take in what waits in the shared mailbox: new cases, messages on cases, bounces; set aside the rest."""
    from ..core.services import get_services
    from .workflow import poll_mailbox

    services = get_services()
    await poll_mailbox(services, services.mailbox)
