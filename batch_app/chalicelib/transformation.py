"""The batch workload's real work: normalise a list of text items, one chunk per call.

Work is done in chunks so that the workflow can renew its lease between them;
each call transforms ``items[cursor:cursor + chunk_size]`` and says where the
next call starts.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

MAX_ITEMS = 5_000
MAX_TEXT_LENGTH = 10_000
MAX_CHUNK_SIZE = 500
DEFAULT_CHUNK_SIZE = 25
_EVENT_KEYS = {"items", "cursor", "chunk_size"}


class InvalidBatchItems(Exception):
    """The items to transform, or the cursor into them, are malformed; retrying cannot help."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def transform_item(index: int, item: Any) -> dict[str, Any]:
    """One item ``{"id", "text"}`` becomes its slug, word count and SHA-256 of the text."""
    if not isinstance(item, dict) or set(item) != {"id", "text"}:
        raise InvalidBatchItems(f'items[{index}] must be an object {{"id": str, "text": str}}, got {item!r:.80}')
    if not isinstance(item["id"], str) or not item["id"]:
        raise InvalidBatchItems(f"items[{index}].id must be a non-empty string")
    text = item["text"]
    if not isinstance(text, str) or len(text) > MAX_TEXT_LENGTH:
        raise InvalidBatchItems(f"items[{index}].text must be a string of at most {MAX_TEXT_LENGTH} characters")
    return {
        "id": item["id"],
        "slug": _slug(text),
        "words": len(text.split()),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def _bounded_int(event: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = event.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidBatchItems(f"{name} must be a whole number from {low} to {high}, got {value!r:.40}")
    return value


def transform_chunk(event: Any) -> dict[str, Any]:
    """Transform the next chunk; ``done`` is true once the cursor reaches the end."""
    if not isinstance(event, dict) or "items" not in event or not set(event) <= _EVENT_KEYS:
        raise InvalidBatchItems('event must be an object {"items": [...], "cursor": int, "chunk_size": int}')
    items = event["items"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidBatchItems(f"items must be a list of 1-{MAX_ITEMS} items")
    cursor = _bounded_int(event, "cursor", 0, 0, len(items))
    chunk_size = _bounded_int(event, "chunk_size", DEFAULT_CHUNK_SIZE, 1, MAX_CHUNK_SIZE)
    end = min(cursor + chunk_size, len(items))
    results = [transform_item(index, items[index]) for index in range(cursor, end)]
    return {"cursor": end, "done": end == len(items), "processed": len(results), "results": results}
