"""DynamoDB failures injected into one boto3 client through botocore's own event hooks.

- ``throttling`` and ``internal-error`` answer an HTTP attempt with DynamoDB's error
  response instead of sending it, so botocore's retries see them as they would see
  the real thing (and may recover);
- ``timeout`` fails an attempt with a read timeout before it is sent;
- ``lost-response`` lets a write (UpdateItem, TransactWriteItems) succeed, then loses its answer: the caller
  sees a timeout although the write happened, and must retry (idempotence).

Faults fire at random with a probability, or once on demand (``arm``), and every
fault injected is counted.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

KINDS = ("throttling", "internal-error", "timeout", "lost-response")
# The writes whose answer ``lost-response`` loses: every write the lease core makes.
LOSABLE_WRITES = ("UpdateItem", "TransactWriteItems")
_ERROR_RESPONSES = {
    "throttling": (
        400,
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
    "internal-error": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"),
}


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


class DynamoFaults:
    def __init__(self, kinds: tuple[str, ...] = (), probability: float = 0.0, seed: int = 0) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        self.kinds = kinds
        self.probability = probability
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._armed: str | None = None
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        # First in line, so that an in-process moto (which answers on before-send too) cannot skip it.
        client.meta.events.register_first("before-send.dynamodb", self._before_send)
        for write in LOSABLE_WRITES:
            client.meta.events.register(f"after-call.dynamodb.{write}", self._after_call)

    def arm(self, kind: str | None) -> None:
        """Inject ``kind`` into the very next request it applies to (then disarm)."""
        with self._lock:
            self._armed = kind

    def total(self) -> int:
        return sum(self.injected.values())

    def _draw(self, applicable: tuple[str, ...]) -> str | None:
        with self._lock:
            if self._armed is not None:
                if self._armed in applicable:
                    kind, self._armed = self._armed, None
                    self.injected[kind] += 1
                    return kind
                return None
            candidates = [kind for kind in self.kinds if kind in applicable]
            if candidates and self._rng.random() < self.probability:
                kind = self._rng.choice(candidates)
                self.injected[kind] += 1
                return kind
            return None

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        kind = self._draw(("throttling", "internal-error", "timeout"))
        if kind is None:
            return None
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        status, error_type, message = _ERROR_RESPONSES[kind]
        body = json.dumps({"__type": error_type, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "chaos"}
        return AWSResponse(request.url, status, headers, _Body(body))

    def _after_call(self, http_response: Any, **_: Any) -> None:
        if getattr(http_response, "status_code", 0) == 200 and self._draw(("lost-response",)):
            raise ReadTimeoutError(endpoint_url=getattr(http_response, "url", "dynamodb"))
