"""Retry and Catch: which rule an error matches, and how long a retrier waits before each attempt."""

from __future__ import annotations

import random
from typing import Any

from lease_ops.local_runner.errors import ALL, HEARTBEAT_TIMEOUT, RUNTIME, TASK_FAILED, TIMEOUT

DEFAULT_INTERVAL_SECONDS = 1
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0


def error_matches(error_equals: list[str], error: str) -> bool:
    """ASL matching: exact names, ``States.ALL`` for any error, ``States.TaskFailed`` for any task error
    except a timeout. ``States.Runtime`` is never matched: such an execution fails."""
    if error == RUNTIME:
        return False
    if error in error_equals or ALL in error_equals:
        return True
    return TASK_FAILED in error_equals and error not in (TIMEOUT, HEARTBEAT_TIMEOUT)


def retry_delay(retrier: dict[str, Any], retries_so_far: int, rng: random.Random) -> float:
    """Seconds before retry number ``retries_so_far + 1``: interval * rate**n, capped, optionally jittered."""
    delay = retrier.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS) * (
        retrier.get("BackoffRate", DEFAULT_BACKOFF_RATE) ** retries_so_far
    )
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, retrier["MaxDelaySeconds"])
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        delay = rng.uniform(0, delay)
    return float(delay)


def max_attempts(retrier: dict[str, Any]) -> int:
    return int(retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS))
