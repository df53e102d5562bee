"""The source files of a new workload app, modelled on analytics_app, and its test.

Kept as strings in a module (not package data) so they ship with ``lease_ops`` however it is installed.
Placeholders are ``__NAME__``-style words, which no Python or TOML syntax uses, so the templates read as the
files they become. Every generated Python file is ruff clean under the repository's settings
(tests/functional/test_new_workload.py checks it).
"""

from __future__ import annotations

APP_PY = '''"""Workload __NAME__: the shared lease Lambdas plus its own ``process`` step."""

from chalice import Chalice

from chalicelib import processing
from lease_core.lambda_functions import lease_functions
from lease_core.process_guard import requires_lease

app = Chalice(app_name="__APP_NAME__")
app.register_blueprint(lease_functions)


@app.lambda_function(name="process")
@requires_lease  # works only while this run holds a live lease (redrive, retries, timeouts)
def process(event, context):
    return processing.process(event)
'''

CHALICELIB_INIT_PY = ""

PROCESSING_PY = '''"""The work of workload __NAME__, done under a lease by its ``process`` Lambda.

A stub written by `make workload`: replace the body of ``process`` with the work the lease guards. The
workflow hands it the execution's input as ``event["input"]`` (``process_payload`` in platform.toml says
what it gets), and what it returns lands in the execution's output at ``$.result.output``. Raise an
exception for input it cannot process: the workflow then releases the lease and fails, without retrying.
The lease check is done before this runs (``requires_lease`` in app.py).
"""

from __future__ import annotations

from typing import Any


class InvalidInput(Exception):
    """The event is not what this workload processes; retrying cannot help."""


def process(event: Any) -> dict[str, Any]:
    """Acknowledge the execution's input (the stub's whole work) and say which fields it had."""
    if not isinstance(event, dict) or "input" not in event:
        raise InvalidInput('event must be an object {"input": ...}; see process_payload in platform.toml')
    work = event["input"]
    fields = sorted(work) if isinstance(work, dict) else []
    return {"workload": "__NAME__", "processed": True, "fields": fields}
'''

REQUIREMENTS_TXT = """# Packaged into the Lambda by `chalice package`/`chalice deploy`. Nothing is listed here:
# boto3 ships with the Lambda Python runtime, and `make vendor` puts lease_core with its
# runtime dependencies (aws-lambda-powertools, typing-extensions, pinned in
# ../requirements/) into vendor/, so packaging needs no network.
"""

TEST_PY = '''"""Tests of the Process step of workload __NAME__, written by `make workload`.

The step is in __APP__/chalicelib/processing.py.
Replace these with tests of its real work. The module is loaded from its file, as the other apps'
Process steps are in their tests: every app has a package named ``chalicelib``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

APP_FOLDER = Path(__file__).resolve().parents[2] / "__APP__"


def load_processing() -> ModuleType:
    spec = importlib.util.spec_from_file_location("processing_under_test", APP_FOLDER / "chalicelib" / "processing.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


processing = load_processing()


def test___IDENTIFIER___acknowledges_its_input_and_names_its_fields() -> None:
    result = processing.process({"input": {"records": [], "source": "test"}})

    assert result["workload"] == "__NAME__"
    assert (result["processed"], result["fields"]) == (True, ["records", "source"])


@pytest.mark.parametrize("event", [None, [], {}, {"records": []}])
def test___IDENTIFIER___refuses_an_event_without_input(event: Any) -> None:
    with pytest.raises(processing.InvalidInput):
        processing.process(event)
'''

PLATFORM_TOML_BLOCK = """
# Added by `make workload`; its cap, TTL and Lambda settings are in __APP__/.chalice/config.json.
[workloads.__NAME__]
app = "__APP__"
prefix = "__NAME__"
wait_seconds = 5                     # how long an execution waits before asking for a slot again
process_payload = { "input.$" = "$$.Execution.Input" }   # Process gets the execution's input as event["input"]
"""

HANDOFF_LINE = 'wait_mode = "handoff"                # queue in arrival order and be handed a slot by a release\n'


def render(template: str, **values: str) -> str:
    """``template`` with each ``__KEY__`` replaced by ``values[key]`` (keys in upper case)."""
    # Longest keys first, so that __NAME__ never eats into a longer placeholder.
    for key in sorted(values, key=len, reverse=True):
        template = template.replace(f"__{key.upper()}__", values[key])
    return template
