"""Bits' workspace: thin triggers for the registry, a company's page and admins' edits (imported on first call)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("bits_registry")
@bp.route(route="bits/registry", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_registry(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): every company with its contacts by role, environments, services, terms and
    onboarding state; the data sources; Bits' own staff - in words."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .registry_view import registry_page

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await registry_page(req, services)


@bp.function_name("bits_registry_company")
@bp.route(route="bits/registry/{organisation_number}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_registry_company(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in staff member): one company in detail with its history of changes; for admins, the forms
    to edit it (`?add_email=&add_name=` fills in the one that adds a contact)."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .registry_view import company_page

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await company_page(req, services, staff)


@bp.function_name("bits_registry_change")
@bp.route(route="bits/registry/{organisation_number}/changes", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def bits_registry_change(req: func.HttpRequest) -> func.HttpResponse:
    """Bits (a signed-in admin): an edit of the company from its page's form, recorded and told to its contacts,
    then back to the company's page. A signed-in person without the admin role gets a page saying so (403)."""
    from ..composition import get_services
    from ..web.staff import require_staff
    from .registry_view import change_company

    services = get_services()
    if isinstance(staff := require_staff(req, services.settings, "support"), func.HttpResponse):
        return staff
    return await change_company(req, services, staff)
