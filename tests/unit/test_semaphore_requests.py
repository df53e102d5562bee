"""The exact DynamoDB requests the semaphore sends, checked with botocore's Stubber."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from lease_core import Acquired, LeaseLost, LeaseSemaphore, LeaseStoreUnavailable, MustWait, UnknownPrefix
from lease_core.item_layout import DIGEST_CHARACTERS, EPOCH, Entry, expired_at_most, holder_key, run_key, semaphore_key
from tests.helpers import NOW, REGION, TABLE, arn, aws_client, lease_semaphore, map_layout_item

ARN = arn("states", "execution:wf:run-1")
HOLDER = f"{ARN}#0"
# The digest of the run: the table never sees the execution ARN.
KEY = run_key(ARN, 0)


def make_semaphore(client: Any) -> LeaseSemaphore:
    return lease_semaphore(client, cap=2, clock=NOW)


@pytest.fixture
def stubbed() -> Any:
    client = aws_client("dynamodb")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def admission_request() -> dict[str, Any]:
    return {
        "TableName": TABLE,
        "Key": semaphore_key("analytics"),
        "UpdateExpression": "SET #h.#k = :lease",
        "ConditionExpression": (
            "attribute_exists(#h.#k) OR (attribute_exists(#h) AND size(#h) < #cap AND attribute_not_exists(#legacy))"
        ),
        "ExpressionAttributeNames": {"#h": "h", "#cap": "cap", "#legacy": "holders", "#k": KEY},
        "ExpressionAttributeValues": {":lease": Entry(NOW + 600).packed()},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def release_request() -> dict[str, Any]:
    return {
        "TableName": TABLE,
        "Key": semaphore_key("analytics"),
        "UpdateExpression": "REMOVE #h.#k",
        "ConditionExpression": (
            "attribute_exists(#h.#k) AND ((attribute_not_exists(#waiting) OR #waiting <= :zero) OR size(#h) > #cap)"
        ),
        "ExpressionAttributeNames": {"#h": "h", "#cap": "cap", "#waiting": "waiting", "#k": KEY},
        "ExpressionAttributeValues": {":zero": {"N": "0"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def semaphore_item(cap: int, holders: dict[str, int]) -> dict[str, Any]:
    """A semaphore item whose holders (by holder key) expire at the given times, each taken by itself (grant 0)."""
    return map_layout_item(cap, {key: Entry(expires_at) for key, expires_at in holders.items()})


def condition_failure(stubber: Stubber, item: dict[str, Any] | None) -> None:
    stubber.add_client_error(
        "update_item",
        service_error_code="ConditionalCheckFailedException",
        http_status_code=400,
        modeled_fields={"Item": item} if item is not None else None,
    )


def test_acquire_with_a_free_slot_sends_exactly_one_conditional_write(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("update_item", {}, admission_request())

    result = make_semaphore(client).acquire(HOLDER)

    assert result == Acquired(HOLDER, "analytics", NOW + 600)


def test_requests_name_the_holder_by_its_key_and_never_send_the_holder_id(stubbed: Any) -> None:
    client, stubber = stubbed
    sent: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.dynamodb.*", lambda params, **_: sent.append(params))
    stubber.add_response("update_item", {}, admission_request())
    stubber.add_response("update_item", {}, release_request())

    leases = make_semaphore(client)
    leases.acquire(HOLDER)
    assert leases.release(HOLDER).held

    assert holder_key(HOLDER) == KEY and len(KEY) == DIGEST_CHARACTERS
    assert len(sent) == 2 and not any(ARN in repr(request) or "run-1" in repr(request) for request in sent)


def test_release_with_nobody_waiting_is_one_write_conditional_on_the_queue_being_empty(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("update_item", {}, release_request())

    assert make_semaphore(client).release(HOLDER).as_event() == {"status": "released"}


def test_release_of_an_exact_lease_is_conditional_on_its_whole_packed_entry(stubbed: Any) -> None:
    client, stubber = stubbed
    exact = Entry(NOW + 30, 4321)
    request = release_request()
    request["ConditionExpression"] = request["ConditionExpression"].replace("attribute_exists(#h.#k)", "#h.#k = :exact")
    request["ExpressionAttributeValues"][":exact"] = {"N": str((NOW + 30 - EPOCH) * 10_000 + 4321)}
    stubber.add_response("update_item", {}, request)

    assert make_semaphore(client).release(HOLDER, exact=exact).held


def test_release_of_an_exact_lease_the_holder_took_again_answers_not_held(stubbed: Any) -> None:
    client, stubber = stubbed
    condition_failure(stubber, semaphore_item(2, {KEY: NOW + 600}))  # it holds, but not the handed-over lease

    assert not make_semaphore(client).release(HOLDER, exact=Entry(NOW + 30, 4321)).held


def test_a_semaphore_in_the_earlier_layout_admits_nobody_and_says_to_run_make_bootstrap(stubbed: Any) -> None:
    client, stubber = stubbed
    legacy = {**semaphore_key("analytics"), "cap": {"N": "2"}, "holders": {"M": {}}}
    condition_failure(stubber, legacy)

    with pytest.raises(LeaseStoreUnavailable, match="make bootstrap"):
        make_semaphore(client).acquire(HOLDER)


def test_acquire_on_a_full_semaphore_answers_wait_after_one_write_and_no_read(stubbed: Any) -> None:
    client, stubber = stubbed
    condition_failure(stubber, semaphore_item(2, {"a": NOW + 10, "b": NOW + 20}))

    result = make_semaphore(client).acquire(HOLDER)

    assert result == MustWait(active=2, cap=2)


def test_acquire_reclaims_an_expired_holder_in_the_same_write_that_admits(stubbed: Any) -> None:
    client, stubber = stubbed
    condition_failure(stubber, semaphore_item(2, {"gone": NOW - 1, "live": NOW + 20}))
    stubber.add_response(
        "update_item",
        {},
        {
            "TableName": TABLE,
            "Key": semaphore_key("analytics"),
            "UpdateExpression": "SET #h.#k = :lease REMOVE #h.#e0",
            "ConditionExpression": "#cap = :cap AND size(#h) = :size AND #h.#e0 <= :expired",
            "ExpressionAttributeNames": {"#h": "h", "#cap": "cap", "#k": KEY, "#e0": "gone"},
            "ExpressionAttributeValues": {
                ":lease": Entry(NOW + 600).packed(),
                ":cap": {"N": "2"},
                ":size": {"N": "2"},
                ":expired": expired_at_most(NOW),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )

    assert make_semaphore(client).acquire(HOLDER) == Acquired(HOLDER, "analytics", NOW + 600)


def test_acquire_on_a_new_prefix_creates_the_semaphore_without_overwriting_a_cap(stubbed: Any) -> None:
    client, stubber = stubbed
    condition_failure(stubber, None)
    stubber.add_response(
        "update_item",
        {},
        {
            "TableName": TABLE,
            "Key": semaphore_key("analytics"),
            "UpdateExpression": "SET #cap = :cap, #h = :empty",
            "ConditionExpression": "attribute_not_exists(#cap)",
            "ExpressionAttributeNames": {"#cap": "cap", "#h": "h"},
            "ExpressionAttributeValues": {":cap": {"N": "2"}, ":empty": {"M": {}}},
        },
    )
    stubber.add_response("update_item", {}, admission_request())

    assert make_semaphore(client).acquire(HOLDER) == Acquired(HOLDER, "analytics", NOW + 600)


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_a_dynamodb_error_becomes_lease_store_unavailable_never_a_status(stubbed: Any, code: str) -> None:
    client, stubber = stubbed
    stubber.add_client_error("update_item", service_error_code=code, http_status_code=500)

    with pytest.raises(LeaseStoreUnavailable, match=code):
        make_semaphore(client).acquire(HOLDER)


def test_a_missing_table_becomes_lease_store_unavailable_naming_the_table(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_client_error("update_item", service_error_code="ResourceNotFoundException", http_status_code=400)

    with pytest.raises(LeaseStoreUnavailable, match=TABLE):
        make_semaphore(client).release(HOLDER)


class _UnreachableClient:
    """A client whose every call fails below the HTTP layer, as botocore does after its retries."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def update_item(self, **_: Any) -> None:
        raise self.error

    get_item = update_item


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url=f"https://dynamodb.{REGION}.amazonaws.com"),
        ReadTimeoutError(endpoint_url=f"https://dynamodb.{REGION}.amazonaws.com"),
    ],
)
def test_a_network_failure_becomes_lease_store_unavailable(error: Exception) -> None:
    semaphore = make_semaphore(_UnreachableClient(error))
    for operation in (semaphore.acquire, semaphore.release, semaphore.renew):
        with pytest.raises(LeaseStoreUnavailable):
            operation(HOLDER)


def test_renew_of_a_holder_that_does_not_hold_raises_lease_lost(stubbed: Any) -> None:
    client, stubber = stubbed
    condition_failure(stubber, semaphore_item(2, {}))

    with pytest.raises(LeaseLost, match="holds no lease"):
        make_semaphore(client).renew(HOLDER)


def test_release_of_a_holder_that_does_not_hold_answers_not_held(stubbed: Any) -> None:
    client, stubber = stubbed
    condition_failure(stubber, semaphore_item(2, {}))

    assert make_semaphore(client).release(HOLDER).as_event() == {"status": "not_held"}


def test_inspect_of_a_prefix_never_used_raises_unknown_prefix(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "get_item", {}, {"TableName": TABLE, "Key": semaphore_key("analytics"), "ConsistentRead": True}
    )

    with pytest.raises(UnknownPrefix):
        make_semaphore(client).inspect()


def test_set_cap_reports_the_old_and_new_cap(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("update_item", {"Attributes": {"cap": {"N": "15"}}})

    change = make_semaphore(client).set_cap(3)

    assert (change.old, change.new) == (15, 3)


def test_a_write_that_meets_a_transaction_in_progress_is_tried_again_and_then_succeeds(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_client_error("update_item", service_error_code="TransactionConflictException", http_status_code=400)
    stubber.add_response("update_item", {}, admission_request())

    assert make_semaphore(client).acquire(HOLDER) == Acquired(HOLDER, "analytics", NOW + 600)


def test_a_write_that_keeps_meeting_transactions_becomes_lease_store_unavailable(stubbed: Any) -> None:
    from lease_core.store import CONFLICT_ATTEMPTS

    client, stubber = stubbed
    for _ in range(CONFLICT_ATTEMPTS):
        stubber.add_client_error("update_item", service_error_code="TransactionConflictException", http_status_code=400)

    with pytest.raises(LeaseStoreUnavailable, match="TransactionConflictException"):
        make_semaphore(client).acquire(HOLDER)
