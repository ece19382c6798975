"""HTTP trigger of the start page: what each public form is for, the status page and the workspace sign-in.

It lives at `/api/start`: the Functions host puts every HTTP function under the route prefix (`/api`), and `/`
would need an empty prefix (moving every URL) while Azure still shows its own home page there."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("start_page")
@bp.route(route="start", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def start_page(req: func.HttpRequest) -> func.HttpResponse:
    """The page a newcomer starts from, in nb or en (`?lang=en`)."""
    from ..composition import get_services
    from ..web.http import html_response, requested_language

    page = get_services().renderer.page("start", language=requested_language(req))
    return html_response(page, headers={"Cache-Control": "public, max-age=300"})
