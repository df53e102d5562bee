"""`python -m lease_ops new-workload` (`make workload`): a new workload app, ready to test, deploy and run.

Every file is rendered in memory first, from the checked request; only then is anything written, all of
it or none (``file_changes``). The app's `.chalice/` files come from the same rendering `deploy` uses
(``app_config.render_workload_app``), so the first deploy of the new workload rewrites nothing; and the
platform app's list of state machines (its reclaim rule) is brought up to date in the same step, so that
the working tree after `make workload` is the one to commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from lease_ops.config.app_config import TEMPLATE_STAGE, json_text, render_platform_app, render_workload_app
from lease_ops.config.aws_partitions import partition_of
from lease_ops.config.platform_config import PlatformConfig, WorkloadConfig, load_platform_config
from lease_ops.config.workload_settings import check_lease_outlives_process, configured_settings
from lease_ops.errors import PlatformConfigError
from lease_ops.scaffold import templates
from lease_ops.scaffold.file_changes import FileWrite, write_all
from lease_ops.scaffold.platform_file import with_workload
from lease_ops.scaffold.request import PROCESS_TIMEOUT_SECONDS, NewWorkload, WorkloadRefused, check_request

# As analytics_app: short lease calls, and reserved concurrency for each lease function up to 10 (what
# the README's account requirements count), never more than the cap.
LEASE_FUNCTION_TIMEOUT_SECONDS = 30
LAMBDA_MEMORY_MB = 256
MAX_RESERVED_CONCURRENCY = 10


@dataclass(frozen=True)
class Scaffold:
    """What `new-workload` writes: the files, in the order they are written (platform.toml last)."""

    request: NewWorkload
    platform_file: Path
    writes: list[FileWrite]


def chalice_config(request: NewWorkload, config: PlatformConfig) -> dict[str, Any]:
    """The new app's .chalice/config.json before the platform's rendering adds table, prefix and policies."""
    reserved = {"reserved_concurrency": min(request.cap, MAX_RESERVED_CONCURRENCY)}
    stage = {
        "api_gateway_stage": "api",
        "autogen_policy": False,
        "iam_policy_file": f"policy-{TEMPLATE_STAGE}.json",
        "environment_variables": {
            "LEASE_TABLE_NAME": config.table,
            "LEASE_PREFIX": request.name,
            "LEASE_MAX_CONCURRENCY": str(request.cap),
            "LEASE_TTL_SECONDS": str(request.ttl_seconds),
        },
        "lambda_timeout": LEASE_FUNCTION_TIMEOUT_SECONDS,
        "lambda_memory_size": LAMBDA_MEMORY_MB,
        "lambda_functions": {
            **{function: dict(reserved) for function in ("acquire", "release", "renew")},
            "process": {
                "lambda_timeout": PROCESS_TIMEOUT_SECONDS,
                "iam_policy_file": f"policy-{TEMPLATE_STAGE}-process.json",
            },
        },
        "log_retention_in_days": config.log_retention_days,
    }
    return {"version": "2.0", "app_name": request.app_name, "stages": {TEMPLATE_STAGE: stage}}


def _workload_config(request: NewWorkload, config: PlatformConfig) -> WorkloadConfig:
    return WorkloadConfig(
        name=request.name,
        app=request.app,
        app_dir=config.root / request.app,
        prefix=request.name,
        wait_seconds=5,
        process_payload={"input.$": "$$.Execution.Input"},
        wait_mode=request.wait_mode,
    )


def _chalice_documents(request: NewWorkload, config: PlatformConfig, partition: str) -> dict[Path, dict[str, Any]]:
    """config.json and the policy files of the template stage and of platform.toml's stage, if another."""
    workload = _workload_config(request, config)
    document = chalice_config(request, config)
    documents: dict[Path, dict[str, Any]] = {}
    for stage in dict.fromkeys([TEMPLATE_STAGE, config.stage]):
        documents.update(render_workload_app(replace(config, stage=stage), workload, document, partition=partition))
    return documents


def plan_scaffold(platform_file: Path, request: NewWorkload, config: PlatformConfig) -> Scaffold:
    """Every file of the new workload, rendered; nothing written."""
    root = config.root
    partition = partition_of(config.region).name
    values = {"name": request.name, "app": request.app, "app_name": request.app_name, "identifier": request.identifier}
    app_dir = root / request.app
    sources = {
        app_dir / "app.py": templates.APP_PY,
        app_dir / "chalicelib" / "__init__.py": templates.CHALICELIB_INIT_PY,
        app_dir / "chalicelib" / "processing.py": templates.PROCESSING_PY,
        app_dir / "requirements.txt": templates.REQUIREMENTS_TXT,
        request.test_file(root): templates.TEST_PY,
    }
    writes = [FileWrite(path, templates.render(text, **values), new=True) for path, text in sources.items()]
    chalice = _chalice_documents(request, config, partition)
    writes += [FileWrite(path, json_text(document), new=True) for path, document in chalice.items()]
    # The platform app's reclaim rule names every workflow of the stage: the new one too.
    with_new = replace(config, workloads={**config.workloads, request.name: _workload_config(request, config)})
    for path, document in render_platform_app(with_new, partition=partition).items():
        text = json_text(document)
        if not path.is_file() or path.read_text() != text:
            writes.append(FileWrite(path, text, new=not path.exists()))
    writes.append(FileWrite(platform_file, with_workload(platform_file.read_text(), request), new=False))
    return Scaffold(request, platform_file, writes)


def _verify(scaffold: Scaffold) -> None:
    """Read the project back as every command will: the new workload must load, with the cap and TTL asked for."""
    try:
        config = load_platform_config(scaffold.platform_file)
        workload = config.workload(scaffold.request.name)
        settings = configured_settings(workload, config.stage)
        check_lease_outlives_process(workload, config.stage)
    except PlatformConfigError as exc:
        raise WorkloadRefused(f"the new workload does not load back: {exc}") from None
    if (settings.max_concurrency, settings.ttl_seconds) != (scaffold.request.cap, scaffold.request.ttl_seconds):
        raise WorkloadRefused("the new workload's config.json does not load back with the cap and TTL asked for")


def new_workload(
    platform_file: Path,
    console: Console,
    *,
    name: str,
    cap: str,
    ttl: str | None = None,
    wait_mode: str = "poll",
) -> Scaffold:
    """Check, render, then write the new workload; ``WorkloadRefused``/``WriteFailed`` leave the tree untouched."""
    platform_file = platform_file.resolve()
    config = load_platform_config(platform_file)  # platform.toml as written: no REGION/TABLE/STAGE overrides
    request = check_request(config, name=name, cap=cap, ttl=ttl, wait_mode=wait_mode)
    scaffold = plan_scaffold(platform_file, request, config)
    write_all(scaffold.writes, verify=lambda: _verify(scaffold))
    for write in scaffold.writes:
        action = "created" if write.new else "updated"
        console.print(f"{action} {write.path.relative_to(config.root).as_posix()}")
    _print_next_steps(request, config, console)
    return scaffold


def _print_next_steps(request: NewWorkload, config: PlatformConfig, console: Console) -> None:
    console.print(
        f"workload {request.name}: prefix {request.name!r}, cap {request.cap}, TTL {request.ttl_seconds} s, "
        f"wait mode {request.wait_mode}, state machine {config.state_machine_name(_workload_config(request, config))}"
    )
    console.print("next:")
    for step in (
        f"put the real work into {request.app}/chalicelib/processing.py and "
        f"tests/unit/{request.test_file(config.root).name}, and what Process gets into process_payload in "
        "platform.toml",
        "make test          # its test runs with the others",
        "make demo          # every workflow on an embedded AWS, the new one included",
        "make deploy && make workflows   # on AWS: its Lambdas, its cap in the table, its state machine",
    ):
        console.print(f"  {step}")
