"""Separate what someone just wrote from the quoted history and signature below it (nb and en mail clients)."""

from __future__ import annotations

import re

# Lines that start the quoted history, as Outlook, Gmail, Apple Mail, Thunderbird and phones write them.
_HISTORY_STARTS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^-{2,}\s*(original message|opprinnelig melding|videresendt melding|forwarded message)\s*-{2,}",
        r"^_{10,}\s*$",  # Outlook's rule above "From:/Fra:"
        r"^(fra|from)\s*:\s*.+",  # Outlook header block (checked with the next lines below)
        r"^(den|on|på)\s.+(skrev|wrote|a écrit)\s*:?\s*$",  # Gmail / Apple Mail / Thunderbird
        r"^.+\s(skrev|wrote)\s*:\s*$",
        r"^begin forwarded message\s*:",
        r"^(sendt fra min|sent from my)\s",
    )
]
_OUTLOOK_FIELDS = re.compile(r"^(sendt|sent|til|to|emne|subject|dato|date|kopi|cc)\s*:", re.IGNORECASE)
# A signature starts at a delimiter line, or at a sign-off alone on its line ("Med vennlig hilsen", "Mvh", "Best
# regards", "Sendt fra min iPhone"): what follows is a name, a title and phone numbers, not the message.
_SIGNATURE = re.compile(
    r"^\s*(--|—|-- |(med\s+)?(vennlig|beste)\s+hilsen,?|hilsen,?|mvh\.?,?|"
    r"(best|kind|warm)\s+regards,?|regards,?|(sent from|sendt fra) (my|min) [\w ]{2,30})\s*$",
    re.IGNORECASE,
)


def _starts_history(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    for pattern in _HISTORY_STARTS:
        if pattern.match(line):
            if pattern.pattern.startswith("^(fra|from)"):
                # 'Fra: x' alone could be the person's own text; Outlook's block has Sendt/Til/Emne right after.
                following = [s.strip() for s in lines[i + 1 : i + 4] if s.strip()]
                return any(_OUTLOOK_FIELDS.match(s) for s in following)
            return True
    # Gmail wraps long attribution lines: "Den tir. 3. mar. 2026 kl. 10:12 skrev Kari Nordmann <"
    if re.match(r"^(den|on)\s", line, re.IGNORECASE) and i + 1 < len(lines):
        joined = f"{line} {lines[i + 1].strip()}"
        return bool(re.search(r"(skrev|wrote)\s*:?\s*$", joined, re.IGNORECASE))
    return False


def split_reply(text: str) -> tuple[str, str]:
    """(new text, quoted history). The new text has no '>' lines, no attribution block and no signature."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">") or _starts_history(lines, i):
            cut = i
            break
    new_lines = lines[:cut]
    for i, line in enumerate(new_lines):
        if _SIGNATURE.match(line.rstrip()):
            new_lines = new_lines[:i]
            break
    new = "\n".join(new_lines).strip()
    return new, "\n".join(lines[cut:]).strip()
