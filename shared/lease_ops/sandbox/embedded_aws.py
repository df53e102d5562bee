"""An AWS stand-in on this machine: a moto server on 127.0.0.1 and an environment that points at it.

Used by `make demo` and `make local`: while it is open, every boto3 client and
chalice command in this process talks to the embedded server with fake
credentials, never to a real account.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from lease_ops.local_runner.moto_routes import route_moto_executions
from lease_ops.local_runner.task_tokens import route_moto_callbacks
from lease_ops.sandbox.moto_server import AtomicMotoServer

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@contextmanager
def embedded_aws(region: str, port: int | None = None) -> Iterator[str]:
    """Start the server and point this process at it; yields the endpoint URL. Restores everything after."""
    # SendTaskSuccess/Failure/Heartbeat reach the local runner's waiting tasks, and Describe/Stop/RedriveExecution
    # answer for its executions.
    server = AtomicMotoServer(port, routes=(route_moto_callbacks, route_moto_executions))
    server.start()
    # moto keeps its state per process, not per server: start from an empty account every time.
    urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()
    names = [
        *FAKE_CREDENTIALS,
        *_CLEARED,
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EC2_METADATA_DISABLED",
    ]
    saved = {name: os.environ.get(name) for name in names}
    for name in _CLEARED:
        os.environ.pop(name, None)
    os.environ.update(
        {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": server.endpoint_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    try:
        yield server.endpoint_url
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
