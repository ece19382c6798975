"""HTML-only email as plain text, safely: scripts, styles and markup are dropped, never interpreted."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr"}
_SKIP = {"script", "style", "head", "title", "template", "noscript"}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._quote_depth = 0

    def _break(self, lines: int = 1) -> None:
        """End the current line (and leave `lines - 1` empty ones): a block's edge is one line break however many
        blocks meet there, as a mail client shows `<div>one</div><div>two</div>` on two lines, not three."""
        text = "".join(self.parts[-3:])
        have = len(text) - len(text.rstrip("\n")) if self.parts else lines
        self.parts.append("\n" * max(0, lines - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")  # a line break of its own: <div><br></div> is an empty line
        elif tag == "blockquote":
            self._quote_depth += 1
            self._break()
        elif tag in _BLOCK:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "blockquote":
            self._quote_depth = max(0, self._quote_depth - 1)
            self._break()
        elif tag == "p":
            self._break(2)  # a paragraph ends with an empty line
        elif tag in _BLOCK and tag != "br":
            self._break()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        text = re.sub(r"[ \t\r\n\xa0]+", " ", data)
        if not text.strip() and (not self.parts or "".join(self.parts[-2:]).endswith("\n")):
            return  # the source's own line breaks between blocks are no text
        if self._quote_depth:
            # Quoted history in HTML mail becomes '>'-quoted text, which the reply splitter understands.
            text = text.strip()
            if text:
                self.parts.append("> " * min(self._quote_depth, 8) + text + "\n")  # deeper is no more quoted
            return
        self.parts.append(text)


# A "<" that no ">" closes within a tag's length is text: html.parser rescans an unclosed tag from its start on every
# step (quadratic: 80 KB of "<a" take seconds), and anyone can send HTML-only mail.
_UNCLOSED = re.compile(r"<(?![^<>]{0,20000}>)")  # linear: each scan stops at the next < or >


def html_to_text(html: str) -> str:
    collector = _TextCollector()
    html = _UNCLOSED.sub("&lt;", html)
    try:
        collector.feed(html)
        collector.close()
    except Exception:  # html.parser is lenient; this is a last resort for pathological input
        return re.sub(r"<[^>]*>", " ", html)
    lines = [line.strip() for line in "".join(collector.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
