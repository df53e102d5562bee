"""The burst benchmark's results: the targets of issue 14, and ``BURST.md`` / ``results.json``.

Prices: DynamoDB on-demand in US East (N. Virginia), $0.625 per million write request units and $0.125
per million read request units (https://aws.amazon.com/dynamodb/pricing/on-demand/, the prices since the
on-demand price cut of November 2024). Other regions cost more (Europe (Frankfurt), the project's default
region, among them): pass ``--write-price``/``--read-price`` for another region's figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.readme_targets import update_readme

WRITE_PRICE_PER_MILLION = 0.625
READ_PRICE_PER_MILLION = 0.125
PRICE_REGION = "US East (N. Virginia), us-east-1"
SLOT_FREE_TARGET_SECONDS = 1.0
THROUGHPUT_TARGET = 0.95
CHECKED_IN_MD = Path(__file__).resolve().parent.parent / "BURST.md"
RESULTS_MD = CHECKED_IN_MD.with_name("RESULTS.md")


def cost_per_thousand(run: dict[str, Any], executions: int, write_price: float, read_price: float) -> float:
    meter = run["dynamodb"]
    dollars = meter["write_units"] * write_price / 1e6 + meter["read_units"] * read_price / 1e6
    return dollars / executions * 1000 if executions else math.nan


def _label_units(run: dict[str, Any], prefix: str) -> tuple[float, float]:
    counts = run["dynamodb"]["by_label"].get(prefix, {})
    return float(counts.get("write_units", 0.0)), float(counts.get("read_units", 0.0))


def prefix_rows(results: list[dict[str, Any]], write_price: float, read_price: float) -> list[dict[str, Any]]:
    """One row per run and prefix, with the run's DynamoDB figures attributed to the prefix."""
    rows = []
    for run in results:
        for prefix in run["prefixes"]:
            write_units, read_units = _label_units(run, prefix["prefix"])
            by_label = run["dynamodb"]["by_label"].get(prefix["prefix"], {})
            dollars = write_units * write_price / 1e6 + read_units * read_price / 1e6
            rows.append(
                {
                    **prefix,
                    "scenario": run["scenario"],
                    "design": run["design"],
                    "wait_mode": run["wait_mode"],
                    "write_units": write_units,
                    "read_units": read_units,
                    "requests": by_label.get("requests", 0),
                    "throttled": by_label.get("throttled", 0),
                    "conflicts": by_label.get("conflicts", 0),
                    "cost_per_1000": dollars / prefix["executions"] * 1000 if prefix["executions"] else None,
                    "wall_seconds": run["wall_seconds"],
                    "simulated_seconds": run["simulated_seconds"],
                }
            )
    return rows


def evaluate_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 14's burst targets for this project's core, per wait mode: over the whole run, and the throughput
    and hand-over targets for the one-prefix burst and for each prefix of the regional mix."""
    targets = []
    for mode in ("poll", "handoff"):
        everything = [r for r in rows if r["design"] == "lease-core" and r["wait_mode"] == mode]
        if not everything:
            continue
        over = max(r["over_admission"] for r in everything)
        failed = sum(r["failed"] + r["unfinished"] for r in everything)
        targets.append(
            {
                "mode": mode,
                "target": "zero over-admission" + (" and zero lost wakeups" if mode == "handoff" else ""),
                "met": over == 0 and (mode == "poll" or all(r["lost_wakeups"] == 0 for r in everything)),
                "measured": f"most holders over the cap: {over}"
                + (
                    f"; lost wakeups: {sum(r['lost_wakeups'] or 0 for r in everything)} (longest free slot while "
                    f"executions were queued: {max(r['longest_free_slot_while_queued'] for r in everything):.2f} s)"
                    if mode == "handoff"
                    else ""
                )
                + f"; slots still held when the run ended: {sum(r['holders_at_end'] for r in everything)}",
            }
        )
        targets.append(
            {
                "mode": mode,
                "target": "no execution fails",
                "met": failed == 0,
                "measured": "; ".join(
                    _failures(scenario, [r for r in everything if r["scenario"] == scenario])
                    for scenario in dict.fromkeys(r["scenario"] for r in everything)
                ),
            }
        )
        for r in everything:
            share = r["throughput_of_bound"]
            where = "" if r["scenario"] == "burst" else f" (mix: `{r['prefix']}`, cap {r['cap']})"
            targets.append(
                {
                    "mode": mode,
                    "target": f"throughput at least {THROUGHPUT_TARGET:.0%} of cap / mean Process time{where}",
                    "met": share is not None and share >= THROUGHPUT_TARGET,
                    "measured": f"slot use while waiting {_pct(share)}: {_num(r['admissions_per_second'], 3)} of "
                    f"{_num(r['bound_admissions_per_second'], 3)} admissions/s (raw count once Process steps ran at "
                    f"the cap: {_num(r['raw_admissions_per_second'], 3)}, {_pct(r['raw_throughput_of_bound'])})",
                }
            )
            if mode == "handoff":
                p99 = r["p99_slot_free_to_admission"]
                targets.append(
                    {
                        "mode": mode,
                        "target": f"p99 slot free to next admission at most {SLOT_FREE_TARGET_SECONDS:g} s{where}",
                        "met": p99 is not None and p99 <= SLOT_FREE_TARGET_SECONDS,
                        "measured": f"p99 {_num(p99, 3)} s (p50 {_num(r['p50_slot_free_to_admission'], 3)} s)",
                    }
                )
    return targets


def _failures(scenario: str, rows: list[dict[str, Any]]) -> str:
    failed = sum(r["failed"] for r in rows)
    errors: dict[str, int] = {}
    for r in rows:
        for name, count in r["failed_by_error"].items():
            errors[name] = errors.get(name, 0) + count
    unfinished = sum(r["unfinished"] for r in rows)
    text = f"{scenario}: {failed:,} of {sum(r['executions'] for r in rows):,} failed closed"
    if failed:
        text += f" ({_errors(errors)})"
    if unfinished:
        text += f", {unfinished:,} unfinished"
    return text


def _errors(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counts.items(), key=lambda item: -item[1]))


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _design_label(row: dict[str, Any]) -> str:
    return f"lease-core, {row['wait_mode']}" if row["design"] == "lease-core" else row["design"]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


MAIN_COLUMNS = [
    "design",
    "executions",
    "admitted",
    "failed closed",
    "admissions/s (bound)",
    "of bound",
    "p50 / p99 arrival to admission (s)",
    "idle slot-s per admission",
    "p99 slot free to admission (s)",
    "throttled requests",
    "transaction conflicts",
    "over-admission",
    "lost wakeups",
    "WCU / RCU per execution",
    "$ per 1,000 executions",
]


def _main_row(r: dict[str, Any]) -> list[str]:
    return [
        _design_label(r) + (f" `{r['prefix']}` cap {r['cap']}" if r["scenario"] != "burst" else ""),
        f"{r['executions']:,}",
        f"{r['admitted']:,}",
        f"{r['failed']:,}" + (f" (+{r['unfinished']:,} unfinished)" if r["unfinished"] else ""),
        f"{_num(r['admissions_per_second'], 3)} ({_num(r['bound_admissions_per_second'], 3)})",
        _pct(r["throughput_of_bound"]),
        f"{_num(r['p50_arrival_to_admission'])} / {_num(r['p99_arrival_to_admission'])}",
        _num(r["idle_slot_seconds_per_admission"], 2),
        _num(r["p99_slot_free_to_admission"], 2),
        f"{r['throttled']:,}",
        f"{r['conflicts']:,}",
        str(r["over_admission"]),
        "-" if r["lost_wakeups"] is None else str(r["lost_wakeups"]),
        f"{r['write_units'] / r['executions']:,.1f} / {r['read_units'] / r['executions']:,.1f}",
        f"${_num(r['cost_per_1000'], 3)}",
    ]


def render_markdown(document: dict[str, Any]) -> str:
    rows = document["rows"]
    meta = document["meta"]
    lines = [
        "# Burst benchmark (simulated time): issue 14, target 3",
        "",
        *_provenance(meta),
        "",
        "Every execution runs the rendered analytics workflow (Retry, Catch, wait ladder, handoff re-check) in "
        "simulated time, and every acquire, release and Process lease check calls the real lease core, "
        "unmodified, against moto's DynamoDB wrapped in a model that enforces per-partition throughput "
        "(1,000 WCU/s and 3,000 RCU/s per partition key), the 400 KB item size and TransactionConflict, and "
        "bills every request by DynamoDB's rules. See `benchmarks/burst/` (module docstrings) for the model "
        "and what it leaves out.",
        "",
    ]
    scale = meta["scale"]
    if not scale["full"]:
        lines += [
            f"**Not issue 14's scale** ({scale['why']}): the burst has {scale['burst_executions']:,} executions, cap "
            f"{scale['burst_cap']}, arriving within {scale['arrival_seconds']:g} s (issue 14: 10,000, cap 100, 60 s); "
            f"the mix {scale['mix_executions']:,} over caps {', '.join(map(str, scale['mix_caps']))} (issue 14: "
            "10,000 over caps 5, 15, 50, 100, 500). Figures of a small run say little about a large one: the "
            "partition limits and the queue's length bind only at scale.",
            "",
        ]
    for scenario, title in (("burst", "One prefix: a burst"), ("mix", "A regional mix sharing the table")):
        chosen = [r for r in rows if r["scenario"] == scenario]
        if not chosen:
            continue
        first = chosen[0]
        one_run = [r for r in chosen if r["design"] == first["design"] and r["wait_mode"] == first["wait_mode"]]
        plan = next(run["plan"] for run in document["runs"] if run["scenario"] == scenario)
        caps = f"cap {first['cap']}" if scenario == "burst" else "caps " + ", ".join(str(r["cap"]) for r in one_run)
        lines += [
            f"## {title}",
            "",
            f"{sum(r['executions'] for r in one_run):,} executions starting within {plan['arrival_seconds']:g} s, "
            f"Process {plan['process_seconds'][0]:g}-{plan['process_seconds'][1]:g} s, {caps}. Costs at "
            f"{PRICE_REGION} on-demand prices (${document['prices']['write']:g} per million WRU, "
            f"${document['prices']['read']:g} per million RRU).",
            "",
            *_table(MAIN_COLUMNS, [_main_row(r) for r in chosen]),
            "",
        ]
    lines += ["## Targets (this project's core)", ""]
    lines += _table(
        ["mode", "target", "met", "measured"],
        [[t["mode"], t["target"], "**met**" if t["met"] else "**missed**", t["measured"]] for t in document["targets"]],
    )
    lines += ["", "## DynamoDB requests per run", ""]
    lines += _table(
        [
            "run",
            "simulated s",
            "requests by operation",
            "throttled",
            "conflicts",
            "conditional failures",
            "WCU",
            "RCU",
            "wall s",
        ],
        [
            [
                run["label"],
                _simulated(run),
                _counts(run["dynamodb"]["requests"]),
                _counts(run["dynamodb"]["throttled"]) or "0",
                _counts(run["dynamodb"]["conflicts"]) or "0",
                _counts(run["dynamodb"]["conditional_failures"]) or "0",
                f"{run['dynamodb']['write_units']:,.0f}",
                f"{run['dynamodb']['read_units']:,.1f}",
                f"{run['wall_seconds']:,.0f}",
            ]
            for run in document["runs"]
        ],
    )
    lines += ["", "## How to read it", "", *HOW_TO_READ, ""]
    return "\n".join(lines)


def _simulated(run: dict[str, Any]) -> str:
    """How far a run got in simulated time, and whether its horizon stopped it before every execution ended."""
    horizon = run["plan"]["max_simulated_seconds"]
    unfinished = sum(prefix["unfinished"] for prefix in run["prefixes"])
    if run["simulated_seconds"] < horizon or not unfinished:
        return f"{run['simulated_seconds']:,.0f}"
    return f"{horizon:,.0f}: stopped at its horizon, {unfinished:,} executions not ended"


def _run_on(meta: dict[str, Any]) -> str:
    machine = meta["machine"]
    return (
        f"on {meta['date']} in {meta['wall_seconds'] / 60:.1f} minutes of wall time on {machine['cpus']} CPUs "
        f"({machine['system']}, Python {machine['python']}, load average {machine['load_average']} at the start)"
    )


def _provenance(meta: dict[str, Any]) -> list[str]:
    if "sources" not in meta:
        return [f"Generated by `{meta['command']}` {_run_on(meta)}. Do not edit: rerun the command."]
    return [
        f"Combined by `{meta['command']}` on {meta['date']} from {len(meta['sources'])} runs made one by one, side "
        "by side (a full-size run takes about an hour per design on 2 cores). Do not edit: rerun them and the "
        "combine.",
        "",
        *(f"- `{source['command']}`, {_run_on(source)}" for source in meta["sources"]),
    ]


def _counts(counts: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:,.0f}" for name, value in sorted(counts.items()))


HOW_TO_READ = [
    "- **admission**: the moment an execution's Process starts work (its lease check passed); arrival is its "
    "start. **failed closed**: executions that ended in `Failed` through the failure path (never working "
    "without a lease).",
    "- **bound**: cap / mean Process time of the run's executions. **of bound** is the slot use while "
    "executions wait (1 - idle slot-seconds / (cap x time anyone waited), from the moment the cap was first "
    "reached): each admission brings one Process step of the mean length, so admissions go at that share of "
    "the bound, which is **admissions/s**. The targets also give the raw count (admissions after Process steps "
    "first ran at the cap / the time from then to the last admission; `raw_admissions_per_second` in the JSON): "
    "it tends to the same figure in a long run, but a short one is dominated by its start (every slot taken at "
    "once, none free before the shortest Process ends) and its end.",
    "- **idle slot-seconds per admission**: slot-seconds without a running Process while executions wait, per "
    "admission. **slot free to admission**: from the moment a Release state starts (before its Lambda runs and "
    "its write lands) to the next admission.",
    "- **throttled requests**: requests refused by a partition's throughput (each botocore retry counts); "
    "**transaction conflicts**: TransactionConflictException on single writes plus TransactionCanceledException "
    "with TransactionConflict. **over-admission**: most holders above the cap in the table, counted after every "
    "write. **lost wakeups** (handoff): times a slot stood free for over 5 s while an execution was queued.",
    "- **WCU / RCU**: write and read request units billed by DynamoDB's rules, failed conditional writes and "
    "cancelled transactions included, throttled and conflicting requests not.",
]


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, default=str) + "\n"


def write_outputs(document: dict[str, Any], out: Path, markdown: Path) -> list[Path]:
    """results.json into ``out``, and the report where it was asked for (see ``publish``)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(_json(document))
    return [out / "results.json", *publish(document, markdown, with_json=markdown.resolve() == CHECKED_IN_MD)]


def publish(document: dict[str, Any], markdown: Path, *, with_json: bool = True) -> list[Path]:
    """The report at ``markdown``, its JSON beside it when asked, and, for the checked-in report, the burst
    targets section of RESULTS.md and the README's summary of it, so that the files can never disagree."""
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(render_markdown(document) + "\n")
    written = [markdown]
    if with_json:
        markdown.with_suffix(".json").write_text(_json(document))
        written.append(markdown.with_suffix(".json"))
    if markdown.resolve() == CHECKED_IN_MD and RESULTS_MD.exists():
        RESULTS_MD.write_text(with_results_section(RESULTS_MD.read_text(), document))
        written += [RESULTS_MD, *update_readme(RESULTS_MD)]
    return written


SECTION_START = "<!-- burst targets: written from benchmarks/BURST.json by make burst or benchmarks.burst.combine -->"
SECTION_END = "<!-- end of burst targets -->"


def results_section(document: dict[str, Any]) -> str:
    """The burst targets as benchmarks/RESULTS.md shows them, with the report they come from."""
    meta = document["meta"]
    commands = [source["command"] for source in meta.get("sources", [meta])]
    lines = [
        SECTION_START,
        "## Targets of a region's burst (simulated time)",
        "",
        f"From [BURST.md](BURST.md), generated {meta['date']} by "
        + ", ".join(f"`{command}`" for command in commands)
        + (f", combined by `{meta['command']}`" if "sources" in meta else "")
        + ". "
        + _designs_sentence(document),
        "",
        *_table(
            ["mode", "target", "met", "measured"],
            [[t["mode"], t["target"], "yes" if t["met"] else "**no**", t["measured"]] for t in document["targets"]],
        ),
        SECTION_END,
    ]
    return "\n".join(lines)


def _designs_sentence(document: dict[str, Any]) -> str:
    """Which designs the report's tables hold, read from its runs (so that it cannot claim a baseline it lacks)."""
    baselines = sorted({run["design"] for run in document["runs"]} - {"lease-core"})
    if not baselines:
        return "Its tables give this core's figures per wait mode; no baseline was run for it."
    return "Its tables give this core's figures per wait mode, and beside them " + " and ".join(baselines) + "."


def with_results_section(results_md: str, document: dict[str, Any]) -> str:
    """RESULTS.md's text with its burst section replaced by (or, if it has none, ended with) this document's."""
    section = results_section(document)
    start, end = results_md.find(SECTION_START), results_md.find(SECTION_END)
    if start < 0 or end < start:
        return results_md.rstrip("\n") + "\n\n" + section + "\n"
    return results_md[:start] + section + results_md[end + len(SECTION_END) :]


def checked_in_report() -> dict[str, Any] | None:
    """The document behind benchmarks/BURST.md, if one is checked in."""
    path = CHECKED_IN_MD.with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else None
