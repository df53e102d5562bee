"""`python -m lease_ops check` as a team's CI runs it: a subprocess, any folder, exit codes and one line each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPOSITORY_ROOT


def lease_ops(
    *arguments: str, cwd: Path = REPOSITORY_ROOT, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lease_ops", *arguments],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every workload's definition in both wait modes, as `python -m lease_ops render` writes them."""
    out = tmp_path_factory.mktemp("definitions")
    for mode in ("poll", "handoff"):
        done = lease_ops(
            "render", "--account-id", "000000000000", "--quiet", "--wait-mode", mode, "--out", str(out / mode)
        )
        assert done.returncode == 0, done.stderr
    paths = sorted(out.glob("*/*.asl.json"))
    assert len(paths) == 4
    return paths


def test_check_passes_every_rendered_definition_with_one_ok_line(rendered: list[Path]) -> None:
    for path in rendered:
        done = lease_ops("check", str(path), "--guarded", "Process")

        assert (done.returncode, done.stderr) == (0, ""), done.stdout
        assert done.stdout.startswith(f"{path}: OK: lease flow of ")
        assert done.stdout.count("\n") == 1
        assert "guarded: Process; acquire: Acquire;" in done.stdout


def test_check_reports_each_finding_in_one_line_naming_the_path_and_exits_1(
    rendered: list[Path], tmp_path: Path
) -> None:
    analytics = next(path for path in rendered if path.parent.name == "poll" and "analytics" in path.name)
    definition = json.loads(analytics.read_text())
    definition["States"]["Acquire"]["Catch"][-1]["Next"] = "Process"  # an acquire error starts the work
    del definition["States"]["Release"]["Retry"]
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps(definition))

    done = lease_ops("check", str(broken), "--guarded", "Process")

    assert done.returncode == 1
    assert done.stderr == ""
    assert done.stdout.splitlines() == [
        f"{broken}: 'Acquire'.Catch[0] leads into guarded state 'Process': an error must never start the work",
        f"{broken}: lease task 'Release' (release) does not retry LeaseStoreUnavailable (no Retry matches it): a "
        "short store outage would fail the execution",
        f"{broken}: guarded state 'Process' is reachable without an acquired lease (perhaps lost or never granted: "
        "an error or an unread answer on the way): Acquire -Catch[0]-> Process",
    ]


def test_check_needs_no_platform_file_and_reads_stdin(rendered: list[Path], tmp_path: Path) -> None:
    done = lease_ops("check", "-", "--guarded", "Process", cwd=tmp_path, stdin=rendered[0].read_text())

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<stdin>: OK: ")


@pytest.mark.parametrize(
    ("content", "arguments", "error"),
    [
        (None, ["missing.json", "--guarded", "Process"], "error: cannot read missing.json: No such file or directory"),
        ("{", ["bad.json", "--guarded", "Process"], "error: bad.json is not JSON: Expecting property name"),
        ('{"StartAt": "A"}', ["bad.json", "--guarded", "Process"], "error: bad.json: the definition has no States"),
        (
            '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}',
            ["bad.json", "--guarded", "Process"],
            "error: bad.json: --guarded names no state of the definition: Process",
        ),
        ("{}", ["bad.json"], "error: the following arguments are required: --guarded"),
        ("{}", ["bad.json", "--guarded", ""], "error: argument --guarded: a state name is 1 to 80 printable"),
    ],
)
def test_a_file_check_cannot_read_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, content: str | None, arguments: list[str], error: str
) -> None:
    if content is not None:
        (tmp_path / "bad.json").write_text(content)

    done = lease_ops("check", *arguments, cwd=tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(error), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_check_help_says_what_it_checks_and_its_exit_codes() -> None:
    done = lease_ops("check", "--help")

    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for words in (
        "--guarded STATE[,STATE...]",
        "--acquire-function GLOB",
        "Exit 0 and one OK line, 1 and one line per",
    ):
        assert words in text
