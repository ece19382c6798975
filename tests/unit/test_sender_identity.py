"""Who sent an email: the From address as mail servers read it, and a verdict only from our own receiving server,
counted only when it is about the From address's domain. Each test is a message an attacker or an odd mail client
would send."""

from __future__ import annotations

import base64

import pytest

from functions.core.inbound import InboundMessage, Sender
from functions.intake.parser import MalformedMessage, parse_message
from functions.intake.sender import SenderTrust

EOP = SenderTrust(frozenset({"exchange-online"}), required=True, own_domains=frozenset({"bits.example"}))
LOCAL = SenderTrust(frozenset({"exchange-online"}), required=False, own_domains=frozenset({"bits.example"}))
PASS_FOR_BITS = (
    "spf=pass (sender IP is 10.0.0.1) smtp.mailfrom=bits.example; dkim=pass (signature was verified) "
    "header.d=bits.example;dmarc=pass action=none header.from=bits.example;compauth=pass reason=100"
)


def parsed(headers: str, trust: SenderTrust = EOP) -> InboundMessage:
    raw = f"{headers}\nTo: ssu@bits.example\nSubject: VILKÅR\nMessage-ID: <m1@x>\n\nGODKJENT\n"
    return parse_message(raw.encode(), max_attachment_bytes=0, allowed_types=(), trust=trust)


def sender(headers: str, trust: SenderTrust = EOP) -> Sender:
    return parsed(headers, trust).sender


def test_an_encoded_word_never_becomes_the_address() -> None:
    # The finding: the whole From was decoded first, so this read as support@bits.example.
    trick = base64.b64encode(b'"Bits" <support@bits.example> (').decode()
    found = sender(f"From: =?utf-8?b?{trick}?= <attacker@evil.example> (=?utf-8?q?=29?=)")
    assert found.address == "attacker@evil.example"
    assert "support@bits.example" not in found.name, "no address in a display name is shown as the sender's"
    assert not found.proven


@pytest.mark.parametrize(
    "header",
    [
        "From: =?utf-8?q?support=40bits.example?=",  # an encoded word where the address should be
        "From: <=?utf-8?q?support=40bits.example?=@evil.example>",  # one inside the address
        "From: support@bits.example, attacker@evil.example",  # two authors: whose domain would DMARC check?
        "From: alice@bits.example)<attacker@evil.example>",  # the parser-differential of CVE-2023-27043
        "From: undisclosed-recipients",
        "From: a@b@c.example",
    ],
)
def test_a_from_header_that_is_not_one_unambiguous_address_is_refused(header: str) -> None:
    with pytest.raises(MalformedMessage):
        parsed(header)


def test_two_from_headers_are_refused() -> None:
    with pytest.raises(MalformedMessage):
        parsed("From: support@bits.example\nFrom: attacker@evil.example")


def test_an_address_inside_the_display_name_is_never_shown() -> None:
    found = sender('From: "support@bits.example" <attacker@evil.example>')
    assert found.address == "attacker@evil.example" and "@" not in found.name


def test_display_names_in_utf8_and_encoded_words_are_decoded() -> None:
    assert sender("From: =?utf-8?q?=C3=98rjan_=C3=86sen?= <o@x.example>", LOCAL).name == "Ørjan Æsen"
    raw = "From: Ørjan Æsen <o@x.example>\nTo: ssu@bits.example\nSubject: x\n\nhei\n".encode()
    assert parse_message(raw, max_attachment_bytes=0, allowed_types=(), trust=LOCAL).sender.name == "Ørjan Æsen"


def test_exchange_onlines_aligned_pass_proves_the_sender() -> None:
    found = sender(f"Authentication-Results: {PASS_FOR_BITS}\nFrom: Bits <Support@Bits.example>")
    assert found.proven and found.address == "support@bits.example"


def test_a_pass_for_another_domain_proves_nothing() -> None:
    # The attacker's own domain passes DMARC: that proves the attacker, not Bits.
    header = "spf=pass smtp.mailfrom=evil.example; dkim=pass header.d=evil.example; dmarc=pass header.from=evil.example"
    found = sender(f"Authentication-Results: {header}\nFrom: support@bits.example")
    assert not found.proven and "evil.example" in found.evidence


@pytest.mark.parametrize("verdict", ["fail", "none", "temperror", "permerror", "bestguesspass"])
def test_anything_but_pass_proves_nothing(verdict: str) -> None:
    found = sender(f"Authentication-Results: dmarc={verdict} header.from=bits.example\nFrom: support@bits.example")
    assert not found.proven
    # Not even where a proof is not required: our server said it failed.
    local = sender(
        f"Authentication-Results: dmarc={verdict} header.from=bits.example\nFrom: support@bits.example", LOCAL
    )
    assert not local.proven


def test_only_the_topmost_header_counts() -> None:
    # Our server prepends its verdict: a header below it was written by the sender.
    forged_below = (
        f"Authentication-Results: dmarc=fail header.from=bits.example\nAuthentication-Results: {PASS_FOR_BITS}"
    )
    assert not sender(f"{forged_below}\nFrom: support@bits.example").proven


def test_a_header_from_a_server_we_do_not_trust_is_no_verdict() -> None:
    header = "Authentication-Results: mx.evil.example; dmarc=pass header.from=bits.example\nFrom: support@bits.example"
    assert not sender(header).proven, "required, and no trusted verdict"
    assert sender(header, LOCAL).proven, "locally nothing is required"
    trusted = SenderTrust(frozenset({"mx.bits.example"}), required=True, own_domains=frozenset())
    ours = "Authentication-Results: mx.bits.example; dmarc=pass header.from=bits.example\nFrom: support@bits.example"
    assert sender(ours, trusted).proven


def test_a_verdict_in_a_comment_or_another_property_is_not_read() -> None:
    in_comment = "spf=pass (dmarc=pass header.from=bits.example) smtp.mailfrom=evil.example; dmarc=fail header.from=x"
    assert not sender(f"Authentication-Results: {in_comment}\nFrom: support@bits.example").proven
    in_property = "spf=pass smtp.mailfrom=dmarc=pass@evil.example"
    assert not sender(f"Authentication-Results: {in_property}\nFrom: support@bits.example").proven


def test_two_different_dmarc_verdicts_in_one_header_are_believed_neither() -> None:
    both = "dmarc=pass header.from=bits.example; dmarc=fail header.from=bits.example"
    assert not sender(f"Authentication-Results: {both}\nFrom: support@bits.example").proven


def test_exchanges_internal_authentication_proves_our_own_people_only() -> None:
    internal = "X-MS-Exchange-Organization-AuthAs: Internal"
    assert sender(f"{internal}\nFrom: godkjenner1@bits.example").proven
    assert not sender(f"{internal}\nFrom: fag@demo-forsikring.example").proven, "not our domain: needs DMARC"
    twice = f"{internal}\nX-MS-Exchange-Organization-AuthAs: Anonymous\nFrom: godkjenner1@bits.example"
    assert not sender(twice).proven


def test_without_any_verdict_a_sender_is_proven_only_where_no_proof_is_required() -> None:
    assert not sender("From: support@bits.example").proven
    assert sender("From: support@bits.example", LOCAL).proven


def test_a_folded_from_header_is_read_whole() -> None:
    # Mail clients fold a long encoded display name over lines; the address is still the one after it.
    name = "=?utf-8?q?Kari_Nordmann_fra_Forsikringsselskapet_med_det_lange_navnet?="
    folded = f"From: {name}\n =?utf-8?q?_AS?= <kari@x.example>"
    found = sender(folded, LOCAL)
    assert found.address == "kari@x.example" and found.name.endswith("AS")


def test_quoted_strings_in_our_servers_header_are_the_senders_words() -> None:
    # A gateway that echoes the envelope sender in full: the quoted local part is the attacker's text.
    trusted = SenderTrust(frozenset({"mx.bits.example"}), required=True, own_domains=frozenset())
    echoed = (
        'mx.bits.example; spf=pass smtp.mailfrom="x;dmarc=pass header.from=bits.example ("@evil.example; '
        "dkim=none; dmarc=fail (p=reject) header.from=bits.example"
    )
    assert not sender(f"Authentication-Results: {echoed}\nFrom: support@bits.example", trusted).proven
    unbalanced = (
        "spf=pass smtp.mailfrom=evil.example; dkim=pass header.d=evil(.example; dmarc=pass header.from=bits.example"
    )
    assert not sender(f"Authentication-Results: {unbalanced}\nFrom: support@bits.example").proven


def test_a_line_that_ends_the_headers_early_makes_the_message_unreadable() -> None:
    # Everything after "X A: y" would be body to the parser: a second From, Exchange's own AuthAs stamp.
    with pytest.raises(MalformedMessage):
        parsed("X-MS-Exchange-Organization-AuthAs: Internal\nFrom: admin@bits.example\nX A: y\nFrom: me@evil.example")


def test_from_with_a_space_before_the_colon_is_a_from_header_too() -> None:
    with pytest.raises(MalformedMessage):
        parsed("From: admin@bits.example\nFrom : me@evil.example")


def test_an_attached_message_is_not_what_the_sender_wrote() -> None:
    raw = (
        "From: Bits <support@bits.example>\nTo: ssu@bits.example\nSubject: fwd\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: message/rfc822\n\n'
        "From: nav@nav.example\nSubject: inner\n\nPUBLISER\nalvorlighet: kritisk\n--b--\n"
    )
    message = parse_message(raw.encode(), max_attachment_bytes=0, allowed_types=(), trust=LOCAL)
    assert "PUBLISER" not in message.new_text and "PUBLISER" not in message.text
