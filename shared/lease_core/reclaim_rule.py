"""The event pattern of the reclaim rule: failed, timed-out or aborted executions of this stage's workflows.

The platform app learns its stage's state machines from its environment (``make deploy`` writes them into
its ``.chalice/config.json``; Chalice loads a stage's environment before it reads the app, for deploy and
package alike). Each is matched by name with EventBridge's wildcard filter
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-create-pattern-operators-wildcard),
whatever the partition, region and account in its ARN: a rule hears only its own account's events in its own
region. Without names the rule matches no execution at all, rather than every state machine in the account;
the sweeper still reclaims expired leases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATE_MACHINES_VARIABLE = "LEASE_STATE_MACHINES"
FAILED_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"]


def state_machine_names(environment: Mapping[str, str]) -> list[str]:
    return [name for name in environment.get(STATE_MACHINES_VARIABLE, "").split(",") if name]


def execution_ended_pattern(names: list[str]) -> dict[str, Any]:
    """Step Functions status changes to a failed status, of the named state machines only."""
    if names:
        machines: list[dict[str, Any]] = [{"wildcard": f"arn:*:states:*:*:stateMachine:{name}"} for name in names]
    else:
        machines = [{"exists": False}]  # every status change names its state machine: matches none
    return {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": FAILED_STATUSES, "stateMachineArn": machines},
    }
