"""`make local`: chalice local serves lease_app's API on the embedded moto while executions hold leases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.sandbox.moto_server import free_loopback_port
from tests.helpers import interruptible


def request(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    call = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(call, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_make_local_serves_the_api_with_leases_held_and_stops_on_interrupt() -> None:
    port = free_loopback_port()
    environment = {**os.environ, "AWS_ENDPOINT_URL": ""}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lease_ops",
            "local",
            "--port",
            str(port),
            "--executions",
            "analytics=3",
            "--executions",
            "batch=7",
        ],
        cwd=REPOSITORY_ROOT,
        preexec_fn=interruptible,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        prefixes: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                status, body = request(f"{base}/prefixes")
                prefixes = body["prefixes"] if status == 200 else []
                if sum(p["holder_count"] for p in prefixes) >= 8:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        by_prefix = {p["prefix"]: p for p in prefixes}
        assert by_prefix["batch"]["holder_count"] == 5 and by_prefix["analytics"]["holder_count"] == 3

        status, batch = request(f"{base}/prefixes/batch")
        holder = batch["holders"][0]["holder_key"]  # the table keeps holder keys; DELETE takes one
        released = request(f"{base}/prefixes/batch/holders/{urllib.parse.quote(holder, safe='')}", "DELETE")
        lowered = request(f"{base}/prefixes/batch/cap", "PUT", {"cap": 2})

        assert status == 200 and holder in {entry["holder_key"] for entry in batch["holders"]} and len(holder) == 9
        assert released[0] == 200
        assert lowered == (
            200,
            {
                "prefix": "batch",
                "old_cap": 5,
                "cap": 2,
                "holder_count": lowered[1]["holder_count"],
                "admits_new": False,
            },
        )
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "curl -s" in output
