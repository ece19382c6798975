"""Graph change notifications for the shared inbox: the endpoint's checks (the subscription itself is kept by
`adapters/graph_subscription.py`).

Notifications only say "look now"; the delta poll does the work and is the backstop, because notifications are
known to be lost or duplicated. The endpoint is protected by the function key (in the URL Graph calls) and by the
clientState secret that Graph echoes in every notification, compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from ..core.inbound import NOTIFIED_STATE, SUBSCRIPTION_STATE
from ..core.services import Services
from ..web.http import BadBody, parse_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotificationResult:
    status: int
    accepted: int = 0
    refused: int = 0


async def receive_notifications(services: Services, body: bytes) -> NotificationResult:
    """Check each notification's clientState; record that the mailbox should be read and any lifecycle event."""
    try:
        payload = parse_json(body)  # as every JSON body: no depth, number or text that could make this a 500
        notifications = payload.get("value") if isinstance(payload, dict) else None
    except BadBody:
        notifications = None
    if not isinstance(notifications, list) or not notifications:
        return NotificationResult(400)
    secret = services.settings.graph_notification_client_state
    expected = secret.get_secret_value().encode() if secret else None
    accepted: list[dict[str, Any]] = []
    for notification in notifications[:100]:
        state = str(notification.get("clientState", "")) if isinstance(notification, dict) else ""
        if expected is not None and hmac.compare_digest(state.encode(), expected):
            accepted.append(notification)
    refused = len(notifications) - len(accepted)
    if refused:
        log.warning("mailbox notifications: %d refused (wrong clientState)", refused)
    if not accepted:
        return NotificationResult(403, 0, refused)
    states = services.state
    now = services.clock.now().isoformat()
    lifecycle = {str(n.get("lifecycleEvent")) for n in accepted if n.get("lifecycleEvent")}
    if lifecycle:
        current = await states.get(SUBSCRIPTION_STATE) or {}
        if "subscriptionRemoved" in lifecycle:
            current["removed"] = True
        if "reauthorizationRequired" in lifecycle:
            current["reauthorize"] = True
        if "missed" in lifecycle:
            current["missed_at"] = now  # the next delta poll catches up on what was missed
        await states.put(SUBSCRIPTION_STATE, current)
        log.info("mailbox notifications: lifecycle %s", sorted(lifecycle))
    if len(accepted) > len(lifecycle):
        await states.put(NOTIFIED_STATE, {"at": now, "count": len(accepted)})
    return NotificationResult(202, len(accepted), refused)
