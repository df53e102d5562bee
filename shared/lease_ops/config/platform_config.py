"""The platform configuration: platform.toml, overridden by the command line and environment.

Precedence: command-line flag, then environment (``REGION``, ``TABLE``, ``STAGE``,
as ``make`` passes them), then platform.toml.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lease_core.errors import InvalidLeaseRequest
from lease_core.settings import WAIT_MODES
from lease_core.validation import validate_prefix, validate_table_name
from lease_ops.config.aws_partitions import partition_of
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.errors import PlatformConfigError, UnknownWorkload

PLATFORM_FILE = REPOSITORY_ROOT / "platform.toml"
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,19}")
PLATFORM_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,29}")
LAMBDA_RUNTIME_PATTERN = re.compile(r"python3\.[0-9]{1,2}")
DEFAULT_LAMBDA_RUNTIME = "python3.11"
DEFAULT_LOG_RETENTION_DAYS = 30
# The levels Step Functions logs at (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
STATE_MACHINE_LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
DEFAULT_STATE_MACHINE_LOG_LEVEL = "ERROR"
# Longest names AWS accepts: a state machine's
# (https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html#StepFunctions-CreateStateMachine-request-name)
# and an IAM role's (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html).
STATE_MACHINE_NAME_LIMIT = 80
ROLE_NAME_LIMIT = 64
# The retention periods CloudWatch Logs accepts
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


@dataclass(frozen=True)
class WorkloadConfig:
    """One workload: its Chalice app folder, lease prefix, polling interval and Process input."""

    name: str
    app: str
    app_dir: Path
    prefix: str
    wait_seconds: int
    process_payload: dict[str, Any]
    chunk_size: int | None = None
    wait_mode: str = "poll"  # poll: Wait and ask again; handoff: queue and be handed a slot
    recheck_seconds: int = 300  # handoff: a waiter re-checks by itself after this long without a slot

    @property
    def chunked(self) -> bool:
        """Chunked workloads run Process in a loop and renew their lease between chunks."""
        return self.chunk_size is not None

    def chalice_config(self) -> dict[str, Any]:
        return json.loads((self.app_dir / ".chalice" / "config.json").read_text())


@dataclass(frozen=True)
class PlatformConfig:
    root: Path  # the folder of platform.toml; app folders are relative to it
    platform: str
    region: str
    table: str
    stage: str
    platform_app: str
    workloads: dict[str, WorkloadConfig] = field(default_factory=dict)
    # The Python runtime of every Lambda. Chalice takes it from the Python that runs it, so deploy and
    # package refuse to run under another one rather than ship what happens to be installed.
    lambda_runtime: str = DEFAULT_LAMBDA_RUNTIME
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS  # each Lambda's and state machine's log group
    state_machine_log_level: str = DEFAULT_STATE_MACHINE_LOG_LEVEL  # execution history events sent to CloudWatch
    state_machine_tracing: bool = False  # X-Ray traces of the executions

    def workload(self, name: str) -> WorkloadConfig:
        try:
            return self.workloads[name]
        except KeyError:
            raise UnknownWorkload(
                f"unknown workload {name!r}; platform.toml defines {', '.join(sorted(self.workloads))}"
            ) from None

    def select(self, names: list[str] | None) -> list[WorkloadConfig]:
        """The named workloads (all of them when ``names`` is empty), checked."""
        return [self.workload(name) for name in names] if names else list(self.workloads.values())

    def state_machine_name(self, workload: WorkloadConfig) -> str:
        """Carries the stage, so that stages of one platform live side by side in one account and region."""
        return bounded_name(f"{self.platform}-{self.stage}-{workload.prefix}-workflow", STATE_MACHINE_NAME_LIMIT)

    def role_name(self, workload: WorkloadConfig) -> str:
        """IAM is global, so the role name carries the region as well as the stage."""
        return bounded_name(f"{self.platform}-{self.stage}-{workload.prefix}-workflow-{self.region}", ROLE_NAME_LIMIT)

    @property
    def state_machine_names(self) -> list[str]:
        """This stage's state machines: the only ones whose failed executions the reclaim rule hears of."""
        return [self.state_machine_name(workload) for workload in self.workloads.values()]

    def dashboard_name(self) -> str:
        """The CloudWatch dashboard of this platform's leases (`make dashboard`): one per stage."""
        return f"{self.platform}-{self.stage}-leases"

    @property
    def app_folders(self) -> list[str]:
        return [self.platform_app, *(workload.app for workload in self.workloads.values())]

    def app_dir(self, app: str) -> Path:
        return self.root / app

    def with_wait_mode(self, wait_mode: str | None) -> PlatformConfig:
        """Every workload in ``wait_mode`` (None: as configured), for `demo`/`local`/`chaos --wait-mode`."""
        if wait_mode is None:
            return self
        if wait_mode not in WAIT_MODES:
            raise PlatformConfigError(f"wait mode must be poll or handoff, got {wait_mode!r}")
        workloads = {name: replace(w, wait_mode=wait_mode) for name, w in self.workloads.items()}
        return replace(self, workloads=workloads)


def bounded_name(name: str, limit: int) -> str:
    """``name`` if AWS accepts its length, else its start and a hash of the whole: still unique, and the same
    on every run, so that reruns find what the first run made."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1]}-{digest}"


# Handoff waiters re-check every recheck_seconds; below this a 7-day wait, with the rest of a run, no longer
# fits the 25,000-event history quota with a 20% margin (lease_ops.definitions.history_quota,
# tests/unit/test_history_quota.py).
MIN_RECHECK_SECONDS = 240


def _require(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise PlatformConfigError(f"{where}: {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _workload(name: str, table: Mapping[str, Any], root: Path) -> WorkloadConfig:
    where = f"platform.toml [workloads.{name}]"
    app = _require(table, "app", str, where)
    if not (root / app / "app.py").is_file():
        raise PlatformConfigError(f"{where}: app folder {app!r} has no app.py")
    try:
        prefix = validate_prefix(_require(table, "prefix", str, where))
    except InvalidLeaseRequest as exc:
        raise PlatformConfigError(f"{where}: {exc}") from None
    wait_seconds = _require(table, "wait_seconds", int, where)
    if not 1 <= wait_seconds <= 3600:
        raise PlatformConfigError(f"{where}: wait_seconds must be from 1 to 3600, got {wait_seconds}")
    chunk_size = table.get("chunk_size")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise PlatformConfigError(f"{where}: chunk_size must be a positive whole number, got {chunk_size!r}")
    process_payload = dict(_require(table, "process_payload", dict, where))
    wait_mode = table.get("wait_mode", "poll")
    if wait_mode not in WAIT_MODES:
        raise PlatformConfigError(f"{where}: wait_mode must be poll or handoff, got {wait_mode!r}")
    recheck_seconds = table.get("recheck_seconds", 300)
    if (
        isinstance(recheck_seconds, bool)
        or not isinstance(recheck_seconds, int)
        or not MIN_RECHECK_SECONDS <= recheck_seconds <= 86400
    ):
        raise PlatformConfigError(
            f"{where}: recheck_seconds must be from {MIN_RECHECK_SECONDS} to 86400 (a shorter re-check would end a "
            f"7-day wait at the execution history quota), got {recheck_seconds!r}"
        )
    if chunk_size is not None and {"chunk_size", "chunk_size.$"} & set(process_payload):
        raise PlatformConfigError(f"{where}: leave chunk_size out of process_payload; it is set from chunk_size")
    return WorkloadConfig(
        name=name,
        app=app,
        app_dir=root / app,
        prefix=prefix,
        wait_seconds=wait_seconds,
        process_payload=process_payload,
        chunk_size=chunk_size,
        wait_mode=wait_mode,
        recheck_seconds=recheck_seconds,
    )


def _optional(table: Mapping[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    return default if key not in table else _require(table, key, kind, where)


def load_platform_config(path: Path = PLATFORM_FILE) -> PlatformConfig:
    """Read and check platform.toml."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PlatformConfigError(f"{path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlatformConfigError(f"{path} is not valid TOML: {exc}") from None
    workloads = data.get("workloads")
    if not isinstance(workloads, dict) or not workloads:
        raise PlatformConfigError(f"{path}: define at least one [workloads.<name>] table")
    config = PlatformConfig(
        root=path.resolve().parent,
        platform=_require(data, "platform", str, str(path)),
        region=_require(data, "region", str, str(path)),
        table=_require(data, "table", str, str(path)),
        stage=_require(data, "stage", str, str(path)),
        platform_app=_require(data, "platform_app", str, str(path)),
        workloads={name: _workload(name, table, path.resolve().parent) for name, table in workloads.items()},
        lambda_runtime=_optional(data, "lambda_runtime", str, DEFAULT_LAMBDA_RUNTIME, str(path)),
        log_retention_days=_optional(data, "log_retention_days", int, DEFAULT_LOG_RETENTION_DAYS, str(path)),
        state_machine_log_level=_optional(
            data, "state_machine_log_level", str, DEFAULT_STATE_MACHINE_LOG_LEVEL, str(path)
        ),
        state_machine_tracing=_optional(data, "state_machine_tracing", bool, False, str(path)),
    )
    if config.state_machine_log_level not in STATE_MACHINE_LOG_LEVELS:
        raise PlatformConfigError(
            f"{path}: state_machine_log_level must be one of {', '.join(STATE_MACHINE_LOG_LEVELS)}, "
            f"got {config.state_machine_log_level!r}"
        )
    if not LAMBDA_RUNTIME_PATTERN.fullmatch(config.lambda_runtime):
        raise PlatformConfigError(f"{path}: lambda_runtime must be like 'python3.11', got {config.lambda_runtime!r}")
    if config.log_retention_days not in LOG_RETENTION_DAYS:
        raise PlatformConfigError(
            f"{path}: log_retention_days must be one CloudWatch Logs accepts "
            f"({', '.join(map(str, LOG_RETENTION_DAYS))}), got {config.log_retention_days}"
        )
    if not (config.app_dir(config.platform_app) / "app.py").is_file():
        raise PlatformConfigError(f"{path}: platform_app folder {config.platform_app!r} has no app.py")
    prefixes = [workload.prefix for workload in config.workloads.values()]
    if len(set(prefixes)) != len(prefixes):
        raise PlatformConfigError(f"{path}: two workloads share a prefix ({', '.join(sorted(prefixes))})")
    return check_overrides(config)


def check_overrides(config: PlatformConfig) -> PlatformConfig:
    """Check the values that overrides can change (the region is checked against AWS's partitions)."""
    if not PLATFORM_NAME_PATTERN.fullmatch(config.platform):
        raise PlatformConfigError(f"platform name must match {PLATFORM_NAME_PATTERN.pattern}, got {config.platform!r}")
    try:
        validate_table_name(config.table)
    except InvalidLeaseRequest as exc:
        raise PlatformConfigError(str(exc)) from None
    if not STAGE_PATTERN.fullmatch(config.stage):
        raise PlatformConfigError(
            f"stage must be a lower-case name of up to 20 letters, digits or '_', got {config.stage!r}"
        )
    partition_of(config.region)
    return config


def with_overrides(
    config: PlatformConfig,
    *,
    region: str | None = None,
    table: str | None = None,
    stage: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> PlatformConfig:
    """Apply flag values, else the REGION/TABLE/STAGE environment variables, and check the result."""
    environment = environment or {}
    changes = {
        key: value
        for key, value in {
            "region": region if region is not None else environment.get("REGION") or None,
            "table": table if table is not None else environment.get("TABLE") or None,
            "stage": stage if stage is not None else environment.get("STAGE") or None,
        }.items()
        if value is not None
    }
    return check_overrides(replace(config, **changes)) if changes else config
