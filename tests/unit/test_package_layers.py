"""The operator package is grouped by job in layers, and no module imports a layer above its own.

A layer may import any layer below it, never one above: so the configuration knows nothing of the sandbox,
the sandbox nothing of the demo, and the deployed core (``lease_core``) and the Chalice apps nothing of the
operator side at all.
"""

from __future__ import annotations

import pathlib

from lease_ops.config.platform_config import load_platform_config
from tests.helpers import REPOSITORY_ROOT, imported_modules

OPS = REPOSITORY_ROOT / "shared" / "lease_ops"
# Bottom first. A top-level module or package of lease_ops that is not listed fails the test below.
LAYERS = (
    "errors",
    "config",
    "scaffold",
    "local_runner",
    "definitions",
    "aws",
    "provisioning",
    "packaging",
    "observability",
    "sandbox",
    "demo",
    "chaos",
    "cli",
    "__main__",
)
# What is deployed: the core and every app of platform.toml (a workload added by `make workload` too).
DEPLOYED = ("shared/lease_core", *load_platform_config().app_folders)


def layer_of(path: pathlib.Path) -> str:
    return path.relative_to(OPS).parts[0].removesuffix(".py")


def test_every_part_of_the_operator_package_has_a_layer() -> None:
    parts = {layer_of(path) for path in OPS.rglob("*.py")} - {"__init__"}
    assert {"config", "provisioning", "sandbox", "demo"} <= parts, f"not the operator package: {sorted(parts)}"
    assert parts <= set(LAYERS), f"not in a layer: {sorted(parts - set(LAYERS))}"


def test_no_operator_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for path in sorted(OPS.rglob("*.py")):
        own = layer_of(path)
        if own == "__init__":
            continue
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] == "lease_ops" and len(parts) > 1 and LAYERS.index(parts[1]) > LAYERS.index(own):
                upward.append(f"{path.relative_to(REPOSITORY_ROOT)} ({own}) imports {name}")
    assert not upward, "\n".join(upward)


def test_the_deployed_core_and_the_apps_never_import_the_operator_side() -> None:
    offending = [
        f"{path.relative_to(REPOSITORY_ROOT)} imports {name}"
        for folder in DEPLOYED
        for path in sorted((REPOSITORY_ROOT / folder).rglob("*.py"))
        if "vendor" not in path.parts
        for name in imported_modules(path)
        if name.split(".")[0] == "lease_ops"
    ]
    assert not offending, "\n".join(offending)
