"""Plans of infrastructure changes: what is already as wanted, what will change, then applying it.

Every provisioning command builds a plan first, so ``--dry-run`` prints exactly
what a real run would do, and a rerun of a finished run plans nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape


@dataclass(frozen=True)
class Step:
    description: str
    apply: Callable[[], None] | None = None  # None: already as wanted

    @property
    def changes_something(self) -> bool:
        return self.apply is not None


@dataclass
class Plan:
    title: str
    steps: list[Step] = field(default_factory=list)

    def unchanged(self, description: str) -> None:
        self.steps.append(Step(description))

    def change(self, description: str, apply: Callable[[], None]) -> None:
        self.steps.append(Step(description, apply))

    @property
    def changes(self) -> list[Step]:
        return [step for step in self.steps if step.changes_something]

    def execute(self, console: Console, *, dry_run: bool) -> None:
        """Print the plan (dry run) or apply it step by step, printing what was done."""
        console.print(f"[bold]{escape(self.title)}[/bold]")
        for step in self.steps:
            if step.apply is None:
                console.print(f"  [green]ok[/green]       {escape(step.description)}")
            elif dry_run:
                console.print(f"  [yellow]would[/yellow]    {escape(step.description)}")
            else:
                step.apply()
                console.print(f"  [cyan]done[/cyan]     {escape(step.description)}")
        if not self.changes:
            console.print("  nothing to change")
