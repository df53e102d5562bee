"""Step Functions' side of the callback pattern, in process: task tokens and their callbacks.

A ``.waitForTaskToken`` task gets a token, hands it to its Lambda and waits
until someone calls SendTaskSuccess or SendTaskFailure with it (or its timeout,
heartbeat timeout or an abort ends the wait). ``route_moto_callbacks`` makes
the embedded moto server pass the SendTask* calls of the Lambdas (real boto3
calls) to this registry, answering as Step Functions does: a token it never
issued is InvalidToken, one whose task is over is TaskTimedOut.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError


class InvalidToken(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__("InvalidToken", "Invalid Token: the task token is not valid")


class TaskTimedOut(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__("TaskTimedOut", "Task Timed Out: the task of this token is no longer waiting")


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    heartbeat: threading.Event = field(default_factory=threading.Event)
    output: str | None = None
    error: tuple[str, str] | None = None
    closed: bool = False
    notify: threading.Event | None = None  # the waiting execution's wake-up call

    def wake(self) -> None:
        if self.notify is not None:
            self.notify.set()


class TaskTokens:
    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def issue(self, notify: threading.Event | None = None) -> str:
        """A new token; ``notify`` is set on every callback for it (so its task need not poll)."""
        token = "AAAA" + secrets.token_urlsafe(96)  # about as long as Step Functions' own tokens
        with self._lock:
            self._pending[token] = _Pending(notify=notify)
        return token

    def _live(self, token: str) -> _Pending:
        with self._lock:
            pending = self._pending.get(token)
        if pending is None:
            raise InvalidToken()
        if pending.closed or pending.done.is_set():
            raise TaskTimedOut()
        return pending

    def succeed(self, token: str, output: str) -> None:
        pending = self._live(token)
        pending.output = output
        pending.done.set()
        pending.wake()

    def fail(self, token: str, error: str, cause: str) -> None:
        pending = self._live(token)
        pending.error = (error, cause)
        pending.done.set()
        pending.wake()

    def beat(self, token: str) -> None:
        pending = self._live(token)
        pending.heartbeat.set()
        pending.wake()

    def close(self, token: str) -> None:
        """The task is over (answered, timed out, aborted): later callbacks are TaskTimedOut."""
        with self._lock:
            pending = self._pending.get(token)
            if pending is not None:
                pending.closed = True

    def pending(self, token: str) -> _Pending:
        with self._lock:
            return self._pending[token]


TASK_TOKENS = TaskTokens()  # the one Step Functions of this process


def route_moto_callbacks(tokens: TaskTokens = TASK_TOKENS) -> None:
    """Make moto's SendTaskSuccess/Failure/Heartbeat (no-ops of their own) reach ``tokens``."""
    from moto.stepfunctions.models import StepFunctionBackend

    def send_task_success(self: Any, task_token: str, outcome: str) -> None:
        tokens.succeed(task_token, outcome)

    def send_task_failure(self: Any, task_token: str, error: str | None = None) -> None:
        tokens.fail(task_token, error or "", "")

    def send_task_heartbeat(self: Any, task_token: str) -> None:
        tokens.beat(task_token)

    StepFunctionBackend.send_task_success = send_task_success  # type: ignore[method-assign]
    StepFunctionBackend.send_task_failure = send_task_failure  # type: ignore[method-assign]
    StepFunctionBackend.send_task_heartbeat = send_task_heartbeat  # type: ignore[method-assign]
