"""What became of one inbound message."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """`settle_as_processed` decides the folder the message is moved to."""

    # new_case | appended | decided | unclear | refused | already_decided | duplicate | ignored | bounce | held |
    # quarantined
    status: str
    reason: str = ""
    reference: str | None = None
    message_key: str | None = None  # set when the message belongs to a case: to be indexed for threading

    @property
    def settle_as_processed(self) -> bool:
        return self.status not in ("held", "quarantined")
