"""``DynamoTable.get_many``: one BatchGetItem, asked again for the keys DynamoDB leaves unprocessed.

DynamoDB may answer a BatchGetItem with some keys in ``UnprocessedKeys`` (throttled, or over the 16 MB
response) and refuses a request that names one key twice
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html). moto never leaves
keys unprocessed, so the answers are built here as DynamoDB documents them.
"""

from __future__ import annotations

from typing import Any

import pytest

from lease_core import store
from lease_core.store import BATCH_READ_ROUNDS, DynamoTable

TABLE = "leases"


def key(sort_key: str) -> dict[str, Any]:
    return {"pk": {"S": "analytics#index"}, "sk": {"S": sort_key}}


class UnprocessingClient:
    """Answers each BatchGetItem with the first of its keys only, leaving the rest unprocessed."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        keys = request["RequestItems"][TABLE]["Keys"]
        self.requests.append(keys)
        answered, rest = keys[:1], keys[1:]
        return {
            "Responses": {TABLE: [{**k, "at": {"S": "x"}} for k in answered]},
            "UnprocessedKeys": {TABLE: {"Keys": rest, "ConsistentRead": True}} if rest else {},
        }


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "pause", lambda attempt: None)


def test_keys_left_unprocessed_are_asked_again_until_answered() -> None:
    client = UnprocessingClient()

    items = DynamoTable(client, TABLE).get_many([key("a"), key("b")])

    assert sorted(item["sk"] for item in items) == ["a", "b"]
    assert client.requests == [[key("a"), key("b")], [key("b")]]


def test_keys_still_unprocessed_after_the_last_round_are_left_out_not_guessed() -> None:
    client = UnprocessingClient()
    keys = [key(name) for name in "abcdefgh"][: BATCH_READ_ROUNDS + 2]

    items = DynamoTable(client, TABLE).get_many(keys)

    assert len(client.requests) == BATCH_READ_ROUNDS
    assert [item["sk"] for item in items] == [name["sk"]["S"] for name in keys[:BATCH_READ_ROUNDS]]


def test_a_key_asked_twice_is_sent_once() -> None:
    client = UnprocessingClient()

    DynamoTable(client, TABLE).get_many([key("a"), key("a")])

    assert client.requests[0] == [key("a")]
