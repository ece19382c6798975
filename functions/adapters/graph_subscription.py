"""Keeping the Graph change-notification subscription on the shared inbox alive: created when there is none (or
Graph removed it), renewed before it expires. Its state is a record in the state store."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..core.inbound import SUBSCRIPTION_STATE
from ..core.services import Services
from .graph import GraphClient

LIFETIME = timedelta(minutes=10_000)  # Graph allows at most 10 080 minutes for Outlook messages
RENEW_BEFORE = timedelta(hours=24)


def notification_url(services: Services) -> str:
    return services.settings.graph_notification_url or services.link("mailbox/notifications")


async def keep_subscription(services: Services) -> str:
    """Create the subscription when there is none (or Graph removed it), renew it before it expires."""
    if services.settings.mailbox != "graph":
        return "not used (SSU_MAILBOX=local)"
    from msgraph.generated.models.subscription import Subscription

    graph = getattr(services.mailbox, "graph", None)
    assert isinstance(graph, GraphClient)
    client = await graph.client()
    states = services.state
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
