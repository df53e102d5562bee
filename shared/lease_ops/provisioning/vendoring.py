"""Fill each Chalice app's ``vendor/`` with the runtime: ``lease_core`` and the packages it needs.

Chalice has no way to share code between apps (it skips symlinks under
``chalicelib/``), but it packages whatever is in ``<app>/vendor/`` at the root
of the deployment zip. Only the runtime goes there: ``lease_core`` and the
distributions it imports that the Lambda runtime lacks (Powertools and
typing_extensions; boto3 comes with the runtime), copied file by file from this
environment's pinned installation, so packaging needs no network. ``lease_ops``
is the operator side and is never deployed.
"""

from __future__ import annotations

import shutil
from importlib.metadata import distribution
from pathlib import Path

import lease_core

RUNTIME_PACKAGE = Path(lease_core.__file__).resolve().parent
RUNTIME_DISTRIBUTIONS = ("aws-lambda-powertools", "typing-extensions")


def copy_distribution(name: str, target: Path) -> int:
    """Copy an installed distribution's files (no bytecode) under ``target``; returns how many."""
    installed = distribution(name)
    copied = 0
    for file in installed.files or []:
        if "__pycache__" in file.parts or file.suffix == ".pyc" or file.parts[0].startswith(".."):
            continue
        destination = target / Path(*file.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(installed.locate_file(file))), destination)
        copied += 1
    return copied


def vendor_runtime(app_dir: Path, package: Path = RUNTIME_PACKAGE) -> Path:
    """Replace ``app_dir/vendor/`` with a fresh copy of the runtime; returns the copy of ``lease_core``."""
    vendor = app_dir / "vendor"
    shutil.rmtree(vendor, ignore_errors=True)
    target = vendor / package.name
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in RUNTIME_DISTRIBUTIONS:
        copy_distribution(name, vendor)
    return target
