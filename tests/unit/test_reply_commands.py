"""Reading a decision from the first line of what someone wrote, and finding the token a reply carries."""

from __future__ import annotations

import pytest

from functions.core.commands import Command, Decision
from functions.intake.commands import Reading, read_reply, token_in
from functions.intake.parser import parse_message

APPROVE = Command("approve", ("GODKJENT", "APPROVE", "APPROVED"))
REJECT = Command("reject", ("AVSLÅTT", "REJECT"))
NOT_RECOMMENDED = Command("not_recommended", ("ANBEFALER IKKE", "NOT RECOMMENDED"))
RECOMMEND = Command("recommend", ("ANBEFALER", "RECOMMEND"))


async def _never(*_: object) -> object:
    raise AssertionError("not called")


DECISION = Decision("test", (APPROVE, REJECT), frozenset({"new"}), _never)  # type: ignore[arg-type]
COMMITTEE = Decision("committee", (NOT_RECOMMENDED, RECOMMEND), frozenset({"new"}), _never)  # type: ignore[arg-type]


def reading(body: str, subject: str = "SV: [SSU-E-2026-0001] Beslutning", decision: Decision = DECISION) -> Reading:
    raw = f"From: a@bits.example\nTo: ssu@bits.example\nSubject: {subject}\n\n{body}\n".encode()
    return read_reply(parse_message(raw, max_attachment_bytes=0, allowed_types=()), decision)


@pytest.mark.parametrize(
    ("body", "command", "text"),
    [
        ("GODKJENT", "approve", ""),
        ("godkjent: dekker behovet godt\n\nMvh Kari", "approve", "dekker behovet godt"),  # the sign-off is cut
        ("Avslått\nFor lite nytte.", "reject", "For lite nytte."),
        ("APPROVE - fine by us", "approve", "fine by us"),
    ],
)
def test_commands_with_their_reasons(body: str, command: str, text: str) -> None:
    found = reading(body)
    assert found.problem is None and found.command is not None
    assert (found.command.name, found.text) == (command, text)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Ikke godkjent", "negated"),
        ("GODKJENT? Nei, ikke ennå", "negated"),
        ("not approved", "negated"),
        ("GODKJENT eller AVSLÅTT, usikker", "ambiguous"),
        ("Jeg tror GODKJENT", "ambiguous"),
        ("\n\n> GODKJENT", "quoted_only"),
        ("Takk for info\n\n> GODKJENT", "empty"),  # words of one's own, but no command: the quote does not count
        ("", "empty"),
        ("Hei, hva betyr dette?", "empty"),
    ],
)
def test_no_decision_without_a_clear_command(body: str, problem: str) -> None:
    assert reading(body).problem == problem


def test_forwarded_message_is_no_decision() -> None:
    assert reading("GODKJENT", subject="VS: [SSU-E-2026-0001] Beslutning").problem == "forwarded"


def test_a_longer_phrase_wins_over_a_word_inside_it() -> None:
    found = reading("ANBEFALER IKKE\nFor dyrt.", decision=COMMITTEE)
    assert found.command == NOT_RECOMMENDED and found.text == "For dyrt."
    assert reading("Anbefaler", decision=COMMITTEE).command == RECOMMEND


def test_token_from_plus_address_or_subject() -> None:
    def message(to: str, subject: str) -> bytes:
        return f"From: a@bits.example\nTo: {to}\nSubject: {subject}\n\nx\n".encode()

    by_address = parse_message(
        message("Bits <ssu+abcdefghjk23@bits.example>", "SV: x"), max_attachment_bytes=0, allowed_types=()
    )
    assert token_in(by_address, "ssu@bits.example") == "abcdefghjk23"
    by_subject = parse_message(
        message("ssu@bits.example", "SV: [SSU-D-2026-0001] x #abcdefghjk23"), max_attachment_bytes=0, allowed_types=()
    )
    assert token_in(by_subject, "ssu@bits.example") == "abcdefghjk23"
    other_domain = parse_message(
        message("ssu+abcdefghjk23@evil.example", "SV: x"), max_attachment_bytes=0, allowed_types=()
    )
    assert token_in(other_domain, "ssu@bits.example") is None


def test_the_reason_follows_the_command_wherever_it_starts() -> None:
    found = reading("- GODKJENT: dekker behovet")
    assert found.command == APPROVE and found.text == "dekker behovet"


def test_dmarc_is_read_from_its_own_item_only() -> None:
    from functions.intake.sender import SenderTrust

    trust = SenderTrust(frozenset({"mx.bits.example"}), required=True, own_domains=frozenset())

    def proven(header: str) -> bool:
        raw = f"From: a@bits.example\nTo: ssu@bits.example\nAuthentication-Results: {header}\nSubject: x\n\nGODKJENT\n"
        return parse_message(raw.encode(), max_attachment_bytes=0, allowed_types=(), trust=trust).sender.proven

    assert not proven("mx.bits.example; spf=pass smtp.mailfrom=dmarc=pass@evil.example; dmarc=fail header.from=x")
    assert proven("mx.bits.example; spf=pass; dkim=pass; dmarc=pass action=none header.from=bits.example")
    assert not proven("mx.bits.example; spf=pass")
