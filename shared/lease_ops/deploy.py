"""`make deploy`: vendor the core, sync the apps' config, `chalice deploy` each app, then write the caps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.console import Console

from lease_ops.app_config import sync_all_apps
from lease_ops.aws_target import AwsTarget
from lease_ops.caps import apply_configured_caps
from lease_ops.errors import DeploymentFailed, RuntimeMismatch
from lease_ops.platform_config import PlatformConfig
from lease_ops.vendoring import vendor_runtime

CHALICE = Path(sys.executable).with_name("chalice")


def run_chalice(target: AwsTarget, app_dir: Path, arguments: list[str], console: Console) -> None:
    """Run chalice in an app folder against the target's region and endpoint; its output streams through."""
    console.print(f"[bold]{app_dir.name}[/bold]: chalice {' '.join(arguments)}")
    console.file.flush()
    completed = subprocess.run(
        [str(CHALICE), *arguments], cwd=app_dir, env=target.subprocess_environment(), check=False
    )
    if completed.returncode != 0:
        raise DeploymentFailed(
            f"chalice {arguments[0]} of {app_dir.name} failed (exit {completed.returncode}); see its output above"
        )


def check_lambda_runtime(config: PlatformConfig) -> None:
    """Chalice gives each Lambda the runtime of the Python that runs it (``lambda_python_version``): refuse to
    package or deploy under another one than platform.toml pins."""
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if running != config.lambda_runtime:
        raise RuntimeMismatch(
            f"chalice would deploy the Lambdas on {running}, the Python it runs under, but platform.toml pins "
            f"lambda_runtime = {config.lambda_runtime!r}: recreate the environment with that Python "
            f"(make clean && make deploy PYTHON={config.lambda_runtime}), or change lambda_runtime"
        )


def deploy(target: AwsTarget, config: PlatformConfig, console: Console) -> None:
    check_lambda_runtime(config)
    for app in config.app_folders:
        vendor_runtime(config.app_dir(app))
    for path in sync_all_apps(config, partition=target.partition.name):
        console.print(f"updated {path} for stage {config.stage}, table {config.table}, region {config.region}")
    for app in config.app_folders:
        run_chalice(target, config.app_dir(app), ["deploy", "--stage", config.stage], console)
    apply_configured_caps(target, config, console)
