"""`python -m lease_ops fragments`: a workload's lease states as ASL JSON, for a team's own state machine.

Teams write their state machines in CDK, Terraform or SAM and want the lease around one step of them.
The states printed here are ``workflow_builder.lease_fragments`` with the workload's functions, wait mode
and waits: the very objects ``render_definition`` assembles our own workflow from, so a splice runs what
our workflows run. The ``Contract`` beside them says where to enter, where the work goes and where its
errors go (docs/fragments.md).
"""

from __future__ import annotations

from typing import Any

from lease_ops.aws.aws_target import AwsTarget
from lease_ops.config.platform_config import PlatformConfig, WorkloadConfig
from lease_ops.definitions.deployed_functions import resolve_functions
from lease_ops.definitions.workflow_builder import COMPLETE, LeaseStates, fragment_contract, lease_fragments
from lease_ops.errors import OperatorError
from lease_ops.provisioning.workflows import lease_states, process_lambda_timeout


class StateNameClash(OperatorError):
    """The work or the state after the release is named like one of the lease states."""


def fragments_document(
    states_of_workload: LeaseStates,
    workload: WorkloadConfig,
    *,
    work: str,
    after_release: str,
    drain_seconds: int | None,
) -> dict[str, Any]:
    """``{"Comment", "Contract", "States"}``: the lease states and how to splice them in."""
    shape = {"work": work, "after_release": after_release, "drain_seconds": drain_seconds}
    fragments = lease_fragments(states_of_workload, **shape)
    if work == after_release:
        raise StateNameClash(f"--work and --after-release are both {work!r}: the work would run again after Release")
    for role, name in (("--work", work), ("--after-release", after_release)):
        if name in fragments and not (role == "--after-release" and name == COMPLETE):
            raise StateNameClash(f"{role} {name!r} is the name of a lease state; choose another name")
    guarded = f"python -m lease_ops check DEFINITION.json --guarded {work}"
    return {
        "Comment": (
            f"Lease states of workload {workload.name} (prefix {workload.prefix!r}, wait mode "
            f"{states_of_workload.wait_mode}). Enter at Acquire; add your state {work!r} (CheckLease sends an "
            "acquired lease there), go on from your work to Release, give every task of it Contract.WorkCatch; "
            f"then `{guarded}`."
        ),
        "Contract": {**fragment_contract(states_of_workload, **shape), "Check": guarded},
        "States": fragments,
    }


def workload_fragments(
    target: AwsTarget,
    config: PlatformConfig,
    workload: WorkloadConfig,
    *,
    work: str,
    after_release: str,
    drain_seconds: int | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The fragments document of ``workload`` on ``target``, and the warnings of resolving its function ARNs.

    ``drain_seconds``: how long the work may run on after Step Functions gave up on it (default: the workload's
    process Lambda timeout, as our workflow keeps it); 0 leaves out WaitForProcessToStop.
    """
    if drain_seconds is None:
        drain_seconds = process_lambda_timeout(workload, config.stage)
    resolved = resolve_functions(
        workload,
        config.stage,
        region=target.region,
        account_id=target.account_id,
        partition=target.partition.name,
    )
    states = lease_states(workload, resolved.functions, target.partition.name)
    document = fragments_document(
        states, workload, work=work, after_release=after_release, drain_seconds=drain_seconds or None
    )
    return document, resolved.warnings
