"""The context server's client: ``ContextClient`` (HTTP: read, write, history, runs) and live
subscriptions over its WebSocket (``Subscription`` for a context's changes, ``RunSubscription`` for
runs' events)."""

from framework0.client.http import ContextClient
from framework0.client.subscribe import RunSubscription, Subscription

__all__ = ["ContextClient", "RunSubscription", "Subscription"]
