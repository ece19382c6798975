"""Links to the app's own pages in the reader's language: an English mail's links open English pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from .mail import Letter

# What ends a link in running text and in HTML attributes (quotes of any kind, angle brackets, white space): none
# of them is a character of a URL. In HTML an entity ends it too (`&#34;`, `&gt;`, `&nbsp;` around a link a person
# typed), but for the `&amp;` of the link's own query.
_ENDS = "\\s\"'<>«»“”‘’"
_URL_CHARS = {False: f"[^{_ENDS}]*", True: f"(?:[^{_ENDS}&]|&amp;)*"}
# A link begins where a word does: our address inside another URL (`https://elsewhere/?next=…`, a mailto:'s body)
# belongs to that URL, which is not ours to change.
_STARTS = r"(?<![^\s\"'<>«“‘(\[;])"
# Punctuation that closes the sentence around a link rather than belonging to it ("… /api/onboarding/production.").
_TRAILING = ".,;:!?)]…"


def with_language(url: str, language: str, *, html: bool = False) -> str:
    """`url` with `lang=en` in its query when `language` is en (before any #fragment); unchanged when it names a
    language already, or for nb, the pages' default. Nothing else of the URL moves, so a signed parameter (`k`,
    `t`) stays as it was signed: signatures cover their own parameter, not the query around it."""
    if language != "en":
        return url
    address, hash_mark, fragment = url.partition("#")
    query = urlsplit(address.replace("&amp;", "&")).query
    if any(name == "lang" for name, _ in parse_qsl(query, keep_blank_values=True)):
        return url
    separator = ("&amp;" if html else "&") if "?" in address else "?"
    if address.endswith(("?", "&", "&amp;")):
        separator = ""
    return f"{address}{separator}lang=en{hash_mark}{fragment}"


def links_in_language(letter: Letter, base: str, language: str) -> Letter:
    """Every link in the letter to a page under `base` (the app's `/api/`) in `language`: in the text, in the HTML's
    attributes and text. Links elsewhere (a source's page, mailto:) are left alone."""
    if language != "en":
        return letter
    patterns = {html: re.compile(_STARTS + re.escape(base) + _URL_CHARS[html]) for html in (False, True)}

    def rewrite(html: bool) -> Callable[[re.Match[str]], str]:
        def one(match: re.Match[str]) -> str:
            url = match.group(0)
            link = url.rstrip(_TRAILING)
            return with_language(link, language, html=html) + url[len(link) :]

        return one

    text, html = patterns[False].sub(rewrite(False), letter.text), patterns[True].sub(rewrite(True), letter.html)
    return Letter(letter.subject, text, html)
