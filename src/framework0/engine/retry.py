"""When to try a failed step again, and how long to wait first: pure functions of the attempt."""

from __future__ import annotations

from collections.abc import Sequence

from framework0.recipe.model import RetryPolicy

# Errors that say the step cannot succeed as written; retrying them only wastes time.
NEVER_RETRIED = frozenset({"TemplateError", "TemplateSecurityError", "ValidationError", "OutputError"})


def should_retry(policy: RetryPolicy, attempt: int, error_types: Sequence[str]) -> bool:
    """Whether attempt ``attempt`` (1-based), which failed with ``error_types`` (the error's class
    and its bases, most specific first), is followed by another."""
    if attempt >= policy.attempts or not error_types or error_types[0] in NEVER_RETRIED:
        return False
    if not policy.retry_on:
        return True
    return any(name in policy.retry_on for name in error_types)


def retry_delay(policy: RetryPolicy, attempt: int, random_fraction: float) -> float:
    """Seconds to wait after failed attempt ``attempt``: exponential backoff, capped, with jitter.

    ``random_fraction`` is in [0, 1); the delay is shortened by up to ``jitter`` of itself.
    """
    delay = policy.delay * policy.backoff ** (attempt - 1)
    if policy.max_delay is not None:
        delay = min(delay, policy.max_delay)
    return max(0.0, delay * (1.0 - policy.jitter * random_fraction))
