"""Separate what someone just wrote from the quoted history, client footers, sign-off and disclaimer around it.

Written for the clients our people use, in Norwegian and English: Outlook (Windows, web, Mac, iOS, Android), Gmail
(web, Android), Apple Mail (iPhone, macOS), Thunderbird, Samsung Email and Roundcube. What a client puts above the
history is an attribution line ("On … wrote:", "tir. 3. nov. 2026 kl. 10:12 skrev Navn <adresse>:", often wrapped
over two lines), a header block (Fra:/Sendt:/Til:/Emne:), or a rule ("-------- Opprinnelig melding --------").
Below the person's own words and above the history come a sign-off ("Mvh Henrik", "Med vennlig hilsen" and the
name lines after it), a client's footer ("Sendt fra min iPhone", "Hent Outlook for iOS"), a signature after "-- ",
a legal disclaimer, or a lone first name: none of it is what the person said.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

_WRITE_VERBS = r"(skrev|wrote|schrieb|a écrit|kirjoitti|skrev følgende)"
# Rules and headers that start the history of a forward or a reply.
_HISTORY_RULES = re.compile(
    r"^(-{2,}\s*(original message|opprinnelig melding|videresendt melding|forwarded message|videresendt e-post|"
    r"opprinnelig e-post|oprindelig meddelelse|ursprüngliche nachricht|ursprungligt meddelande|message d'origine|"
    r"oorspronkelijk bericht|weitergeleitete nachricht|vidarebefordrat meddelande)\s*-{2,}|_{10,}|"
    r"(begin forwarded message|start på videresendt melding|videresendt melding|forwarded message)\s*:)\s*$",
    re.IGNORECASE,
)
# Outlook's header block above the quoted mail: "Fra:" then "Sendt:"/"Dato:", "Til:", "Emne:" (and English).
# In the languages of Outlook our people meet: Norwegian, Danish, Swedish, English, German, French, Dutch.
_HEADER_FROM = re.compile(r"^\*?(fra|from|från|von|de|van)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_FIELDS = re.compile(
    r"^\*?(sendt|sent|skickat|gesendt|envoyé|verzonden|dato|date|datum|til|to|till|an|à|aan|emne|subject|ämne|"
    r"betreff|objet|onderwerp|kopi|cc)\s*:",
    re.IGNORECASE,
)
# An attribution line ends with a colon and names who wrote; with a time or an address in it, it is no sentence of
# the person's own ("Den 3. mars skrev jeg til dere:" has neither).
_ATTRIBUTION = re.compile(rf"\b{_WRITE_VERBS}\b.*:\s*$|{_WRITE_VERBS}\s*:\s*$", re.IGNORECASE)
_TIME_OR_ADDRESS = re.compile(r"\d{1,2}[:.]\d{2}|@|<")
_NAME_ONLY_ATTRIBUTION = re.compile(rf"^[\w .'\-]{{2,60}}\s{_WRITE_VERBS}\s*:\s*$", re.IGNORECASE)
_ATTRIBUTION_START = re.compile(
    r"^(on|den|d\.|på|am|le|\d{1,4}[./-]|(man|tir|ons|tor|fre|lør|søn|mon|tue|wed|thu|fri|sat|sun)\w*\.?,?\s)",
    re.IGNORECASE,
)

# A client's footer: the app says where it was sent from.
_FOOTER = re.compile(
    r"^((sendt|sent)\s+(fra|from|med|with)\s+(min|my|mi)?\s*(iphone|ipad|galaxy|samsung|android|mobil|mobile|"
    r"huawei|blackberry|telefon|phone|smarttelefon|outlook|mail|e-post|yahoo|proton|gmail|thunderbird)\b"
    r"(\s+[\w.-]+){0,5}[.!]?|sendt fra samsung galaxy-smarttelefonen min\.?|(hent|get|skaff deg|last ned)\s+"
    r"outlook\s+for\s+(ios|android)\b\s*(<[^<>\s]+>)?)\s*$",
    re.IGNORECASE,
)
_FOOTER_MAX = 70  # a footer is one short line; a longer one is a sentence that happens to start alike

# A sign-off, alone or with a name after it: what follows is a name, a title and phone numbers.
_SIGN_OFF = re.compile(
    r"^(med\s+(vennlig|beste)\s+hilsen|vennlig(st)?\s+hilsen|vennleg\s+helsing|beste\s+hilsen|hilsen|hilsener|"
    r"helsing|mvh\.?|m\.v\.h\.?|takk\s+og\s+hilsen|(best|kind|warm|warmest|many\s+thanks\s+and)\s+regards|"
    r"regards|best\s+wishes|best|br|cheers|sincerely|yours\s+sincerely|all\s+the\s+best)"
    r"[,.!]?(?-i:(\s+([A-ZÆØÅ][\w'.-]*|/|&|og|and|i|at|fra|from)){0,6}),?\s*$",
    re.IGNORECASE,
)
_SIGNATURE_DELIMITER = re.compile(r"^(--|-- |—|__)\s*$")
# Legal disclaimers: a paragraph that opens like one, or holds two of their phrases.
_DISCLAIMER_START = re.compile(
    r"^(denne\s+e-?post(en)?|e-?posten\s+(og|kan|er)|this\s+e-?mail|this\s+message|the\s+information\s+(in|contained)|"
    r"confidential(ity)?(\s+notice)?\b|konfidensiell(itet)?\b|disclaimer|ansvarsfraskrivelse|notice\s*:|"
    r"important\s*:|viktig\s*:|merk\s*:\s*denne)",
    re.IGNORECASE,
)
_DISCLAIMER_PHRASES = re.compile(
    r"taushetsbelagt|rett(e)?\s+mottaker|tiltenkt(e)?\s+mottaker|ved\s+en\s+feil|"
    r"ment\s+for\s+(adressaten|mottakeren)|intended\s+(solely\s+)?(for|recipient)|in\s+error|"
    r"unauthori[sz]ed|slett(e)?\s+(den|e-?posten|meldingen)|delete\s+(it|this|the)|"
    r"not\s+the\s+intended|ikke\s+(er\s+)?(rett|riktig|tiltenkt)|ansvar\s+for|liability|virus",
    re.IGNORECASE,
)
# What every disclaimer says and a person's own report (a breach: "sendt ved en feil til feil mottaker") does not.
_DISCLAIMER_HALLMARK = re.compile(
    r"konfidensiell|fortrolig|taushetsbelagt|confidential|privileged|intended\s+recipient|tiltenkte?\s+mottaker",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[A-ZÆØÅ][a-zæøåäöüéè'-]{1,20}(\s[A-ZÆØÅ][a-zæøåäöüéè'-]{1,20})?,?$")
_NOT_NAMES = frozenset({"ok", "okei", "takk", "thanks", "enig", "agreed", "ja", "nei", "yes", "no", "hei", "hi"})


_MAX_ATTRIBUTION = 300  # characters: an attribution line is a date, a name and an address
# Older clients write a date without a time ("On Tuesday, December 1, 2026, Bits wrote:") or rule the line
# ("-----Bits <ssu@bits.example> wrote: -----", Lotus Notes).
_DATED_ATTRIBUTION = re.compile(rf"^(on|den|am|le)\b.{{0,120}}\b(19|20)\d\d\b.{{0,120}}\b{_WRITE_VERBS}\s*:\s*$", re.I)
_RULED_ATTRIBUTION = re.compile(rf"^-{{3,}}.{{0,200}}\b{_WRITE_VERBS}\s*:?\s*-{{3,}}\s*$", re.IGNORECASE)


def _one_attribution(line: str) -> bool:
    return len(line) <= _MAX_ATTRIBUTION and bool(_ATTRIBUTION.search(line)) and bool(_TIME_OR_ADDRESS.search(line))


def _attribution_at(lines: list[str], i: int) -> bool:
    """Whether an attribution line starts at line i, alone or wrapped over two or three lines."""
    line = lines[i].strip()
    if not line or len(line) > _MAX_ATTRIBUTION:
        return False
    if _NAME_ONLY_ATTRIBUTION.match(line):
        # "Kari Nordmann skrev:" alone is also how a person introduces a quote: it counts when a quote follows.
        following = next((s.strip() for s in lines[i + 1 : i + 3] if s.strip()), "")
        return following.startswith(">")
    if _one_attribution(line) or _DATED_ATTRIBUTION.match(line) or _RULED_ATTRIBUTION.match(line):
        return True
    if not _ATTRIBUTION_START.match(line) or line[-1] in ".!?":
        return False  # only an unfinished line that opens like an attribution is joined with the next
    joined = line
    for extra in (1, 2):
        following = lines[i + extra].strip() if i + extra < len(lines) else ""
        if not following or (_ATTRIBUTION_START.match(following) and _one_attribution(following)):
            return False  # the next line is an attribution of its own: this one is the person's
        joined = f"{joined} {lines[i + extra].strip()}"
        if len(joined) > _MAX_ATTRIBUTION:
            return False
        if _one_attribution(joined):
            return True
    return False


def _history_at(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if lines[i].startswith(">"):
        return True  # a quote marker stands first: " >50 %" (a space-stuffed line in flowed text) is no quote
    if _HISTORY_RULES.match(line):
        return True
    if _HEADER_FROM.match(line):
        # 'Fra: x' alone could be the person's own text; Outlook's block has Sendt/Til/Emne right after.
        following = [s.strip() for s in lines[i + 1 : i + 5] if s.strip()]
        return any(_HEADER_FIELDS.match(s) for s in following[:3])
    return _attribution_at(lines, i)


def _is_disclaimer(paragraph: list[str]) -> bool:
    text = " ".join(s.strip() for s in paragraph)[:3000]
    if not _DISCLAIMER_HALLMARK.search(text):
        return False
    hits = len({m.group(0).casefold() for m in _DISCLAIMER_PHRASES.finditer(text)})
    return (bool(_DISCLAIMER_START.match(text)) and hits >= 1) or hits >= 2


# A signature without a sign-off: a name, then lines with a title, a company, a phone number or an address.
_CONTACT_LINE = re.compile(
    r"(\b(tlf|tel|telefon|mob|mobil|phone|direct|direkte)\b\.?:?\s*\+?\d|\+\d{2}\s?\d|\b\d{3}\s?\d{2}\s?\d{3}\b|"
    r"\S+@\S+\.\w+|\b(AS|ASA|ANS|SA|Ltd|GmbH|AB)\b|www\.)",
)
_DEPARTMENT = re.compile(r"[A-ZÆØÅ0-9][A-ZÆØÅ0-9 &/,.-]{3,60}")  # "IT-SIKKERHET OG DRIFT" under a name
# A sign-off after the last sentence on a line: "Godkjent. Mvh Kari", "GODKJENT, mvh Kari".
_TRAILING_SIGN_OFF = re.compile(
    r"(?<=[.!,;])\s+(med\s+vennlig\s+hilsen|vennlig\s+hilsen|hilsen|mvh\.?|best\s+regards|kind\s+regards|regards)"
    r"(?-i:(\s+[A-ZÆØÅ][\w'.-]*){0,3}),?\s*$",
    re.IGNORECASE,
)


def _cut_signature(lines: list[str], sender_name: str, keep: frozenset[str]) -> list[str]:
    """The lines before a sign-off, footer, signature delimiter, signature block or disclaimer; without a trailing
    name."""
    paragraph_start = 0
    checked = -1
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            paragraph_start = i + 1
            continue
        if keep and _any_phrase(keep).search(stripped) and not _DISCLAIMER_START.match(stripped):
            trailing = _TRAILING_SIGN_OFF.search(line)
            if trailing:
                lines = [*lines[:i], line[: trailing.start()]]
                break
            continue  # a line that holds a command word is the person's, whatever it looks like
        if _SIGNATURE_DELIMITER.match(line) or _is_footer(stripped) or _SIGN_OFF.match(stripped):
            lines = lines[:i]
            break
        if i == paragraph_start or (_DISCLAIMER_START.match(stripped) and checked != paragraph_start):
            checked = paragraph_start  # a paragraph is looked at twice at most: at its start, and where one opens
            end = next((j for j in range(i, min(len(lines), i + 40)) if not lines[j].strip()), min(len(lines), i + 40))
            if _is_disclaimer(lines[i:end]):
                lines = lines[:i]
                break
            if i == paragraph_start and end >= len(lines) - 1 and _is_signature_block(lines[i:end], sender_name):
                lines = lines[:i]  # the last paragraph is a name and contact lines
                break
        trailing = _TRAILING_SIGN_OFF.search(line)
        if trailing:
            lines = [*lines[:i], line[: trailing.start()]]
            break
    last = len(lines)
    while last and not lines[last - 1].strip():
        last -= 1
    lines = lines[:last]
    content = [i for i, s in enumerate(lines) if s.strip()]
    if len(content) >= 2 and _is_name(lines[content[-1]].strip(), sender_name, keep):
        before = lines[content[-1] - 1].rstrip() if content[-1] else ""
        # Only a name on a line of its own: after an empty line or a finished sentence, not a wrapped sentence's end.
        if not before or before[-1] in ".!?,:;)":
            lines = lines[: content[-1]]
    return lines


def _is_signature_block(paragraph: list[str], sender_name: str) -> bool:
    if not 2 <= len(paragraph) <= 8:
        return False
    first = paragraph[0].strip()
    named = bool(_NAME.match(first) or re.fullmatch(r"[A-ZÆØÅ][\w'-]+(\s[A-ZÆØÅ][\w'-]+){1,3}", first))
    named = named or (bool(sender_name) and first.casefold() == sender_name.casefold())
    contact = any(_CONTACT_LINE.search(line) or _DEPARTMENT.fullmatch(line.strip()) for line in paragraph[1:])
    return named and contact and all(len(s) < 100 for s in paragraph)


@lru_cache(maxsize=64)
def _any_phrase(phrases: frozenset[str]) -> re.Pattern[str]:
    """One pattern for any of `phrases`, each a whole word or words."""
    alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)


def _is_name(line: str, sender_name: str, keep: frozenset[str]) -> bool:
    bare = line.rstrip(",").strip()
    if bare.upper() in keep or bare.casefold() in _NOT_NAMES:
        return False
    names = {p.casefold() for p in sender_name.split()} | {sender_name.casefold()}
    if bare.casefold() in names:
        return True
    return bool(_NAME.match(line))


# What a person writes above the quote fits in this many characters; the rest of a longer text is read as history.
READ_LIMIT = 64_000


def split_reply(text: str, *, sender_name: str = "", keep: Iterable[str] = ()) -> tuple[str, str]:
    """(own text, quoted history). The own text has no quoted history, no sign-off or what follows it, no client
    footer, no disclaimer and no trailing lone name. `keep`: words (upper case) that are never taken for a name or a
    sign-off, e.g. a decision's command words."""
    keep_words = frozenset(phrase.upper() for phrase in keep)
    lines = text[:READ_LIMIT].replace("\r\n", "\n").split("\n")
    cut = next((i for i in range(len(lines)) if _history_at(lines, i)), len(lines))
    own = _cut_signature(lines[:cut], sender_name, keep_words)
    new = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in own)).strip()
    return new, ("\n".join(lines[cut:]) + text[READ_LIMIT:]).strip()


def without_boilerplate(text: str) -> str:
    """The whole text (quoted history and signature kept: a new case's context) without what no person wrote: the
    client's footer lines and legal disclaimers."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip() or (i and lines[i - 1].strip()):
            if not _is_footer(lines[i]):
                kept.append(lines[i])
            i += 1
            continue
        end = next((j for j in range(i, len(lines)) if not lines[j].strip()), len(lines))
        if not _is_disclaimer(lines[i:end]):
            kept += [line for line in lines[i:end] if not _is_footer(line)]
        i = end
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _is_footer(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) <= _FOOTER_MAX and bool(_FOOTER.match(stripped))
