"""Copy the runtime package ``lease_core`` into each Chalice app's ``vendor/``.

Chalice has no way to share code between apps (it skips symlinks under
``chalicelib/``), but it packages whatever is in ``<app>/vendor/`` at the root
of the deployment zip. Only ``lease_core`` goes there: ``lease_ops`` is the
operator side and is never deployed.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from lease_ops.chalice_apps import REPOSITORY_ROOT

APP_FOLDERS = ("lease_app", "analytics_app", "batch_app")
RUNTIME_PACKAGE = REPOSITORY_ROOT / "shared" / "lease_core"


def vendor_runtime(app_dir: Path, package: Path = RUNTIME_PACKAGE) -> Path:
    """Replace ``app_dir/vendor/`` with a fresh copy of the runtime package; returns the copy."""
    vendor = app_dir / "vendor"
    shutil.rmtree(vendor, ignore_errors=True)
    target = vendor / package.name
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lease_ops.vendoring",
        description="Copy shared/lease_core into each app's vendor/ folder, ready for `chalice deploy`.",
    )
    parser.add_argument("apps", nargs="*", default=list(APP_FOLDERS), help="app folders (default: all three)")
    arguments = parser.parse_args(argv)
    for name in arguments.apps:
        app_dir = REPOSITORY_ROOT / name
        if not (app_dir / "app.py").is_file():
            parser.error(f"{name!r} is not an app folder of this repository (expected one of {', '.join(APP_FOLDERS)})")
        copy = vendor_runtime(app_dir)
        print(f"vendored lease_core into {copy.parent.relative_to(REPOSITORY_ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
