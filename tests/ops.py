"""Run `python -m lease_ops` in-process against a test project, capturing what the operator would see."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lease_ops.cli import main


@dataclass
class Outcome:
    exit_code: int
    out: str
    err: str


def run_ops(capsys: pytest.CaptureFixture[str], platform_file: Path, *arguments: str) -> Outcome:
    capsys.readouterr()
    exit_code = main([*arguments, "--platform-file", str(platform_file)])
    captured = capsys.readouterr()
    return Outcome(exit_code, captured.out, captured.err)
