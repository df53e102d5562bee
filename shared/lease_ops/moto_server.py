"""An embedded moto server on loopback that applies each request atomically, as DynamoDB does.

DynamoDB evaluates a conditional write and applies it as one atomic step per
item. moto's in-memory backend does not: it checks the condition, then mutates,
with nothing stopping another request thread in between, so under real thread
contention moto itself can over-admit. Serialising request handling gives moto
DynamoDB's per-request atomicity and nothing more: races between *separate*
requests (read, then write) still happen exactly as they would on AWS, which is
what the contention tests and the benchmark need to see.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

LOOPBACK = "127.0.0.1"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class _OneRequestAtATime:
    """WSGI middleware: the wrapped application handles one request at a time."""

    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self._application = application
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._application(environ, start_response))


class AtomicMotoServer(ThreadedMotoServer):
    """A ThreadedMotoServer on 127.0.0.1 (free port by default) with atomic requests."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__(ip_address=LOOPBACK, port=port or free_loopback_port(), verbose=False)

    def _server_entry(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
        application = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, application, threaded=True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint_url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"
