"""Least privilege, checked over every checked-in policy and every rendered role, with parliament as linter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from lease_core import LeaseSemaphore
from lease_core.ended_runs import EndedRun, record
from lease_core.execution_cleanup import settle_run
from lease_core.item_layout import WIDE_ABOVE_CAP, holder_key
from lease_core.lease_table import LeaseTable
from lease_core.reconciler import Reconciler
from lease_core.task_callbacks import serve_waiting
from lease_core.waiting_room import WaitingRoom
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.config.platform_config import load_platform_config
from lease_ops.definitions.workflow_builder import LeaseFunctions
from lease_ops.provisioning.workflows import invoke_policy, invoked_functions, render_definition
from tests.helpers import REGION, TABLE, arn

POLICY_FILES = sorted(REPOSITORY_ROOT.glob("*_app/.chalice/policy-*.json"))
# parliament 1.6.4's IAM data lists only the Express execution resource for states:DescribeExecution;
# the action also takes Standard execution ARNs (arn:...:execution:...), which is what the platform app and a
# handoff workload ask about when a waiter's wait closed (lease_core.task_callbacks.still_running).
KNOWN_FALSE_POSITIVES = {("lease_app", "RESOURCE_MISMATCH", "states:DescribeExecution")}


# Actions AWS gives no resource-level permissions: IAM accepts only "*" as their resource.
RESOURCE_STAR_ONLY = {"states:SendTaskSuccess"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(document["Statement"])


def rendered_role_policies() -> dict[str, dict[str, Any]]:
    config = load_platform_config()
    policies = {}
    for name, workload in config.workloads.items():
        app_name = workload.chalice_config()["app_name"]
        functions = LeaseFunctions(
            *(arn("lambda", f"function:{app_name}-dev-{f}") for f in ("acquire", "release", "renew", "process"))
        )
        policies[name] = invoke_policy(invoked_functions(render_definition(config, workload, functions, "aws")))
    return policies


def test_there_is_a_checked_in_policy_for_every_app_and_the_process_functions() -> None:
    config = load_platform_config()
    workload_policies = {
        f"{workload.app}/.chalice/{name}"
        for workload in config.workloads.values()
        for name in ("policy-dev.json", "policy-dev-process.json")
    }
    assert {str(path.relative_to(REPOSITORY_ROOT)) for path in POLICY_FILES} == {
        f"{config.platform_app}/.chalice/policy-dev.json",
        *workload_policies,
    }
    assert {"analytics_app/.chalice/policy-dev-process.json", "batch_app/.chalice/policy-dev.json"} <= workload_policies


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda path: str(path.relative_to(REPOSITORY_ROOT)))
def test_no_policy_allows_every_action_or_every_resource(path: Path) -> None:
    for statement in statements(json.loads(path.read_text())):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions)
        if not set(actions) <= RESOURCE_STAR_ONLY:
            assert "*" not in as_list(statement["Resource"]), statement


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda path: str(path.relative_to(REPOSITORY_ROOT)))
def test_parliament_finds_nothing_wrong_with_the_checked_in_policies(path: Path) -> None:
    app = path.parts[-3]
    findings = analyze_policy_string(path.read_text()).findings
    unexpected = [
        (finding.issue, finding.detail)
        for finding in findings
        if not any(
            (app, finding.issue, detail.get("action")) in KNOWN_FALSE_POSITIVES
            for detail in (finding.detail if isinstance(finding.detail, list) else [{}])
        )
    ]
    assert unexpected == []


@pytest.mark.parametrize(("app", "prefix"), [("analytics_app", "analytics"), ("batch_app", "batch")])
def test_a_workload_may_touch_only_its_own_prefix_and_its_process_may_only_read_it(app: str, prefix: str) -> None:
    chalice_dir = REPOSITORY_ROOT / app / ".chalice"
    lease = statements(json.loads((chalice_dir / "policy-dev.json").read_text()))
    process = statements(json.loads((chalice_dir / "policy-dev-process.json").read_text()))

    dynamodb = [s for s in lease if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert [s["Condition"] for s in dynamodb] == [
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}#*"]}}
    ]
    process_dynamodb = [s for s in process if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert [(as_list(s["Action"]), s["Condition"]) for s in process_dynamodb] == [
        (["dynamodb:GetItem"], {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}#*"]}})
    ]


def test_each_workflow_role_invokes_only_its_own_workloads_functions() -> None:
    for name, policy in rendered_role_policies().items():
        (statement,) = statements(policy)
        assert statement["Action"] == "lambda:InvokeFunction"
        assert all(f":function:shared-lease-platform-{name}-dev-" in arn for arn in statement["Resource"])
        assert analyze_policy_string(json.dumps(policy)).findings == []


def test_parliament_would_catch_a_wildcard_or_a_misspelt_action() -> None:
    wildcard = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}
    misspelt = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:UpdateItm", "Resource": "arn:aws:dynamodb:eu-central-1:*:table/t"}
        ],
    }
    assert {f.issue for f in analyze_policy_string(json.dumps(wildcard)).findings} >= {"RESOURCE_STAR"}
    assert "UNKNOWN_ACTION" in {f.issue for f in analyze_policy_string(json.dumps(misspelt)).findings}


def test_handoff_mode_adds_the_queue_actions_on_the_own_prefix_and_send_task_success_and_nothing_else() -> None:
    from lease_ops.config.app_config import lease_functions_policy

    names = dict(partition="aws", region=REGION, table=TABLE, prefix="batch")
    poll = lease_functions_policy(**names, app_name="shared-lease-platform-batch", stage="dev")
    handoff = lease_functions_policy(
        **names,
        app_name="shared-lease-platform-batch",
        stage="dev",
        wait_mode="handoff",
        state_machine="shared-lease-platform-dev-batch-workflow",
    )

    (table,) = [s for s in statements(handoff) if s["Sid"] == "LeasesOfThisWorkloadOnly"]
    assert table["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["batch#*"]}}
    # Poll mode already reads (a re-poll reads before it writes) and deletes (a lease item of the wide layout);
    # handoff adds the queue's items.
    assert set(table["Action"]) - set(statements(poll)[0]["Action"]) == {
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
    }
    added = [s for s in statements(handoff) if s not in statements(poll) and s is not table]
    assert added == [
        {"Sid": "HandSlotsToWaitingTasks", "Effect": "Allow", "Action": ["states:SendTaskSuccess"], "Resource": "*"},
        {
            "Sid": "TellTimedOutWaitersFromDeadOnes",
            "Effect": "Allow",
            "Action": ["states:DescribeExecution"],
            "Resource": f"arn:aws:states:{REGION}:*:execution:shared-lease-platform-dev-batch-workflow:*",
        },
    ]
    findings = analyze_policy_string(json.dumps(handoff)).findings
    assert [(f.issue, [d.get("action") for d in f.detail]) for f in findings] == [
        ("RESOURCE_MISMATCH", ["states:DescribeExecution"])  # the known false positive, see above
    ]


class RecordingClient:
    """Passes DynamoDB calls through and records the IAM action of each (a transaction: of each of its items)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.actions: set[str] = set()

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self._client, operation)

        def call(**request: Any) -> Any:
            if operation == "transact_write_items":
                for item in request["TransactItems"]:
                    self.actions |= {
                        "dynamodb:" + {"ConditionCheck": "ConditionCheckItem"}.get(k, k + "Item") for k in item
                    }
            else:
                self.actions.add("dynamodb:" + "".join(part.title() for part in operation.split("_")))
            return method(**request)

        return call


def test_the_platform_policy_allows_exactly_the_dynamodb_actions_its_cleanup_sweeper_and_api_use(dynamodb: Any) -> None:
    class TellsEveryWaiter:
        def send_task_success(self, **request: Any) -> dict[str, Any]:
            return {}

    stopped = arn("states", "execution:wf:stopped")
    workload = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "batch", initial_cap=2)
    workload.acquire(stopped + "#0")
    workload.acquire("another")
    WaitingRoom(workload).enqueue(stopped + "#0/1", "token-of-the-stopped-run")  # a Map iteration of that run
    WaitingRoom(workload).enqueue("waiting", "token")
    # A wide-layout prefix with a slot free and two queued (as when a release lands while they queue): the
    # platform admits them together, reading their index items in one BatchGetItem.
    wide = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "wide", initial_cap=WIDE_ABOVE_CAP + 1)
    wide.set_cap(WIDE_ABOVE_CAP + 1)
    WaitingRoom(wide).enqueue("first-in-line", "token-1")
    WaitingRoom(wide).enqueue("second-in-line", "token-2")
    recording = RecordingClient(dynamodb)
    platform = LeaseTable(recording, DEFAULT_TABLE_NAME)
    now = int(platform.clock())

    # The reclaim Lambda: record the stopped run, release its lease and drop its queue place, serve the queue.
    record(platform.table, EndedRun(stopped, 0, "FAILED", now), now=now)
    settle_run(platform, stopped, status="FAILED", stopped_at=now)
    serve_waiting(platform, TellsEveryWaiter())
    Reconciler(platform).sweep()  # the sweeper
    platform.semaphore("batch").set_cap(3, create=False)  # the admin API
    assert platform.semaphore("batch").release("waiting").held

    (statement,) = [
        s
        for s in statements(json.loads((REPOSITORY_ROOT / "lease_app/.chalice/policy-dev.json").read_text()))
        if s["Sid"] == "EveryPrefixOfTheLeaseTable"
    ]
    assert "dynamodb:PutItem" in recording.actions  # lease_core.ended_runs records each stopped run
    assert wide.inspect().holders.keys() == {holder_key("first-in-line"), holder_key("second-in-line")}
    assert recording.actions == set(statement["Action"])
