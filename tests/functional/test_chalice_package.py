"""`chalice package` builds each workload app offline, with lease_core vendored and lease_ops left out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lease_ops.chalice_apps import app_folder
from lease_ops.platform_config import load_platform_config
from lease_ops.vendoring import vendor_runtime

CHALICE = Path(sys.executable).with_name("chalice")


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["analytics_app", "batch_app"])
def test_chalice_package_contains_the_core_and_points_the_lease_handlers_into_it(folder: str, tmp_path: Path) -> None:
    project = tmp_path / folder
    shutil.copytree(app_folder(folder), project, ignore=shutil.ignore_patterns("vendor", "deployed", "deployments"))
    vendor_runtime(project)
    environment = {**os.environ, "AWS_DEFAULT_REGION": "eu-central-1"}

    subprocess.run(
        [str(CHALICE), "package", "--stage", "dev", str(tmp_path / "out")],
        cwd=project,
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )

    names = zipfile.ZipFile(tmp_path / "out" / "deployment.zip").namelist()
    assert {"app.py", "lease_core/semaphore.py", "lease_core/lambda_functions.py"} <= set(names)
    assert not any(name.startswith("lease_ops/") for name in names)
    resources = json.loads((tmp_path / "out" / "sam.json").read_text())["Resources"]
    handlers = {
        resource["Properties"]["Handler"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert handlers == {
        "lease_core.lambda_functions.acquire",
        "lease_core.lambda_functions.release",
        "lease_core.lambda_functions.renew",
        "app.process",
    }
    # Every function's log group keeps its logs for the configured retention (platform.toml, default 30 days).
    functions = {name for name, resource in resources.items() if resource["Type"] == "AWS::Serverless::Function"}
    retention = {
        resource["Properties"]["LogGroupName"]["Fn::Sub"]: resource["Properties"]["RetentionInDays"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    assert retention == {f"/aws/lambda/${{{name}}}": load_platform_config().log_retention_days for name in functions}
    assert {
        resource["Properties"]["Runtime"]
        for resource in resources.values()
        if "Runtime" in resource.get("Properties", {})
    } == {load_platform_config().lambda_runtime}
