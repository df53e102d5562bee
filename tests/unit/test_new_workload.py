"""`new-workload` (`make workload`): what it writes, and that it refuses, writing nothing, what it cannot create."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from lease_ops.cli import main
from lease_ops.config.app_config import sync_all_apps
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.config.platform_config import load_platform_config
from lease_ops.config.workload_settings import configured_settings
from lease_ops.scaffold import file_changes
from tests.helpers import copy_of_project
from tests.ops import Outcome, run_ops

RUFF = Path(sys.executable).with_name("ruff")
# Names no workload of platform.toml has: these tests run on a copy of it, whatever workloads it has gained.


@pytest.fixture
def platform_file(tmp_path: Path) -> Path:
    """A copy of platform.toml, the apps it names and the ruff settings: the checkout itself is never changed."""
    copied = copy_of_project(tmp_path / "project")
    shutil.copy(REPOSITORY_ROOT / "pyproject.toml", copied.parent / "pyproject.toml")
    return copied


def snapshot(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def folders(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_dir()}


def scaffold(capsys: pytest.CaptureFixture[str], platform_file: Path, *arguments: str) -> Outcome:
    return run_ops(capsys, platform_file, "new-workload", *arguments)


def test_a_new_workload_gets_an_app_a_test_and_its_platform_toml_table_that_deploy_would_not_change(
    capsys: pytest.CaptureFixture[str], platform_file: Path
) -> None:
    root = platform_file.parent
    before = platform_file.read_text()

    outcome = scaffold(capsys, platform_file, "--name", "scaffolded", "--cap", "3")

    assert outcome.exit_code == 0, outcome.err
    assert {path for path in snapshot(root) if path.startswith(("scaffolded_app/", "tests/"))} == {
        "scaffolded_app/app.py",
        "scaffolded_app/requirements.txt",
        "scaffolded_app/chalicelib/__init__.py",
        "scaffolded_app/chalicelib/processing.py",
        "scaffolded_app/.chalice/config.json",
        "scaffolded_app/.chalice/policy-dev.json",
        "scaffolded_app/.chalice/policy-dev-process.json",
        "tests/unit/test_scaffolded_processing.py",
    }
    assert platform_file.read_text().startswith(before)  # every comment and line kept, the table appended
    config = load_platform_config(platform_file)
    workload = config.workload("scaffolded")
    assert (workload.app, workload.prefix, workload.wait_mode) == ("scaffolded_app", "scaffolded", "poll")
    settings = configured_settings(workload, "dev")
    assert (settings.prefix, settings.max_concurrency, settings.ttl_seconds) == ("scaffolded", 3, 600)
    assert sync_all_apps(config, partition="aws", dry_run=True) == []  # deploy renders exactly these files
    assert (
        "shared-lease-platform-dev-scaffolded-workflow"
        in json.loads((root / "lease_app" / ".chalice" / "config.json").read_text())["stages"]["dev"][
            "environment_variables"
        ]["LEASE_STATE_MACHINES"]
    )
    assert "created scaffolded_app/app.py" in outcome.out and "updated platform.toml" in outcome.out
    assert "make deploy && make workflows" in outcome.out


def test_its_policies_reach_only_items_of_its_own_prefix(
    capsys: pytest.CaptureFixture[str], platform_file: Path
) -> None:
    assert scaffold(capsys, platform_file, "--name", "scaffolded", "--cap", "3").exit_code == 0

    chalice = platform_file.parent / "scaffolded_app" / ".chalice"
    for name in ("policy-dev.json", "policy-dev-process.json"):
        statements = json.loads((chalice / name).read_text())["Statement"]
        table_statements = [s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"])]
        assert table_statements, name
        for statement in table_statements:
            assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["scaffolded#*"]}}
            assert statement["Resource"] == "arn:aws:dynamodb:eu-central-1:*:table/regional-concurrency-leases"


def test_handoff_and_a_ttl_go_into_platform_toml_and_the_stage_environment(
    capsys: pytest.CaptureFixture[str], platform_file: Path
) -> None:
    outcome = scaffold(
        capsys, platform_file, "--name", "ml-train", "--cap", "40", "--wait-mode", "handoff", "--ttl", "900"
    )

    assert outcome.exit_code == 0, outcome.err
    workload = load_platform_config(platform_file).workload("ml-train")
    assert (workload.app, workload.wait_mode) == ("ml-train_app", "handoff")
    config = workload.chalice_config()
    stage = config["stages"]["dev"]
    assert stage["environment_variables"]["LEASE_WAIT_MODE"] == "handoff"
    assert (
        stage["environment_variables"]["LEASE_MAX_CONCURRENCY"],
        stage["environment_variables"]["LEASE_TTL_SECONDS"],
    ) == ("40", "900")
    assert stage["lambda_functions"]["acquire"] == {"reserved_concurrency": 10}  # at most 10, as analytics_app
    policy = json.loads((workload.app_dir / ".chalice" / "policy-dev.json").read_text())
    assert "dynamodb:Query" in policy["Statement"][0]["Action"]  # handoff reads its queue
    assert (platform_file.parent / "tests" / "unit" / "test_ml_train_processing.py").is_file()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--name", "batch", "--cap", "3"], "workload 'batch' already exists in platform.toml"),
        (["--name", "Reports", "--cap", "3"], "a workload's name is its lease prefix: prefix must match"),
        (["--name", "9lives", "--cap", "3"], "prefix must match ^[a-z][a-z0-9-]{0,47}$"),
        (["--name", "re_ports", "--cap", "3"], "prefix must match"),
        (["--name", "re#ports", "--cap", "3"], "prefix must match"),
        (["--name", "rép", "--cap", "3"], "prefix must match"),
        (["--name", "", "--cap", "3"], "prefix must match"),
        (["--name", "a" * 49, "--cap", "3"], "prefix must match"),
        (["--name", "a" * 31, "--cap", "3"], f"name {'a' * 31!r} is too long: its Lambda function"),
        (["--name", "scaffolded", "--cap", "0"], "cap must be a whole number from 1 to 1000, got 0"),
        (["--name", "scaffolded", "--cap", "1001"], "cap must be a whole number from 1 to 1000"),
        (["--name", "scaffolded", "--cap", "ten"], "cap must be a whole number from 1 to 1000"),
        (["--name", "scaffolded", "--cap", "3", "--ttl", "0"], "TTL must be a whole number from 1 to 604800"),
        (["--name", "scaffolded", "--cap", "3", "--ttl", "604801"], "TTL must be a whole number from 1 to 604800"),
        (["--name", "scaffolded", "--cap", "3", "--ttl", "129"], "TTL 129 s is shorter than the Process step"),
    ],
)
def test_an_invalid_or_taken_name_cap_ttl_or_wait_mode_is_one_line_exit_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], platform_file: Path, arguments: list[str], message: str
) -> None:
    root = platform_file.parent
    files, made = snapshot(root), folders(root)

    outcome = scaffold(capsys, platform_file, *arguments)

    assert outcome.exit_code == 2
    assert outcome.err.startswith("error: ") and outcome.err.count("\n") == 1, outcome.err
    assert message in outcome.err
    assert (snapshot(root), folders(root)) == (files, made)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--name", "scaffolded", "--cap", "3", "--wait-mode", "sleep"], "argument --wait-mode: invalid choice"),
        (["--name", "scaffolded"], "the following arguments are required: --cap"),
    ],
)
def test_a_usage_mistake_is_one_line_exit_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], platform_file: Path, arguments: list[str], message: str
) -> None:
    root = platform_file.parent
    files, made = snapshot(root), folders(root)

    with pytest.raises(SystemExit) as exited:
        main(["new-workload", *arguments, "--platform-file", str(platform_file)])

    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert (snapshot(root), folders(root)) == (files, made)


def test_a_prefix_that_another_workload_uses_under_another_name_is_refused(
    capsys: pytest.CaptureFixture[str], platform_file: Path
) -> None:
    platform_file.write_text(platform_file.read_text().replace('prefix = "batch"', 'prefix = "nightly"'))
    files = snapshot(platform_file.parent)

    outcome = scaffold(capsys, platform_file, "--name", "nightly", "--cap", "3")

    assert outcome.exit_code == 2
    assert outcome.err == "error: prefix 'nightly' is already the lease prefix of workload 'batch'\n"
    assert snapshot(platform_file.parent) == files


@pytest.mark.parametrize("in_the_way", ["scaffolded_app/notes.txt", "tests/unit/test_scaffolded_processing.py"])
def test_an_app_folder_or_test_file_already_there_is_refused_and_left_alone(
    capsys: pytest.CaptureFixture[str], platform_file: Path, in_the_way: str
) -> None:
    root = platform_file.parent
    (root / in_the_way).parent.mkdir(parents=True)
    (root / in_the_way).write_text("someone's\n")
    files, made = snapshot(root), folders(root)

    outcome = scaffold(capsys, platform_file, "--name", "scaffolded", "--cap", "3")

    assert outcome.exit_code == 2
    assert f"{in_the_way.split('/notes')[0]} already exists" in outcome.err
    assert (snapshot(root), folders(root)) == (files, made)


def test_a_platform_toml_that_cannot_take_a_table_at_its_end_is_refused_unchanged(
    capsys: pytest.CaptureFixture[str], platform_file: Path
) -> None:
    # The same configuration with its workloads as one inline table: TOML cannot extend it with [workloads.x].
    data = tomllib.loads(platform_file.read_text())

    def inline(value: Any) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {inline(v)}" for k, v in value.items()) + " }"
        return json.dumps(value)

    top = "\n".join(f"{key} = {inline(value)}" for key, value in data.items() if key != "workloads")
    platform_file.write_text(f"{top}\nworkloads = {inline(data['workloads'])}\n")
    assert load_platform_config(platform_file).workloads.keys() == load_platform_config().workloads.keys()
    root = platform_file.parent
    files, made = snapshot(root), folders(root)

    outcome = scaffold(capsys, platform_file, "--name", "scaffolded", "--cap", "3")

    assert outcome.exit_code == 2
    assert outcome.err.startswith("error: platform.toml cannot take [workloads.scaffolded] at its end")
    assert outcome.err.count("\n") == 1
    assert (snapshot(root), folders(root)) == (files, made)


@pytest.mark.parametrize(
    ("failure", "exit_code"), [(OSError(28, "No space left on device"), 2), (KeyboardInterrupt(), 130)]
)
def test_a_write_failing_midway_puts_back_every_file_and_folder(
    capsys: pytest.CaptureFixture[str],
    platform_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: BaseException,
    exit_code: int,
) -> None:
    root = platform_file.parent
    files, made = snapshot(root), folders(root)
    write_file = file_changes._write_file

    def fail_at_platform_toml(write: file_changes.FileWrite, undo: Any) -> None:
        if write.path.name == "platform.toml":  # the last write: every other file is written by then
            raise failure
        write_file(write, undo)

    monkeypatch.setattr(file_changes, "_write_file", fail_at_platform_toml)

    outcome = scaffold(capsys, platform_file, "--name", "scaffolded", "--cap", "3")

    assert outcome.exit_code == exit_code
    assert outcome.err.count("\n") == 1
    if exit_code == 2:
        assert f"could not write {platform_file}: No space left on device; nothing was changed" in outcome.err
    assert (snapshot(root), folders(root)) == (files, made)


def test_the_longest_name_lambda_allows_gives_files_that_are_ruff_clean(
    capsys: pytest.CaptureFixture[str], platform_file: Path
) -> None:
    # Platform "p": "p-<48 characters>-dev-process" is 62 characters, within Lambda's 64.
    platform_file.write_text(platform_file.read_text().replace('platform = "shared-lease-platform"', 'platform = "p"'))
    name = "a" + "-b" * 23 + "c"

    outcome = scaffold(capsys, platform_file, "--name", name, "--cap", "3")

    assert outcome.exit_code == 0, outcome.err
    root = platform_file.parent
    generated = [str(root / f"{name}_app"), str(root / "tests")]
    for command in (["check"], ["format", "--check"]):
        linted = subprocess.run([str(RUFF), *command, *generated], cwd=root, capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout + linted.stderr


def test_help_says_what_it_creates_and_what_it_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["new-workload", "--help"])

    shown = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0
    assert "PREFIX_app/" in shown and "least-privilege policies" in shown and "platform.toml" in shown
    assert "refuses, writing nothing" in shown
