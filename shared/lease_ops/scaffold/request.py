"""What `new-workload` is asked for, checked in full before a single file is written.

The name of a new workload is also its lease prefix, so it is checked by the lease core's own prefix rule
(the rule platform.toml's prefixes and the Lambdas are held to); its cap and TTL by the rules the Lambdas
apply to ``LEASE_MAX_CONCURRENCY`` and ``LEASE_TTL_SECONDS``. Then everything that would make the first
deploy fail is refused here instead: a name or prefix taken, a folder in the way, a Lambda function name
longer than Lambda accepts, a TTL that cannot outlive the Process step it guards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lease_core.errors import InvalidLeaseRequest
from lease_core.settings import WAIT_MODES
from lease_core.validation import MAX_CAP, MAX_TTL_SECONDS, parse_whole_number, validate_prefix
from lease_ops.config.app_config import LEASE_FUNCTIONS, TEMPLATE_STAGE
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.config.workload_settings import INVOKE_MARGIN_SECONDS
from lease_ops.errors import OperatorError

# The new app's Process Lambda timeout (as analytics_app's): the lease TTL must outlast it plus the invoke margin.
PROCESS_TIMEOUT_SECONDS = 120
DEFAULT_TTL_SECONDS = 600
# https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html#lambda-CreateFunction-request-FunctionName
# (64 characters for a plain name); Chalice also names the process function's own IAM role so, and IAM role
# names are 64 characters at most (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html).
FUNCTION_NAME_LIMIT = 64


class WorkloadRefused(OperatorError):
    """`new-workload` will not create this workload; nothing was written."""


@dataclass(frozen=True)
class NewWorkload:
    """A checked request: a workload ``name`` (also its lease prefix) with its cap, TTL and wait mode."""

    name: str
    cap: int
    ttl_seconds: int
    wait_mode: str
    app_name: str  # the Chalice app_name: <platform>-<name>, as the existing workload apps are named

    @property
    def app(self) -> str:
        """The app folder, next to platform.toml."""
        return f"{self.name}_app"

    @property
    def identifier(self) -> str:
        """The name as a Python identifier (a prefix may hold '-'), for the generated test's file and functions."""
        return self.name.replace("-", "_")

    def test_file(self, root: Path) -> Path:
        """The generated test, in the unit tier beside the tests of the other apps' Process steps."""
        return root / "tests" / "unit" / f"test_{self.identifier}_processing.py"


def _whole_number(text: str, option: str, low: int, high: int) -> int:
    try:
        return parse_whole_number(text, option, low, high)
    except InvalidLeaseRequest as exc:
        raise WorkloadRefused(str(exc)) from None


def _check_name(config: PlatformConfig, name: str) -> None:
    try:
        validate_prefix(name)
    except InvalidLeaseRequest as exc:
        raise WorkloadRefused(f"a workload's name is its lease prefix: {exc}") from None
    if name in config.workloads:
        raise WorkloadRefused(f"workload {name!r} already exists in platform.toml")
    for other in config.workloads.values():
        if other.prefix == name:
            raise WorkloadRefused(f"prefix {name!r} is already the lease prefix of workload {other.name!r}")


def _check_free(root: Path, request: NewWorkload) -> None:
    for path in (root / request.app, request.test_file(root)):
        if path.exists() or path.is_symlink():
            raise WorkloadRefused(f"{path.relative_to(root)} already exists; choose another name or move it away")


def _check_function_names(config: PlatformConfig, request: NewWorkload) -> None:
    stages = dict.fromkeys([TEMPLATE_STAGE, config.stage])
    for stage in stages:
        for function in (*LEASE_FUNCTIONS, "process"):
            function_name = f"{request.app_name}-{stage}-{function}"
            if len(function_name) > FUNCTION_NAME_LIMIT:
                room = len(request.name) - (len(function_name) - FUNCTION_NAME_LIMIT)
                raise WorkloadRefused(
                    f"name {request.name!r} is too long: its Lambda function {function_name} would have "
                    f"{len(function_name)} characters, over the {FUNCTION_NAME_LIMIT} Lambda accepts "
                    f"(at most {room} characters with platform {config.platform!r} and stage {stage!r})"
                )


def check_request(
    config: PlatformConfig, *, name: str, cap: str, ttl: str | None = None, wait_mode: str = "poll"
) -> NewWorkload:
    """The request, checked against the rules and the project as it is; ``WorkloadRefused`` at the first problem."""
    _check_name(config, name)
    if wait_mode not in WAIT_MODES:
        raise WorkloadRefused(f"wait mode must be poll or handoff, got {wait_mode!r}")
    request = NewWorkload(
        name=name,
        cap=_whole_number(cap, "cap", 1, MAX_CAP),
        ttl_seconds=DEFAULT_TTL_SECONDS if ttl is None else _whole_number(ttl, "TTL", 1, MAX_TTL_SECONDS),
        wait_mode=wait_mode,
        app_name=f"{config.platform}-{name}",
    )
    needed = PROCESS_TIMEOUT_SECONDS + INVOKE_MARGIN_SECONDS
    if request.ttl_seconds < needed:
        raise WorkloadRefused(
            f"TTL {request.ttl_seconds} s is shorter than the Process step it guards ({PROCESS_TIMEOUT_SECONDS} s "
            f"timeout + {INVOKE_MARGIN_SECONDS} s to invoke it): give at least {needed}"
        )
    _check_free(config.root, request)
    _check_function_names(config, request)
    return request
