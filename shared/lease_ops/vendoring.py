"""Copy the runtime package ``lease_core`` into each Chalice app's ``vendor/``.

Chalice has no way to share code between apps (it skips symlinks under
``chalicelib/``), but it packages whatever is in ``<app>/vendor/`` at the root
of the deployment zip. Only ``lease_core`` goes there: ``lease_ops`` is the
operator side and is never deployed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lease_core

RUNTIME_PACKAGE = Path(lease_core.__file__).resolve().parent


def vendor_runtime(app_dir: Path, package: Path = RUNTIME_PACKAGE) -> Path:
    """Replace ``app_dir/vendor/`` with a fresh copy of the runtime package; returns the copy."""
    vendor = app_dir / "vendor"
    shutil.rmtree(vendor, ignore_errors=True)
    target = vendor / package.name
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target
