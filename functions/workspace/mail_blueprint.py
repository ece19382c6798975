"""Bits' workspace: thin triggers for mail health - suppressions and their lifts, failed mails and their resends."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("bits_mail")
@bp.route(route="bits/mail", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_mail(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): suppressed addresses with their bounces, the latest lifts, the failed mails,
    and the mails queued but not yet sent."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .mail_health import mail_page

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await mail_page(req, services, staff)


@bp.function_name("bits_mail_lift")
@bp.route(route="bits/mail/lift", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_mail_lift(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in admin): lift a suppression from the page's form (recorded with who and when)."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .mail_health import lift

    services = get_services()
    # Support is let through to a page that says in words that lifting needs an admin.
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await lift(req, services, staff)


@bp.function_name("bits_mail_resend")
@bp.route(route="bits/mail/resend", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_mail_resend(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): send a failed mail again, once, through the outbox."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .mail_health import resend

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await resend(req, services, staff)
