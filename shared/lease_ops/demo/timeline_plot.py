"""The demo's timeline (PNG): per prefix, the holders read from the table and the Process steps running.

It draws only what was observed, so that a reader never sees a moment that did not happen:

- Process steps are seen at every start and end, so they are a step line, drawn from the very series
  ``timeline_check`` holds the demo to (``RunningSteps``).
- A read of the table is drawn as a bar from its request to its answer (``HolderSample``): its count was
  true at one instant in there. It is not carried on to the next read: drawn held until then, a count
  read before a burst of acquisitions showed steps running above the holders while the table had them.

Counts get whole-number ticks; time is the plot's seconds, workflow seconds over the time scale.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lease_ops.demo.monitor import HolderSample
from lease_ops.demo.timeline_check import RunningSteps
from lease_ops.sandbox.process_steps import ProcessSample

STEPS_LABEL = "Process steps running"
READS_LABEL = "holders in the table, one read (bar: request to answer)"


def timeline_figure(
    caps: dict[str, int], holder_samples: list[HolderSample], process_samples: list[ProcessSample], time_scale: float
) -> Figure:
    """One panel per prefix: holders read and Process steps running, against the cap."""
    prefixes = sorted(caps)
    figure, axes = plt.subplots(len(prefixes), 1, figsize=(10, 3.4 * len(prefixes)), sharex=True, squeeze=False)
    for axis, prefix in zip(axes[:, 0], prefixes, strict=True):
        reads = [s for s in holder_samples if s.prefix == prefix]
        steps = RunningSteps.of(s for s in process_samples if s.prefix == prefix)
        axis.errorbar(
            [s.sent / time_scale for s in reads],
            [s.holders for s in reads],
            xerr=[[0.0] * len(reads), [(s.answered - s.sent) / time_scale for s in reads]],
            fmt="none",
            ecolor="tab:blue",
            elinewidth=2.5,
            capsize=2.5,
            alpha=0.7,
            label=READS_LABEL,
        )
        axis.step(
            [0.0, *(t / time_scale for t in steps.times)],
            [0, *steps.counts],
            where="post",
            color="tab:orange",
            linewidth=1.2,
            label=STEPS_LABEL,
        )
        axis.axhline(caps[prefix], color="red", linestyle="--", label=f"cap {caps[prefix]}")
        axis.set_ylim(0, caps[prefix] * 1.3 + 1)
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(prefix, loc="left")
        axis.set_ylabel("leases held / steps running")
        axis.legend(loc="upper right", fontsize="small")
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("seconds since the demo started (wall clock)")
    figure.suptitle("Leases held per prefix against its cap")
    figure.tight_layout()
    return figure


def plot_timeline(
    path: Path,
    caps: dict[str, int],
    holder_samples: list[HolderSample],
    process_samples: list[ProcessSample],
    time_scale: float,
) -> None:
    """Write ``timeline_figure`` as a PNG."""
    figure = timeline_figure(caps, holder_samples, process_samples, time_scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
