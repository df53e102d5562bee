"""Bad holders, events and configuration are refused with InvalidLeaseRequest, before any AWS call."""

from __future__ import annotations

from typing import Any

import pytest

from lease_core import InvalidLeaseRequest, LeaseSemaphore, MustWait
from lease_core.lambda_functions import holder_from_event
from lease_core.settings import LeaseSettings, current_environment, invocation_environment
from tests.helpers import TABLE, NoCallsClient, lease_semaphore

GOOD_ENVIRONMENT = {
    "LEASE_TABLE_NAME": TABLE,
    "LEASE_PREFIX": "analytics",
    "LEASE_MAX_CONCURRENCY": "15",
    "LEASE_TTL_SECONDS": "600",
}


def semaphore() -> LeaseSemaphore:
    return lease_semaphore(NoCallsClient(), cap=5)


@pytest.mark.parametrize(
    ("holder", "message"),
    [
        (None, "must be a string"),
        (42, "must be a string"),
        (["arn"], "must be a string"),
        ("", "empty string"),
        ("x" * 257, "at most 256"),
        ("arn:aws:states:x\n", "printable"),
        ("tab\there", "printable"),
        ("nul\x00", "printable"),
    ],
)
def test_a_bad_holder_is_refused_with_a_message_saying_what_is_expected(holder: Any, message: str) -> None:
    for operation in ("acquire", "release", "renew"):
        with pytest.raises(InvalidLeaseRequest, match=message):
            getattr(semaphore(), operation)(holder)


@pytest.mark.parametrize(
    "holder", ["a", "x" * 256, "arn:aws:states:eu-central-1:1:execution:wf:run/3", "ünïcødé ✓", "../batch#semaphore"]
)
def test_printable_holders_up_to_256_characters_are_accepted(holder: str) -> None:
    from lease_core.validation import validate_holder

    assert validate_holder(holder) == holder


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "must be a JSON object"),
        ("arn", "must be a JSON object"),
        ([{"holder": "a"}], "must be a JSON object"),
        ({}, 'missing "holder"'),
        ({"Holder": "a"}, "unknown keys"),
        ({"holder": "a", "extra": 1}, "unknown keys"),
    ],
)
def test_an_unknown_event_shape_is_refused(event: Any, message: str) -> None:
    with pytest.raises(InvalidLeaseRequest, match=message):
        holder_from_event(event)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"LEASE_TABLE_NAME": ""}, "missing LEASE_TABLE_NAME"),
        ({"LEASE_PREFIX": "   "}, "missing LEASE_PREFIX"),
        ({"LEASE_PREFIX": "Analytics"}, "prefix must match"),
        ({"LEASE_PREFIX": "analytics#x"}, "prefix must match"),
        ({"LEASE_PREFIX": "analytics\n"}, "prefix must match"),
        ({"LEASE_PREFIX": "a" * 49}, "prefix must match"),
        ({"LEASE_MAX_CONCURRENCY": "0"}, "LEASE_MAX_CONCURRENCY must be a whole number from 1"),
        ({"LEASE_MAX_CONCURRENCY": "-3"}, "LEASE_MAX_CONCURRENCY must be a whole number"),
        ({"LEASE_MAX_CONCURRENCY": "1001"}, "LEASE_MAX_CONCURRENCY must be a whole number from 1 to 1000"),
        ({"LEASE_TTL_SECONDS": "10.5"}, "LEASE_TTL_SECONDS must be a whole number"),
        ({"LEASE_TTL_SECONDS": "ten"}, "LEASE_TTL_SECONDS must be a whole number"),
        ({"LEASE_TABLE_NAME": "no spaces allowed"}, "table name must be"),
    ],
)
def test_a_malformed_lease_configuration_names_the_variable_and_what_is_expected(
    changes: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidLeaseRequest, match=message):
        LeaseSettings.from_environment({**GOOD_ENVIRONMENT, **changes})


def test_a_missing_variable_is_reported_with_where_to_set_it() -> None:
    environment = {key: value for key, value in GOOD_ENVIRONMENT.items() if key != "LEASE_TTL_SECONDS"}
    with pytest.raises(InvalidLeaseRequest, match=r"missing LEASE_TTL_SECONDS.*\.chalice/config\.json"):
        LeaseSettings.from_environment(environment)


def test_a_good_configuration_is_parsed_into_typed_settings() -> None:
    settings = LeaseSettings.from_environment(GOOD_ENVIRONMENT)
    assert settings == LeaseSettings(TABLE, "analytics", 15, 600)


def test_an_invocation_environment_overrides_the_process_environment_only_inside_its_block() -> None:
    with invocation_environment({"LEASE_PREFIX": "batch"}):
        assert current_environment()["LEASE_PREFIX"] == "batch"
    assert current_environment().get("LEASE_PREFIX") != "batch"


@pytest.mark.parametrize("cap", [0, -1, 1001, 2.5, "5", True, None])
def test_set_cap_refuses_anything_but_a_whole_number_from_1_to_1000(cap: Any) -> None:
    with pytest.raises(InvalidLeaseRequest, match="cap must be a whole number from 1 to 1000"):
        semaphore().set_cap(cap)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prefix": "BAD"}, "prefix must match"),
        ({"table_name": "x"}, "table name"),
        ({"ttl_seconds": 0}, "ttl_seconds must be a whole number of seconds"),
        ({"initial_cap": 0}, "cap must be"),
    ],
)
def test_a_semaphore_cannot_be_built_from_bad_settings(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"table_name": TABLE, "prefix": "analytics", **options}
    with pytest.raises(InvalidLeaseRequest, match=message):
        LeaseSemaphore(
            NoCallsClient(),
            arguments.pop("table_name"),
            arguments.pop("prefix"),
            **arguments,
        )


# -- waiting_since: the poll-mode acquire's $$.Execution.StartTime -----------------------------------
# Step Functions writes it in ISO 8601, e.g. "2019-03-26T20:14:13.192Z"
# (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).


@pytest.mark.parametrize(
    ("since", "epoch"),
    [
        ("2019-03-26T20:14:13.192Z", 1553631253.192),
        ("2019-03-26T20:14:13Z", 1553631253.0),
        ("2019-03-26T20:14:13.123456789Z", 1553631253.123456),
    ],
)
def test_waiting_since_is_read_as_the_utc_instant_step_functions_wrote(since: str, epoch: float) -> None:
    from lease_core.wait_time import parse_waiting_since

    assert parse_waiting_since(since) == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize(
    "since",
    [
        None,
        1553631253.192,
        True,
        ["2019-03-26T20:14:13.192Z"],
        "",
        "2019-03-26",
        "2019-03-26T20:14:13.192",  # no time zone
        "2019-03-26T20:14:13.192+02:00",  # not UTC, as Step Functions never writes it
        "2019-03-26T20:14:13.192+00:00",  # UTC, but not as Step Functions writes it
        "2019-03-26 20:14:13.192Z",
        "2019-03-26T20:14:13.Z",
        "2019-03-26T20:14:13.1234567890Z",
        "2019-13-26T20:14:13.192Z",
        "2019-02-30T20:14:13.192Z",
        "2019-03-26T25:14:13.192Z",
        "\uff12\uff10\uff11\uff19-03-26T20:14:13.192Z",  # fullwidth digits: digits, but not ASCII ones
        "2019-03-26T20:14:13.192Z\n",
        " 2019-03-26T20:14:13.192Z",
        "x" * 1_000_000,
    ],
    ids=lambda value: repr(value)[:32],
)
def test_a_waiting_since_that_is_not_an_iso_8601_utc_timestamp_is_refused(since: Any) -> None:
    from lease_core.wait_time import parse_waiting_since

    with pytest.raises(InvalidLeaseRequest, match=r"waiting_since must be .*\$\$\.Execution\.StartTime"):
        parse_waiting_since(since)


def test_only_acquire_takes_waiting_since() -> None:
    from lease_core.lambda_functions import ACQUIRE_EVENT_KEYS

    event = {"holder": "a", "waiting_since": "2019-03-26T20:14:13.192Z"}
    assert holder_from_event(event, ACQUIRE_EVENT_KEYS) == "a"
    with pytest.raises(InvalidLeaseRequest, match="unknown keys"):
        holder_from_event(event)  # release and renew
    with pytest.raises(InvalidLeaseRequest, match="unknown keys"):
        holder_from_event({**event, "waited_since": 1}, ACQUIRE_EVENT_KEYS)


def test_the_time_waited_is_in_whole_seconds_and_never_negative() -> None:
    from lease_core.wait_time import seconds_waited

    assert seconds_waited(100.0, 399.999) == 299
    assert seconds_waited(100.5, 400.5) == 300
    assert seconds_waited(100.0, 99.0) == 0  # the Lambda's clock behind Step Functions'


def test_a_wait_answer_says_how_long_it_waited_only_when_it_knows() -> None:
    assert MustWait(5, 5).as_event() == {"status": "wait", "active": 5, "cap": 5}
    assert MustWait(5, 5, waited=301).as_event() == {"status": "wait", "active": 5, "cap": 5, "waited": 301}
