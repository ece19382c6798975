"""What an attachment really is: its type from its first bytes and its name when the sender's label says nothing.

Mail clients label many files `application/octet-stream` (a log file from a server, a PDF from a scanner), and a
label is only the sender's word: an executable called `rapport.pdf` is still an executable. The type kept is the
one the content shows where it shows one; the declared type otherwise; the name's where the label is generic and
the content is text.
"""

from __future__ import annotations

import hashlib

from ..core.inbound import Attachment
from ..core.privacy import mask_identity_numbers

# Labels that say "some bytes" and nothing more.
GENERIC_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/x-unknown",
        "application/unknown",
        "application/binary",
        "binary/octet-stream",
        "application/x-download",
        "application/force-download",
    }
)

# First bytes of the formats people attach, and of the ones they must not (which we never keep).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # old Office files, which carry macros
    (b"Rar!", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x1f\x8b", "application/gzip"),
)
_ZIP = b"PK\x03\x04"
_OFFICE = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_TEXT = {
    "txt": "text/plain",
    "log": "text/plain",
    "out": "text/plain",
    "err": "text/plain",
    "csv": "text/csv",
    "json": "application/json",
    "xml": "text/xml",
    "har": "application/json",  # a browser's network log, which people send with error reports
    "html": "text/html",
    "htm": "text/html",
    "svg": "image/svg+xml",
    "js": "text/javascript",
}


# Files that run when opened, whatever their content looks like (a script is text): never kept.
_DANGEROUS = frozenset(
    [
        "exe",
        "com",
        "bat",
        "cmd",
        "ps1",
        "psm1",
        "psd1",
        "vbs",
        "vbe",
        "js",
        "jse",
        "mjs",
        "wsf",
        "wsh",
        "wsc",
        "hta",
        "msi",
        "msp",
        "mst",
        "scr",
        "pif",
        "cpl",
        "lnk",
        "jar",
        "sh",
        "bash",
        "html",
        "htm",
        "xhtml",
        "shtml",
        "mht",
        "mhtml",
        "svg",
        "svgz",
        "xml.exe",
        "iso",
        "img",
        "vhd",
        "vhdx",
        "dll",
        "sys",
        "reg",
        "inf",
        "scf",
        "url",
        "application",
        "docm",
        "dotm",
        "xlsm",
        "xltm",
        "xlam",
        "pptm",
        "potm",
        "ppam",
        "one",
        "appx",
        "msix",
        "chm",
        "py",
        "pyw",
        "pl",
        "rb",
        "php",
    ]
)


def _extension(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return name.rsplit(".", 1)[-1].casefold() if "." in name else ""


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # a character cut at the sample's end is no proof of binary
            try:
                sample.decode("windows-1252")
            except UnicodeDecodeError:
                return False
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return controls <= len(sample) // 100


def content_type_of(data: bytes, filename: str, declared: str) -> str:
    """The type to judge and store the attachment by (see the module's docstring)."""
    declared = declared.casefold()
    extension = _extension(filename)
    if extension in _DANGEROUS:
        return "application/x-executable"
    for magic, found in _MAGIC:
        if data.startswith(magic):
            return found
    if data.startswith(_ZIP):
        office = _OFFICE.get(extension)
        # A zip named like an Office file is taken for one when it holds an Office package's parts list and no
        # macros; any other zip is a zip, whatever its name and label say.
        package = b"[Content_Types].xml" in data and b"vbaProject.bin" not in data
        return office if office and package and declared in (office, *GENERIC_TYPES) else "application/zip"
    if declared not in GENERIC_TYPES and not declared.startswith("text/"):
        return declared
    if declared.startswith("text/") and extension in _TEXT:
        return _TEXT[extension]  # a text's kind is its name's: "logg.html" sent as text/plain is HTML
    if data and _looks_like_text(data):
        return _TEXT.get(extension, "text/plain")
    return declared


def judged(
    data: bytes, filename: str, declared: str, *, max_bytes: int, allowed_types: tuple[str, ...], inline: bool = False
) -> Attachment:
    """A file as we keep it, whichever channel brought it (a part of an email, a file on the case page): its type
    as the content shows it, refused when that type is not one we keep or it is over `max_bytes` (then its bytes
    are dropped), its name masked (`vedtak_<fødselsnummer>.pdf`) and bounded."""
    content_type = content_type_of(data, filename, declared)
    if content_type not in allowed_types:
        refused = "type"
    elif len(data) > max_bytes:
        refused = "size"
    else:
        refused = ""
    return Attachment(
        filename=mask_identity_numbers(" ".join(filename.split()))[0][:200] or "vedlegg",
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=b"" if refused else data,
        inline=inline,
        refused=refused,
    )
