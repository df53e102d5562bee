"""The local runner, state by state, against the Amazon States Language specification."""

from __future__ import annotations

from typing import Any

import pytest

from lease_ops.local_runner import FakeTimer, LocalRunner, StatesError, TaskContext, UnsupportedDefinition
from tests.helpers import arn

MACHINE = arn("states", "stateMachine:demo")
FUNCTION = arn("lambda", "function:demo-dev-work")


class ScriptedInvoker:
    """Answers each call with the next scripted step: a value to return or an exception to raise."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.calls: list[tuple[str, Any, TaskContext]] = []

    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        self.calls.append((function, payload, context))
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        return step(payload) if callable(step) else step


def run(
    states: dict[str, Any],
    execution_input: Any = None,
    *,
    invoker: Any = None,
    timer: Any = None,
    start: str | None = None,
) -> Any:
    definition = {"StartAt": start or next(iter(states)), "States": states}
    runner = LocalRunner(invoker or ScriptedInvoker({}), timer=timer or FakeTimer(), seed=1)
    return runner.run(MACHINE, definition, {} if execution_input is None else execution_input, name="run-1")


def task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": FUNCTION, "End": True, **fields}


def lambda_invoke(**fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FUNCTION, "Payload.$": "$"},
        "End": True,
        **fields,
    }


# -- paths and input/output processing -----------------------------------------------------------


def test_input_path_parameters_result_selector_result_path_output_path_apply_in_that_order() -> None:
    invoker = ScriptedInvoker(lambda payload: {"sum": payload["a"] + payload["b"], "noise": 1})
    state = task(
        InputPath="$.numbers",
        Parameters={"a.$": "$.first", "b.$": "$.second", "label": "fixed"},
        ResultSelector={"total.$": "$.sum"},
        ResultPath="$.result",
        OutputPath="$.result",
    )

    result = run({"Add": state}, {"numbers": {"first": 2, "second": 3}, "other": True}, invoker=invoker)

    assert invoker.calls[0][1] == {"a": 2, "b": 3, "label": "fixed"}
    assert (result.status, result.output) == ("SUCCEEDED", {"total": 5})


def test_result_path_applies_to_the_raw_input_not_the_input_path_selection() -> None:
    result = run(
        {"Work": task(InputPath="$.inner", ResultPath="$.out")},
        {"inner": {"x": 1}, "keep": 2},
        invoker=ScriptedInvoker("done"),
    )

    assert result.output == {"inner": {"x": 1}, "keep": 2, "out": "done"}


def test_a_null_result_path_discards_the_result_and_a_nested_one_creates_objects() -> None:
    discarded = run({"Work": task(ResultPath=None)}, {"keep": 1}, invoker=ScriptedInvoker("ignored"))
    nested = run({"Work": task(ResultPath="$.a.b.c")}, {"keep": 1}, invoker=ScriptedInvoker(7))

    assert discarded.output == {"keep": 1}
    assert nested.output == {"keep": 1, "a": {"b": {"c": 7}}}


def test_templates_resolve_nested_objects_lists_and_the_context_object() -> None:
    invoker = ScriptedInvoker("ok")
    parameters = {"who.$": "$$.Execution.Id", "nested": {"items": [{"v.$": "$.v"}, 3]}, "state.$": "$$.State.Name"}

    run({"Work": task(Parameters=parameters)}, {"v": "x"}, invoker=invoker)

    assert invoker.calls[0][1] == {
        "who": arn("states", "execution:demo:run-1"),
        "nested": {"items": [{"v": "x"}, 3]},
        "state": "Work",
    }


def test_a_path_that_matches_nothing_fails_the_execution_with_states_runtime_even_under_a_catch_all() -> None:
    state = task(Parameters={"x.$": "$.missing"}, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}])

    result = run({"Work": state, "Caught": {"Type": "Succeed"}}, {})

    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_the_lambda_invoke_integration_wraps_the_answer_in_payload() -> None:
    result = run(
        {"Call": lambda_invoke(ResultSelector={"answer.$": "$.Payload", "code.$": "$.StatusCode"})},
        {"q": 1},
        invoker=ScriptedInvoker({"a": 42}),
    )

    assert result.output == {"answer": {"a": 42}, "code": 200}


# -- the States.Format intrinsic -------------------------------------------------------------------
# https://states-language.net/spec.html (Appendix B) and
# https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html


def formatted(expression: str, execution_input: Any) -> Any:
    result = run({"P": {"Type": "Pass", "Parameters": {"out.$": expression}, "End": True}}, execution_input)
    return result.output["out"] if result.status == "SUCCEEDED" else (result.error, result.cause)


def test_states_format_writes_each_argument_in_its_natural_string_representation() -> None:
    execution_input = {"name": "Foo", "n": 3, "x": 2.5, "ok": True, "none": None}
    expression = "States.Format('{} {} {} {} {} {} {}', $.name, $.n, $.x, $.ok, $.none, 2020, 'lit')"

    assert formatted(expression, execution_input) == "Foo 3 2.5 true null 2020 lit"


def test_states_format_reads_the_context_object_and_nests() -> None:
    expression = "States.Format('{}/{}', States.Format('{}#{}', $$.Execution.Name, $$.Execution.RedriveCount), $.a)"

    assert formatted(expression, {"a": "b"}) == "run-1#0/b"


def test_states_format_takes_its_template_from_a_path_too() -> None:
    execution_input = {"template": "Hello, {}.", "name": "Arnav"}

    assert formatted("States.Format($.template, $.name)", execution_input) == "Hello, Arnav."


def test_escaped_braces_quotes_and_backslashes_in_a_literal_are_written_as_themselves() -> None:
    expression = "States.Format('\\{\\} it\\'s {} \\\\', $.name)"

    assert formatted(expression, {"name": "Foo"}) == "{} it's Foo \\"


def test_states_format_of_an_object_is_an_intrinsic_failure() -> None:
    error, cause = formatted("States.Format('{}', $.obj)", {"obj": {"a": 1}})

    assert error == "States.IntrinsicFailure" and "object or array" in cause


# -- retry ---------------------------------------------------------------------------------------


class Flaky(Exception):
    pass


def failing(times: int, error: str = "Flaky", then: Any = "ok") -> ScriptedInvoker:
    return ScriptedInvoker(*([StatesError(error, "boom")] * times), then)


def test_retry_waits_interval_times_backoff_rate_to_the_power_of_the_attempt() -> None:
    timer = FakeTimer()
    retrier = {"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 3}

    result = run({"Work": task(Retry=[retrier])}, invoker=failing(3), timer=timer)

    assert result.status == "SUCCEEDED"
    assert timer.sleeps == [2, 6, 18]


def test_retry_gives_up_after_max_attempts_and_the_error_fails_the_execution() -> None:
    timer = FakeTimer()
    invoker = failing(10)

    result = run({"Work": task(Retry=[{"ErrorEquals": ["Flaky"], "MaxAttempts": 2}])}, invoker=invoker, timer=timer)

    assert (result.status, result.error, result.cause) == ("FAILED", "Flaky", "boom")
    assert len(invoker.calls) == 3
    assert timer.sleeps == [1, 2]  # the defaults: IntervalSeconds 1, BackoffRate 2.0


def test_max_delay_caps_the_backoff_and_full_jitter_stays_between_zero_and_the_delay() -> None:
    capped, jittered = FakeTimer(), FakeTimer()
    base = {"ErrorEquals": ["Flaky"], "IntervalSeconds": 4, "BackoffRate": 2.0, "MaxAttempts": 4, "MaxDelaySeconds": 10}

    run({"Work": task(Retry=[base])}, invoker=failing(4), timer=capped)
    run({"Work": task(Retry=[{**base, "JitterStrategy": "FULL"}])}, invoker=failing(4), timer=jittered)

    assert capped.sleeps == [4, 8, 10, 10]
    assert all(0 <= got <= limit for got, limit in zip(jittered.sleeps, capped.sleeps, strict=True))
    assert jittered.sleeps != capped.sleeps


def test_only_the_first_matching_retrier_counts_and_max_attempts_zero_never_retries() -> None:
    never = {"ErrorEquals": ["Fatal"], "MaxAttempts": 0}
    everything = {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
    invoker = failing(1, error="Fatal")

    result = run({"Work": task(Retry=[never, everything])}, invoker=invoker)

    assert (result.status, result.error, len(invoker.calls)) == ("FAILED", "Fatal", 1)


def test_each_retrier_keeps_its_own_attempt_count() -> None:
    timer = FakeTimer()
    invoker = ScriptedInvoker(StatesError("A"), StatesError("B"), StatesError("A"), "ok")
    retriers = [
        {"ErrorEquals": ["A"], "IntervalSeconds": 1, "MaxAttempts": 2},
        {"ErrorEquals": ["B"], "IntervalSeconds": 10},
    ]

    result = run({"Work": task(Retry=retriers)}, invoker=invoker, timer=timer)

    assert result.status == "SUCCEEDED"
    assert timer.sleeps == [1, 10, 2]


# -- catch ---------------------------------------------------------------------------------------


def test_catch_with_result_path_keeps_the_input_and_adds_error_and_cause() -> None:
    state = task(Catch=[{"ErrorEquals": ["Flaky"], "ResultPath": "$.error", "Next": "Handled"}])
    handled = {"Type": "Pass", "End": True}

    result = run({"Work": state, "Handled": handled}, {"job": 1}, invoker=failing(1))

    assert result.output == {"job": 1, "error": {"Error": "Flaky", "Cause": "boom"}}


def test_catch_without_result_path_replaces_the_input_with_the_error() -> None:
    state = task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Handled"}])

    result = run({"Work": state, "Handled": {"Type": "Succeed"}}, {"job": 1}, invoker=failing(1))

    assert result.output == {"Error": "Flaky", "Cause": "boom"}


@pytest.mark.parametrize(
    ("error", "error_equals", "caught"),
    [
        ("Flaky", ["Flaky"], True),
        ("Flaky", ["Other"], False),
        ("Flaky", ["States.ALL"], True),
        ("Flaky", ["States.TaskFailed"], True),
        ("States.Timeout", ["States.TaskFailed"], False),
        ("States.Timeout", ["States.ALL"], True),
    ],
)
def test_catch_matches_error_names_as_the_specification_says(error: str, error_equals: list[str], caught: bool) -> None:
    state = task(Catch=[{"ErrorEquals": error_equals, "Next": "Handled"}])

    result = run({"Work": state, "Handled": {"Type": "Succeed"}}, invoker=failing(1, error=error))

    assert (result.status == "SUCCEEDED") is caught


def test_a_task_slower_than_its_timeout_fails_with_states_timeout() -> None:
    import time

    def slow(_: Any) -> str:
        time.sleep(0.5)
        return "late"

    state = task(TimeoutSeconds=0.05, Catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.e", "Next": "Timed"}])

    result = run({"Work": state, "Timed": {"Type": "Succeed"}}, invoker=ScriptedInvoker(slow))

    assert result.output["e"]["Error"] == "States.Timeout"


# -- choice, wait, pass, fail ----------------------------------------------------------------------


def choice_run(rule: dict[str, Any], data: Any, default: bool = True) -> Any:
    choice = {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}]}
    if default:
        choice["Default"] = "No"
    states = {
        "Decide": choice,
        "Yes": {"Type": "Pass", "Result": "yes", "End": True},
        "No": {"Type": "Pass", "Result": "no", "End": True},
    }
    return run(states, data)


@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        ({"Variable": "$.status", "StringEquals": "acquired"}, {"status": "acquired"}, "yes"),
        ({"Variable": "$.status", "StringEquals": "acquired"}, {"status": "wait"}, "no"),
        ({"Variable": "$.done", "BooleanEquals": True}, {"done": True}, "yes"),
        ({"Variable": "$.done", "BooleanEquals": True}, {"done": "true"}, "no"),
        ({"Variable": "$.n", "NumericGreaterThan": 3}, {"n": 4}, "yes"),
        ({"Variable": "$.n", "NumericLessThanEqualsPath": "$.limit"}, {"n": 4, "limit": 4}, "yes"),
        ({"Variable": "$.name", "StringMatches": "log-*.txt"}, {"name": "log-1.txt"}, "yes"),
        ({"Variable": "$.x", "IsPresent": False}, {}, "yes"),
        (
            {"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Not": {"Variable": "$.b", "StringEquals": "x"}}]},
            {"a": 1, "b": "y"},
            "yes",
        ),
        ({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.a", "IsNull": True}]}, {"a": None}, "yes"),
    ],
)
def test_choice_rules_compare_as_the_specification_says(rule: dict[str, Any], data: Any, expected: str) -> None:
    assert choice_run(rule, data).output == expected


def test_a_choice_without_a_match_or_default_fails_with_no_choice_matched() -> None:
    result = choice_run({"Variable": "$.s", "StringEquals": "x"}, {"s": "y"}, default=False)
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_a_comparison_on_a_missing_variable_fails_with_states_runtime() -> None:
    assert choice_run({"Variable": "$.missing", "StringEquals": "x"}, {}).error == "States.Runtime"


def test_wait_lets_its_seconds_pass_on_the_timer_and_passes_its_input_through() -> None:
    timer = FakeTimer()
    states = {
        "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Again"},
        "Again": {"Type": "Wait", "SecondsPath": "$.delay", "End": True},
    }

    result = run(states, {"delay": 7}, timer=timer)

    assert timer.sleeps == [5, 7]
    assert result.output == {"delay": 7}


def test_pass_injects_its_result_or_its_parameters() -> None:
    states = {
        "Set": {"Type": "Pass", "Result": {"cursor": 0}, "ResultPath": "$.progress", "Next": "Shape"},
        "Shape": {"Type": "Pass", "Parameters": {"c.$": "$.progress.cursor"}, "End": True},
    }

    assert run(states, {"x": 1}).output == {"c": 0}


def test_fail_reports_its_error_and_cause_fixed_or_from_paths() -> None:
    fixed = run({"Stop": {"Type": "Fail", "Error": "Broken", "Cause": "because"}})
    from_paths = run(
        {"Stop": {"Type": "Fail", "ErrorPath": "$.e.Error", "CausePath": "$.e.Cause"}},
        {"e": {"Error": "LeaseLost", "Cause": "gone"}},
    )

    assert (fixed.status, fixed.error, fixed.cause) == ("FAILED", "Broken", "because")
    assert (from_paths.error, from_paths.cause) == ("LeaseLost", "gone")


def test_the_history_records_every_state_entered_in_order() -> None:
    states = {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Wait", "Seconds": 1, "Next": "C"},
        "C": {"Type": "Succeed"},
    }

    result = run(states)

    assert [e.state for e in result.history if e.type == "StateEntered"] == ["A", "B", "C"]
    assert result.history[0].type == "ExecutionStarted" and result.history[-1].type == "ExecutionSucceeded"


def test_concurrent_executions_each_keep_their_own_history_and_output() -> None:
    runner = LocalRunner(ScriptedInvoker(lambda payload: payload["n"] * 2), timer=FakeTimer())
    definition = {"StartAt": "Double", "States": {"Double": task()}}

    running = [runner.start(MACHINE, definition, {"n": n}, name=f"run-{n}") for n in range(20)]
    results = [execution.wait(timeout=10) for execution in running]

    assert [r.output for r in results] == [n * 2 for n in range(20)]
    assert all(event.execution_arn == r.arn for r in results for event in r.history)


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "message"),
    [
        ({"M": {"Type": "Map", "End": True}}, "state 'M': field 'Type' is 'Map'"),
        ({"P": {"Type": "Parallel", "Branches": [], "End": True}}, "state 'P': field 'Type' is 'Parallel'"),
        ({"W": {"Type": "Wait", "Timestamp": "2030-01-01T00:00:00Z", "End": True}}, "state 'W': field 'Timestamp'"),
        ({"T": task(HeartbeatSeconds=10)}, "state 'T': field 'HeartbeatSeconds'"),
        ({"T": task(Resource="arn:aws:states:::ecs:runTask.sync")}, "state 'T': field 'Resource'"),
        ({"T": task(Parameters={"x.$": "States.UUID()"})}, "state 'T': field 'Parameters'.*'States.UUID'"),
        ({"T": task(Parameters={"x.$": "States.Format('{}-{}', $.a)"})}, "2 '{}' for 1 arguments"),
        ({"T": task(Retry=[{"ErrorEquals": ["X"], "BackoffRat": 2}])}, "state 'T': field 'Retry[0].BackoffRat'"),
        (
            {"C": {"Type": "Choice", "Choices": [{"Variable": "$.t", "TimestampEquals": "x", "Next": "C"}]}},
            "choice rule field 'TimestampEquals'",
        ),
        ({"T": {"Type": "Task", "Resource": FUNCTION, "Next": "Nowhere"}}, "transition to 'Nowhere'"),
    ],
)
def test_anything_unsupported_is_refused_naming_the_state_and_field(states: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedDefinition, match=message.replace("[", r"\[").replace("]", r"\]")):
        run(states)


def test_a_top_level_field_it_does_not_run_is_refused() -> None:
    runner = LocalRunner(ScriptedInvoker("x"), timer=FakeTimer())
    with pytest.raises(UnsupportedDefinition, match="top-level field 'TimeoutSeconds'"):
        runner.run(MACHINE, {"StartAt": "S", "TimeoutSeconds": 5, "States": {"S": {"Type": "Succeed"}}}, {})


# -- abort -----------------------------------------------------------------------------------------


def test_an_aborted_execution_stops_in_its_wait_and_runs_no_further_state() -> None:
    import time

    from lease_ops.local_runner import ScaledTimer

    invoker = ScriptedInvoker("never")
    states = {"Pause": {"Type": "Wait", "Seconds": 30, "Next": "Work"}, "Work": task()}
    runner = LocalRunner(invoker, timer=ScaledTimer(1.0))
    running = runner.start(MACHINE, {"StartAt": "Pause", "States": states}, {}, name="stop-me")
    time.sleep(0.1)

    running.abort()
    result = running.wait(timeout=5)

    assert result.status == "ABORTED"
    assert invoker.calls == []
    assert result.history[-1].type == "ExecutionAborted"


def test_an_execution_aborted_during_a_task_drops_its_result() -> None:
    import threading

    started, release = threading.Event(), threading.Event()

    def slow(_: Any) -> str:
        started.set()
        release.wait(5)
        return "late"

    states = {"Work": task(End=None, Next="After"), "After": {"Type": "Pass", "End": True}}
    del states["Work"]["End"]
    runner = LocalRunner(ScriptedInvoker(slow), timer=FakeTimer())
    running = runner.start(MACHINE, {"StartAt": "Work", "States": states}, {}, name="stop-me")
    started.wait(5)

    running.abort()
    release.set()
    result = running.wait(timeout=5)

    assert result.status == "ABORTED"
    assert result.entered("After") == []


# -- the callback pattern (.waitForTaskToken) ------------------------------------------------------


def token_task(**fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": FUNCTION, "Payload": {"token.$": "$$.Task.Token", "n.$": "$.n"}},
        "End": True,
        **fields,
    }


def answer_later(seconds: float, answer: Any) -> Any:
    """An invoker step that returns at once and calls back with ``answer(token)`` from another thread."""
    import threading

    def step(payload: dict[str, Any]) -> str:
        threading.Timer(seconds, answer, args=(payload["token"],)).start()
        return "ignored: a token task's output is its callback's"

    return step


def test_a_token_task_passes_its_token_and_takes_the_output_of_send_task_success() -> None:
    from lease_ops.local_runner.task_tokens import TASK_TOKENS

    invoker = ScriptedInvoker(answer_later(0.05, lambda token: TASK_TOKENS.succeed(token, '{"granted": true}')))

    result = run({"Wait": token_task(ResultPath="$.lease")}, {"n": 1}, invoker=invoker)

    assert invoker.calls[0][1]["token"].startswith("AAAA") and invoker.calls[0][1]["n"] == 1
    assert (result.status, result.output) == ("SUCCEEDED", {"n": 1, "lease": {"granted": True}})


def test_a_token_answered_by_the_invoked_function_itself_completes_the_task() -> None:
    from lease_ops.local_runner.task_tokens import TASK_TOKENS

    def answer_now(payload: dict[str, Any]) -> None:
        TASK_TOKENS.succeed(payload["token"], '"at once"')

    result = run({"Wait": token_task()}, {"n": 1}, invoker=ScriptedInvoker(answer_now))

    assert result.output == "at once"


def test_send_task_failure_fails_the_task_with_its_error_for_catch_to_match() -> None:
    from lease_ops.local_runner.task_tokens import TASK_TOKENS

    invoker = ScriptedInvoker(answer_later(0.02, lambda token: TASK_TOKENS.fail(token, "NoSlot", "full")))
    caught = token_task(Catch=[{"ErrorEquals": ["NoSlot"], "ResultPath": "$.e", "Next": "Handled"}])

    result = run({"Wait": caught, "Handled": {"Type": "Succeed"}}, {"n": 1}, invoker=invoker)

    assert result.output["e"] == {"Error": "NoSlot", "Cause": "full"}


def test_no_callback_within_timeout_seconds_is_states_timeout_and_the_token_then_refuses_callbacks() -> None:
    from lease_ops.local_runner.task_tokens import TASK_TOKENS, TaskTimedOut

    tokens: list[str] = []
    invoker = ScriptedInvoker(lambda payload: tokens.append(payload["token"]))
    timed = token_task(TimeoutSeconds=0.05, Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "Timed"}])

    result = run({"Wait": timed, "Timed": {"Type": "Succeed"}}, {"n": 1}, invoker=invoker)

    assert result.entered("Timed")
    with pytest.raises(TaskTimedOut):
        TASK_TOKENS.succeed(tokens[0], "{}")


def test_a_missed_heartbeat_is_states_heartbeat_timeout_and_beats_keep_the_task_waiting() -> None:
    import threading

    from lease_ops.local_runner.task_tokens import TASK_TOKENS

    def beat_then_answer(payload: dict[str, Any]) -> None:
        def keep_beating() -> None:
            for _ in range(5):
                threading.Event().wait(0.02)
                TASK_TOKENS.beat(payload["token"])
            TASK_TOKENS.succeed(payload["token"], '"alive"')

        threading.Thread(target=keep_beating).start()

    silent = token_task(HeartbeatSeconds=0.05, Catch=[{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Lost"}])
    beating = token_task(HeartbeatSeconds=0.05)

    lost = run({"Wait": silent, "Lost": {"Type": "Succeed"}}, {"n": 1}, invoker=ScriptedInvoker(None))
    alive = run({"Wait": beating}, {"n": 1}, invoker=ScriptedInvoker(beat_then_answer))

    assert lost.entered("Lost")
    assert alive.output == "alive"


def test_a_token_step_functions_never_issued_is_refused_as_invalid() -> None:
    from lease_ops.local_runner.task_tokens import TASK_TOKENS, InvalidToken

    with pytest.raises(InvalidToken):
        TASK_TOKENS.succeed("AAAA-made-up", "{}")


def test_heartbeat_seconds_on_a_task_without_a_token_is_refused_before_running() -> None:
    runner = LocalRunner(ScriptedInvoker("x"), timer=FakeTimer())
    with pytest.raises(UnsupportedDefinition, match="HeartbeatSeconds"):
        runner.run(MACHINE, {"StartAt": "S", "States": {"S": lambda_invoke(HeartbeatSeconds=5)}}, {})


def test_an_execution_aborted_while_its_token_task_waits_ends_aborted() -> None:
    import threading

    invoked = threading.Event()
    runner = LocalRunner(ScriptedInvoker(lambda payload: invoked.set()), timer=FakeTimer())
    running = runner.start(MACHINE, {"StartAt": "Wait", "States": {"Wait": token_task()}}, {"n": 1}, name="stop")
    invoked.wait(5)

    running.abort()

    assert running.wait(timeout=5).status == "ABORTED"


def test_an_app_loaded_twice_in_one_process_keeps_every_routes_method_and_authorizer() -> None:
    # Chalice pops a Blueprint's route options when it registers them: a second app from the same Blueprint
    # object would get GET routes only. Each load imports the core's Blueprint modules afresh.
    from lease_ops.config.chalice_apps import app_folder, load_chalice_app

    first, second = (load_chalice_app(app_folder("lease_app")) for _ in range(2))

    for app in (first, second):
        routes = {path: sorted(methods) for path, methods in app.routes.items()}
        assert routes["/prefixes/{prefix}/cap"] == ["PUT"]
        assert routes["/prefixes/{prefix}/holders/{holder}"] == ["DELETE"]
        assert app.routes["/prefixes/{prefix}/cap"]["PUT"].authorizer is not None
