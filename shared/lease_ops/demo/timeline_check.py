"""The demo checks the timeline it draws: a plot that shows Process steps running without leases fails it.

What the plot draws per prefix (``timeline_plot``):

- Process steps running, observed at every start and end (``ProcessObserver``), as a step function
  where a change at ``t`` counts from ``t`` on (``where="post"``): known at every instant.
- holders in the table, each read as a bar over ``[sent, answered]``: the read took effect at one
  instant of that interval, which one is unknown (``HolderSample``). Nothing is drawn between reads,
  where the table's count is not known.

The truth the plot must agree with: a Process step is counted from after its handler found its lease
held until before its Release runs, so at every instant it runs, a lease is held: running <= holders.
A read of ``h`` holders therefore shows that at its instant, somewhere in ``[sent, answered]``, at most
``h`` steps ran. The check fails a read over which the drawn count of running steps stays above ``h``
all along, and nothing else. That is exactly as strict as the truth allows: comparing with the count
at ``answered`` would fail honest runs (a lease acquired and its step started after the read took
effect, before its answer came back), at ``sent`` too (a step ended and released before the read).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from lease_ops.demo.monitor import HolderSample
from lease_ops.sandbox.process_steps import ProcessSample


@dataclass(frozen=True)
class RunningSteps:
    """One prefix's Process steps running, as the plot draws them: the last count stamped at or before ``t``."""

    times: list[float]
    counts: list[int]

    @classmethod
    def of(cls, samples: Iterable[ProcessSample]) -> RunningSteps:
        steps: dict[float, int] = {}
        for sample in sorted(samples, key=lambda s: s.time):  # stable: of two changes at one instant, the later counts
            steps[sample.time] = sample.running
        return cls(list(steps), list(steps.values()))

    def at(self, t: float) -> int:
        index = bisect.bisect_right(self.times, t)
        return self.counts[index - 1] if index else 0

    def fewest(self, start: float, end: float) -> int:
        """The lowest count drawn at any instant from ``start`` to ``end``, both included."""
        first, last = bisect.bisect_right(self.times, start), bisect.bisect_right(self.times, end)
        return min([self.at(start), *self.counts[first:last]])


@dataclass(frozen=True)
class UnleasedSteps:
    """A read of the table over which the plot shows more Process steps running than the holders read."""

    read: HolderSample
    running: int  # the fewest steps drawn running at any instant of the read

    def message(self, time_scale: float) -> str:
        """One line, with the instant in the plot's seconds (workflow seconds / time scale)."""
        sent, answered = self.read.sent / time_scale, self.read.answered / time_scale
        when = f"at {sent:.3f} s" if f"{sent:.3f}" == f"{answered:.3f}" else f"from {sent:.3f} to {answered:.3f} s"
        return (
            f"{self.read.prefix}: {when} the timeline draws at least {self.running} Process steps running while "
            f"its read of the table answered {self.read.holders} holders: work drawn without a lease"
        )


def unleased_steps(
    holder_samples: Iterable[HolderSample], process_samples: Iterable[ProcessSample]
) -> list[UnleasedSteps]:
    """Every read of the table that the drawn Process steps contradict, in order of time."""
    process_samples = list(process_samples)
    running = {
        prefix: RunningSteps.of(s for s in process_samples if s.prefix == prefix)
        for prefix in {s.prefix for s in process_samples}
    }
    found = []
    for read in sorted(holder_samples, key=lambda s: (s.sent, s.prefix)):
        fewest = running.get(read.prefix, RunningSteps([], [])).fewest(read.sent, read.answered)
        if fewest > read.holders:
            found.append(UnleasedSteps(read, fewest))
    return found


def timeline_problems(
    holder_samples: Iterable[HolderSample], process_samples: Iterable[ProcessSample], time_scale: float
) -> list[str]:
    """What the demo reports of its timeline: the first contradicted read of each prefix, and how many more."""
    problems = []
    by_prefix: dict[str, list[UnleasedSteps]] = {}
    for finding in unleased_steps(holder_samples, process_samples):
        by_prefix.setdefault(finding.read.prefix, []).append(finding)
    for findings in by_prefix.values():
        more = f" (and {len(findings) - 1} more reads like it)" if len(findings) > 1 else ""
        problems.append(findings[0].message(time_scale) + more)
    return problems
