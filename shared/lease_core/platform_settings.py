"""Configuration of the platform app's Lambdas, read from their environment at each invocation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lease_core.errors import InvalidLeaseRequest
from lease_core.validation import validate_table_name


@dataclass(frozen=True)
class PlatformSettings:
    table_name: str

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> PlatformSettings:
        if not environment.get("LEASE_TABLE_NAME", "").strip():
            raise InvalidLeaseRequest(
                "platform configuration is missing LEASE_TABLE_NAME: set it in the stage's "
                "environment_variables in lease_app/.chalice/config.json"
            )
        return cls(table_name=validate_table_name(environment["LEASE_TABLE_NAME"]))
