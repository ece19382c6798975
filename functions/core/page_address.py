"""The query of the page being answered, for its language switch: the web layer notes it, templates read it."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from urllib.parse import urlencode

# Per request: each invocation runs in its own task (the Functions worker's and the dev host's alike), and a task
# has its own copy of the context, so one request never sees another's query.
_query: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("page_query", default=())


def note_page_query(params: Mapping[str, str]) -> None:
    """The request's query parameters, as the page's language switch will keep them."""
    _query.set(tuple((str(k), str(v)) for k, v in params.items()))


def language_switch_href(language: str) -> str:
    """A link to this page in `language`: the same path (a link of a query alone keeps it) and query, with `lang`
    set. The signed parameters of a page behind a link (`k`, `t`) go along, so the page still opens."""
    kept = [(k, v) for k, v in _query.get() if k.lower() != "lang"]
    return "?" + urlencode([*kept, ("lang", "en" if language == "en" else "nb")])
