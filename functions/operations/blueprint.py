"""Operations: the health check and the outbox dispatcher. Handlers are imported on first call (light cold start)."""

from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    """Storage, the mail transport, the outbox's oldest due mail, the last mailbox poll, the Graph subscription's
    expiry and each timer's last run, each with its figure: 503 when any is degraded (operations/health.py)."""
    from ..composition import get_services
    from ..web.http import json_response
    from .health import health_report

    body = await health_report(get_services())
    return json_response(body, 200 if body["status"] == "ok" else 503)


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3.1 document of the JSON endpoints."""
    from ..composition import get_services
    from ..web.http import json_response
    from .openapi import openapi_document

    return json_response(openapi_document(get_services().link("").rstrip("/")))


@bp.function_name("outbox_dispatch")
@bp.timer_trigger(arg_name="timer", schedule="%SSU_OUTBOX_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def outbox_dispatch(timer: func.TimerRequest) -> None:
    """Send the emails that are due, retrying the ones that failed before."""
    from ..composition import get_services
    from ..core.outbox import dispatch_outbox, own_people
    from ..core.timer_runs import timed_run

    services = get_services()

    async def body() -> object:
        return await dispatch_outbox(
            services.store,
            services.transport,
            services.clock,
            services.retry_policy,
            limits=services.limits,
            daily_cap=services.settings.daily_cap_per_recipient,
            never_capped=own_people(await services.registry()),
            concurrency=services.settings.outbox_concurrency,
        )

    await timed_run(services, "outbox_dispatch", body)


@bp.function_name("outbox_wake")
@bp.queue_trigger(arg_name="wake", queue_name="%SSU_OUTBOX_QUEUE%", connection="AzureWebJobsStorage")
async def outbox_wake(wake: func.QueueMessage) -> None:
    """Send at once what a request has just queued: a message on the outbox queue wakes the dispatcher (the store
    puts one there after a write that queued mail; see core/services.py). The timer stays as the safety net."""
    await outbox_dispatch(None)  # the timer's own function: one dispatcher, whichever trigger runs it


@bp.function_name("mail_suppressions")
@bp.route(route="mail/suppressions", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def mail_suppressions(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): addresses with permanent bounces, which of them no longer get mail, and the
    suppressions lifted lately, by whom."""
    from ..composition import get_services
    from ..web.http import json_response
    from ..web.staff import require_staff

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return json_response({"addresses": await services.limits.suppressions(), "lifted": await services.limits.lifts()})


@bp.function_name("mail_suppression_lift")
@bp.route(route="mail/suppressions/{address}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
async def mail_suppression_lift(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in admin): send to an address again (after it was fixed), forgetting its bounces; the lift
    records who did it."""
    from ..composition import get_services
    from ..web.http import json_response
    from ..web.staff import require_staff

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "admin"), func.HttpResponse):
        return staff
    address = req.route_params.get("address", "")
    lifted = await services.limits.lift(address, staff.email, services.clock.now(), by_id=staff.object_id)
    outcome = "lifted" if lifted else "address not listed"
    log.info("mail suppressions: lift by staff member %s: %s", staff.object_id, outcome)
    return json_response({"lifted": lifted}, 200 if lifted else 404)


@bp.function_name("deadlines_check")
@bp.timer_trigger(arg_name="timer", schedule="%SSU_DEADLINES_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def deadlines_check(timer: func.TimerRequest) -> None:
    """Response targets (office hours), security breaches (round the clock), alerts (maintenance and deadlines),
    change requests (assessment deadline, deferred date), terms not yet accepted as their effective date nears,
    onboarding steps that wait too long."""
    from ..catalogue import CATALOGUE
    from ..composition import get_services
    from ..core.processes import run_deadline_jobs
    from ..core.timer_runs import timed_run

    services = get_services()
    await timed_run(services, "deadlines_check", lambda: run_deadline_jobs(services, CATALOGUE.deadline_jobs))


@bp.function_name("retention_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%SSU_RETENTION_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def retention_sweep(timer: func.TimerRequest) -> None:
    """Erase the personal data of closed cases whose retention period has passed, keeping the audit skeleton."""
    from ..composition import get_services
    from ..core.retention import erase_expired
    from ..core.timer_runs import timed_run

    services = get_services()
    await timed_run(services, "retention_sweep", lambda: erase_expired(services))


@bp.function_name("overview")
@bp.route(route="overview", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def overview(req: func.HttpRequest) -> func.HttpResponse:
    """The old overview of open cases, now Bits' work queue: a redirect there (keeping the language), so that old
    bookmarks still work. It shows nothing itself; the queue asks for sign-in."""
    target = "/api/bits?lang=en" if req.params.get("lang", "").lower() == "en" else "/api/bits"
    return func.HttpResponse(status_code=302, headers={"Location": target, "Cache-Control": "no-store"})
