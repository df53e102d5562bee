"""Sample inputs for each workload's state machine (used by `make run` and the demo)."""

from __future__ import annotations

import random
from typing import Any

from lease_ops.config.platform_config import WorkloadConfig

REGIONS = ["eu", "us", "apac", "latam"]
WORDS = ["lease", "slot", "holder", "cap", "wait", "renew", "release", "table", "prefix", "workflow", "step", "chunk"]


def sample_input(workload: WorkloadConfig, rng: random.Random) -> dict[str, Any]:
    """An input the workload's Process accepts: records to aggregate, or items to transform in chunks."""
    if workload.chunked:
        count = rng.randint(2, 4) * (workload.chunk_size or 1)
        return {
            "items": [
                {"id": f"item-{n}", "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))}
                for n in range(count)
            ]
        }
    return {
        "records": [
            {"key": rng.choice(REGIONS), "value": round(rng.uniform(0, 1000), 2)} for _ in range(rng.randint(20, 60))
        ]
    }
