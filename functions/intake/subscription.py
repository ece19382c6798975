"""Graph change notifications for the shared inbox: the endpoint's checks, and keeping the subscription alive.

Notifications only say "look now"; the delta poll does the work and is the backstop, because notifications are
known to be lost or duplicated. The endpoint is protected by the function key (in the URL Graph calls) and by the
clientState secret that Graph echoes in every notification, compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..core.services import Services
from ..core.tables import TableStateStore

log = logging.getLogger(__name__)

SUBSCRIPTION_STATE = "mailbox-subscription"
NOTIFIED_STATE = "mailbox-notified"
LIFETIME = timedelta(minutes=10_000)  # Graph allows at most 10 080 minutes for Outlook messages
RENEW_BEFORE = timedelta(hours=24)


@dataclass(frozen=True)
class NotificationResult:
    status: int
    accepted: int = 0
    refused: int = 0


async def receive_notifications(services: Services, body: bytes) -> NotificationResult:
    """Check each notification's clientState; record that the mailbox should be read and any lifecycle event."""
    try:
        payload = json.loads(body)
        notifications = payload.get("value") if isinstance(payload, dict) else None
    except ValueError:
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
    states = TableStateStore(services.storage)
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


def notification_url(services: Services) -> str:
    return services.settings.graph_notification_url or services.link("mailbox/notifications")


async def keep_subscription(services: Services) -> str:
    """Create the subscription when there is none (or Graph removed it), renew it before it expires."""
    if services.settings.mailbox != "graph":
        return "not used (SSU_MAILBOX=local)"
    from msgraph.generated.models.subscription import Subscription

    from ..core.graph import GraphClient

    graph = getattr(services.mailbox, "graph", None)
    assert isinstance(graph, GraphClient)
    client = await graph.client()
    states = TableStateStore(services.storage)
    state = await states.get(SUBSCRIPTION_STATE) or {}
    now = services.clock.now()
    expires = now + LIFETIME
    known_expiry = datetime.fromisoformat(state["expires_at"]) if state.get("expires_at") else None
    if state.get("id") and not state.get("removed") and known_expiry and known_expiry > now:
        if known_expiry - now > RENEW_BEFORE and not state.get("reauthorize"):
            return "current"
        renewed = await client.subscriptions.by_subscription_id(state["id"]).patch(
            Subscription(expiration_date_time=expires)
        )
        await states.put(SUBSCRIPTION_STATE, _state_of(renewed, state["id"], expires))
        return "renewed"
    secret = services.settings.graph_notification_client_state
    assert secret is not None
    created = await client.subscriptions.post(
        Subscription(
            change_type="created",
            notification_url=notification_url(services),
            lifecycle_notification_url=notification_url(services),
            resource=f"users/{services.settings.shared_mailbox}/mailFolders('inbox')/messages",
            expiration_date_time=expires,
            client_state=secret.get_secret_value(),
        )
    )
    await states.put(SUBSCRIPTION_STATE, _state_of(created, None, expires))
    return "created"


def _state_of(subscription: Any, known_id: str | None, asked: datetime) -> dict[str, Any]:
    expiry = getattr(subscription, "expiration_date_time", None) or asked
    return {"id": getattr(subscription, "id", None) or known_id, "expires_at": expiry.isoformat()}
