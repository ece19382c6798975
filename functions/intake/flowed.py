"""format=flowed text (RFC 3676) re-joined: the soft line breaks a client added are removed before anything reads it.

Thunderbird, Apple Mail and many phones send text/plain as format=flowed: a line that ends in a space continues on
the next (a "soft" break); one that does not ends a paragraph line. With DelSp=yes the space before a soft break was
added by the client and is removed too. Quoted lines (`>`) are joined only with lines of the same quote depth, and
the signature separator `-- ` is never joined.
"""

from __future__ import annotations


def unflow(text: str, *, delsp: bool = False) -> str:
    """The text with soft line breaks removed; quoted lines keep their `>` prefix (one `> ` per level)."""
    out: list[str] = []
    paragraph: list[str] = []
    depth_of_paragraph = 0

    def flush() -> None:
        if paragraph:
            prefix = "> " * depth_of_paragraph
            out.append(prefix + "".join(paragraph))
            paragraph.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        depth = len(raw) - len(raw.lstrip(">"))
        line = raw[depth:]
        if line.startswith(" "):
            line = line[1:]  # space-stuffing (RFC 3676 4.4), or the space after a quote's '>'
        if paragraph and (depth != depth_of_paragraph or line == "-- "):
            flush()  # a change of quote depth, or the signature separator, ends a paragraph whatever came before
        if depth == 0 and raw.startswith(" >"):
            line = " " + line  # a stuffed ">" is the person's text ("> 50 %"), not a quote: it keeps its space
        soft = line.endswith(" ") and line != "-- "
        if soft and delsp:
            line = line[:-1]
        depth_of_paragraph = depth
        paragraph.append(line)
        if not soft:
            flush()
    flush()
    return "\n".join(out)
