"""Which AWS partition a region belongs to, from botocore's own endpoint data (no network)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

import botocore.session

from lease_ops.errors import UnknownRegion


@dataclass(frozen=True)
class Partition:
    name: str  # aws, aws-cn, aws-us-gov, ...
    dns_suffix: str  # amazonaws.com, amazonaws.com.cn, ...

    def service_principal(self, service: str) -> str:
        """E.g. ``states.amazonaws.com``: the principal a service assumes roles as."""
        return f"{service}.{self.dns_suffix}"


@cache
def _regions() -> dict[str, Partition]:
    endpoints = botocore.session.get_session().get_data("endpoints")
    regions: dict[str, Partition] = {}
    for partition in endpoints["partitions"]:
        info = Partition(partition["partition"], partition["dnsSuffix"])
        for region in partition.get("regions", {}):
            regions[region] = info
    return regions


def partition_of(region: str) -> Partition:
    """The partition of ``region``; ``UnknownRegion`` with the nearest spellings if there is none."""
    regions = _regions()
    if region in regions:
        return regions[region]
    if not region or len(region) > 64:
        raise UnknownRegion(f"unknown AWS region {region[:64]!r}{'...' if len(region) > 64 else ''}")
    close = difflib.get_close_matches(region, list(regions), n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UnknownRegion(f"unknown AWS region {region!r}{hint}")
