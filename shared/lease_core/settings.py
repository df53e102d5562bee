"""Lease configuration of a workload Lambda, read from its environment at each invocation.

Chalice puts a stage's ``environment_variables`` into the Lambda environment.
They are parsed per invocation (never at import) so that a configuration error
is reported as ``InvalidLeaseRequest`` by the invocation that hit it, and so
that one process can serve several apps: the local runner gives each
invocation its app's environment through ``invocation_environment``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from lease_core.errors import InvalidLeaseRequest
from lease_core.validation import (
    MAX_CAP,
    MAX_TTL_SECONDS,
    parse_whole_number,
    validate_prefix,
    validate_table_name,
)

_ENVIRONMENT_OVERRIDE: ContextVar[Mapping[str, str] | None] = ContextVar("lease_environment", default=None)


@contextmanager
def invocation_environment(environment: Mapping[str, str]) -> Iterator[None]:
    """Run the enclosed handler calls with ``environment`` instead of ``os.environ`` (this thread only)."""
    token = _ENVIRONMENT_OVERRIDE.set(environment)
    try:
        yield
    finally:
        _ENVIRONMENT_OVERRIDE.reset(token)


def current_environment() -> Mapping[str, str]:
    """The environment of the running invocation."""
    override = _ENVIRONMENT_OVERRIDE.get()
    return override if override is not None else os.environ


WAIT_MODES = ("poll", "handoff")


@dataclass(frozen=True)
class LeaseSettings:
    table_name: str
    prefix: str
    max_concurrency: int
    ttl_seconds: int
    wait_mode: str = "poll"  # LEASE_WAIT_MODE: poll (Wait and ask again) or handoff (queue, be handed a slot)

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> LeaseSettings:
        """Parse and check the ``LEASE_*`` variables; every problem names the variable."""
        missing = [
            name
            for name in ("LEASE_TABLE_NAME", "LEASE_PREFIX", "LEASE_MAX_CONCURRENCY", "LEASE_TTL_SECONDS")
            if not environment.get(name, "").strip()
        ]
        if missing:
            raise InvalidLeaseRequest(
                f"lease configuration is missing {', '.join(missing)}: set them in the stage's "
                "environment_variables in .chalice/config.json"
            )
        try:
            table_name = validate_table_name(environment["LEASE_TABLE_NAME"])
            prefix = validate_prefix(environment["LEASE_PREFIX"])
        except InvalidLeaseRequest as exc:
            raise InvalidLeaseRequest(f"bad lease configuration: {exc}") from None
        wait_mode = environment.get("LEASE_WAIT_MODE", "poll").strip() or "poll"
        if wait_mode not in WAIT_MODES:
            raise InvalidLeaseRequest(f"LEASE_WAIT_MODE must be poll or handoff, got {wait_mode[:40]!r}")
        return cls(
            table_name=table_name,
            prefix=prefix,
            max_concurrency=parse_whole_number(
                environment["LEASE_MAX_CONCURRENCY"], "LEASE_MAX_CONCURRENCY", 1, MAX_CAP
            ),
            ttl_seconds=parse_whole_number(environment["LEASE_TTL_SECONDS"], "LEASE_TTL_SECONDS", 1, MAX_TTL_SECONDS),
            wait_mode=wait_mode,
        )

    @classmethod
    def current(cls) -> LeaseSettings:
        return cls.from_environment(current_environment())
