"""Add a workload to platform.toml as text, keeping every comment and the layout of what is there.

The pinned requirements have no TOML writer (tomllib only reads), and rewriting the file from parsed data
would drop its comments, which document every setting. So the new ``[workloads.<name>]`` table is
appended as text, and the result is parsed again: it must read as exactly the old configuration plus the
new table, or nothing is written (a file whose workloads are an inline table, say, cannot take one more
table by appending).
"""

from __future__ import annotations

import tomllib
from typing import Any

from lease_ops.scaffold.request import NewWorkload, WorkloadRefused
from lease_ops.scaffold.templates import HANDOFF_LINE, PLATFORM_TOML_BLOCK, render


def workload_table(request: NewWorkload) -> str:
    """The new ``[workloads.<name>]`` table, as text with its comments."""
    block = render(PLATFORM_TOML_BLOCK, name=request.name, app=request.app)
    return block + (HANDOFF_LINE if request.wait_mode == "handoff" else "")


def with_workload(text: str, request: NewWorkload) -> str:
    """``text`` (platform.toml) with the workload's table appended; ``WorkloadRefused`` if it would not read
    back as the same configuration plus that workload."""
    appended = (text if text.endswith("\n") or not text else text + "\n") + workload_table(request)
    try:
        before, after = tomllib.loads(text), tomllib.loads(appended)
    except tomllib.TOMLDecodeError as exc:
        raise WorkloadRefused(f"platform.toml cannot take [workloads.{request.name}] at its end: {exc}") from None
    expected: dict[str, Any] = {**before, "workloads": {**before.get("workloads", {}), request.name: _table(request)}}
    if after != expected:
        raise WorkloadRefused(
            f"platform.toml would not read back as before plus [workloads.{request.name}]; add it by hand"
        )
    return appended


def _table(request: NewWorkload) -> dict[str, Any]:
    table: dict[str, Any] = {
        "app": request.app,
        "prefix": request.name,
        "wait_seconds": 5,
        "process_payload": {"input.$": "$$.Execution.Input"},
    }
    if request.wait_mode == "handoff":
        table["wait_mode"] = "handoff"
    return table
