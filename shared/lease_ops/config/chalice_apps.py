"""Import the Chalice apps of this repository side by side in one process.

Every Chalice app is a module named ``app`` with a package named ``chalicelib``,
so a plain import of a second app would return the first one from
``sys.modules``. Tests and the local runner load each app here under its own
folder, then take those names out of ``sys.modules`` again.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path
from typing import Any

from chalice import Chalice

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
_CHALICE_MODULE_NAMES = ("app", "chalicelib")
_import_lock = threading.Lock()
# Chalice's own default when no lambda_timeout is configured.
DEFAULT_LAMBDA_TIMEOUT = 60


def function_timeout(config: dict[str, Any], stage: str, function: str) -> int:
    """A function's own timeout in seconds, as its app's .chalice/config.json sets it for ``stage``."""
    stage_config = config.get("stages", {}).get(stage, {})
    function_config = stage_config.get("lambda_functions", {}).get(function, {})
    timeout = function_config.get(
        "lambda_timeout", stage_config.get("lambda_timeout", config.get("lambda_timeout", DEFAULT_LAMBDA_TIMEOUT))
    )
    return int(timeout)


def app_folder(name: str) -> Path:
    """The folder of an app of this repository, e.g. ``analytics_app``."""
    folder = REPOSITORY_ROOT / name
    if not (folder / "app.py").is_file():
        raise FileNotFoundError(f"{folder} is not a Chalice app folder (no app.py)")
    return folder


# The lease core's modules that define Chalice Blueprints. Chalice's Blueprint keeps the route options of
# each route and pops them when it registers the route on an app (chalice/app.py, _register_route), so the
# same Blueprint registered on a second app gives that app GET routes without their authorizer. Each app
# loaded here therefore imports these modules afresh, with Blueprints of its own.
_BLUEPRINT_MODULES = ("lease_core.admin_routes", "lease_core.cleanup_functions", "lease_core.lambda_functions")


def _forget_chalice_modules() -> None:
    for module_name in list(sys.modules):
        if module_name.split(".")[0] in _CHALICE_MODULE_NAMES:
            del sys.modules[module_name]


def load_chalice_app(folder: Path) -> Chalice:
    """Import ``folder/app.py`` and return its ``app``, without clashing with other apps."""
    with _import_lock:
        _forget_chalice_modules()
        for blueprint_module in _BLUEPRINT_MODULES:
            sys.modules.pop(blueprint_module, None)
        sys.path.insert(0, str(folder))
        try:
            module = importlib.import_module("app")
        finally:
            sys.path.remove(str(folder))
            _forget_chalice_modules()
    app = getattr(module, "app", None)
    if not isinstance(app, Chalice):
        raise TypeError(f"{folder / 'app.py'} defines no Chalice object named 'app'")
    return app
