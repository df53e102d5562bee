"""The flat-cost targets: what a lease cycle, a refused admission and each queue operation may cost,
judged from the figures of the same run (never from numbers written here)."""

from __future__ import annotations

from typing import Any

OURS = "lease-core"
SMALL_CAP = 50  # caps up to here: one write per admission and per release, each within 1 KB
SMALL_CAP_UNITS = 2
LARGE_CAP = 1_000
LARGE_CAP_UNITS = 10
REFUSAL_UNITS = 2
QUEUE_READ_UNITS = 4
QUEUE_WRITE_UNITS = 12
QUEUE_SPREAD = 0.5  # the long queue's figures within +-50% of the short queue's


def flat_cost_targets(document: dict[str, Any]) -> list[dict[str, Any]]:
    sweep = {row["cap"]: row for row in document["cap_sweep"] if row["design"] == OURS}
    small = {cap: row["write_units_per_cycle"] for cap, row in sorted(sweep.items()) if cap <= SMALL_CAP}
    targets = [
        {
            "target": f"acquire + release at most {SMALL_CAP_UNITS} WCU per cycle for caps up to {SMALL_CAP}",
            "met": bool(small) and max(small.values()) <= SMALL_CAP_UNITS,
            "measured": ", ".join(f"cap {cap}: {units:g}" for cap, units in small.items()),
        }
    ]
    if LARGE_CAP in sweep:
        units = sweep[LARGE_CAP]["write_units_per_cycle"]
        targets.append(
            {
                "target": f"acquire + release at most {LARGE_CAP_UNITS} WCU per cycle at cap {LARGE_CAP:,}",
                "met": units <= LARGE_CAP_UNITS,
                "measured": f"{units:g} WCU per cycle with {LARGE_CAP - 1} other holders",
            }
        )
    refusals = {cap: row for cap, row in sorted(sweep.items()) if row.get("refused_write_units") is not None}
    if refusals:
        targets.append(
            {
                "target": f"a refused admission at most {REFUSAL_UNITS} WCU at any cap",
                "met": max(row["refused_write_units"] for row in refusals.values()) <= REFUSAL_UNITS,
                "measured": ", ".join(
                    f"cap {cap}: {row['refused_write_units']:g} WCU + {row.get('refused_read_units') or 0:g} RCU"
                    for cap, row in refusals.items()
                ),
            }
        )
    return targets + queue_targets(document.get("queue_costs", []))


def queue_targets(costs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Judged at every cap measured (one per item layout): the long queue's figures bounded, the short one's close."""
    if not costs:
        return []
    caps = sorted({c.get("cap", 0) for c in costs})
    shortest, longest = min(c["queued"] for c in costs), max(c["queued"] for c in costs)
    by = {(c.get("cap", 0), c["queued"], c["operation"]): c for c in costs}
    operations = list(dict.fromkeys(c["operation"] for c in costs))
    bounded = all(
        by[(cap, longest, op)]["read_units"] <= QUEUE_READ_UNITS
        and by[(cap, longest, op)]["write_units"] <= QUEUE_WRITE_UNITS
        for cap in caps
        for op in operations
    )

    def close(cap: int, op: str, units: str) -> bool:
        short, long = by[(cap, shortest, op)][units], by[(cap, longest, op)][units]
        return abs(long - short) <= QUEUE_SPREAD * max(short, 1)

    steady = all(close(cap, op, "read_units") and close(cap, op, "write_units") for cap in caps for op in operations)

    def figures(queued: int) -> str:
        return " | ".join(
            f"cap {cap}: "
            + "; ".join(
                f"{op} {by[(cap, queued, op)]['read_units']} RCU + {by[(cap, queued, op)]['write_units']} WCU"
                for op in operations
            )
            for cap in caps
        )

    return [
        {
            "target": f"handoff: a queueing, a re-check and a hand-over each at most {QUEUE_READ_UNITS} RCU and "
            f"{QUEUE_WRITE_UNITS} WCU with {longest:,} queued",
            "met": bounded,
            "measured": f"{longest:,} queued: {figures(longest)}",
        },
        {
            "target": f"handoff: the same within ±{QUEUE_SPREAD:.0%} with {shortest} queued",
            "met": steady,
            "measured": f"{shortest} queued: {figures(shortest)}",
        },
    ]
