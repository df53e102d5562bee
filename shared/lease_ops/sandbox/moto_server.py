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

import errno
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from lease_ops.errors import PortInUse

LOOPBACK = "127.0.0.1"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def ensure_port_free(port: int) -> None:
    """Raise ``PortInUse`` unless a server can listen on 127.0.0.1:``port`` now.

    werkzeug answers a taken port by printing two lines and exiting the server's thread, which leaves
    ``ThreadedMotoServer.start`` waiting for a ready signal that never comes: asking first turns that hang
    into one line.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug's server: TIME_WAIT is free
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port} on {LOOPBACK} is already in use") from None
            if exc.errno == errno.EACCES:
                raise PortInUse(f"port {port} on {LOOPBACK} is reserved for root ({exc.strerror})") from None
            raise


class _OneRequestAtATime:
    """WSGI middleware: the wrapped application handles one request at a time."""

    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self._application = application
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._application(environ, start_response))


def _accept_chalice_rest_apis() -> None:
    """Let moto import the REST API document ``chalice deploy`` sends, as API Gateway does.

    moto 5.2.5 imports only OpenAPI 3 documents and requires ``info.description``; chalice writes
    Swagger 2.0 without a description, which API Gateway accepts. The parts moto reads (paths,
    methods, responses, ``x-amazon-apigateway-integration``) are the same in both, so the document
    is relabelled and given an empty description before moto sees it.
    """
    from moto.apigateway.models import APIGatewayBackend

    if getattr(APIGatewayBackend, "accepts_chalice_rest_apis", False):
        return

    def as_openapi3(api_doc: dict[str, Any]) -> dict[str, Any]:
        document = dict(api_doc)
        if "swagger" in document:
            document.pop("swagger")
            document["openapi"] = "3.0.1"
        document["info"] = {"description": "", **document.get("info", {})}
        return document

    import_rest_api, put_rest_api = APIGatewayBackend.import_rest_api, APIGatewayBackend.put_rest_api

    def import_chalice_document(self: Any, api_doc: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return import_rest_api(self, as_openapi3(api_doc), *args, **kwargs)

    def put_chalice_document(self: Any, function_id: str, api_doc: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return put_rest_api(self, function_id, as_openapi3(api_doc), *args, **kwargs)

    APIGatewayBackend.import_rest_api = import_chalice_document  # type: ignore[method-assign]
    APIGatewayBackend.put_rest_api = put_chalice_document  # type: ignore[method-assign]
    APIGatewayBackend.accepts_chalice_rest_apis = True  # type: ignore[attr-defined]


class AtomicMotoServer(ThreadedMotoServer):
    """A ThreadedMotoServer on 127.0.0.1 (free port by default) with atomic requests.

    ``routes``: what to install in moto's backends before serving (the embedded AWS routes Step Functions'
    calls to the local runner); the server itself knows nothing of what runs on it.
    """

    def __init__(self, port: int | None = None, routes: Iterable[Callable[[], None]] = ()) -> None:
        super().__init__(ip_address=LOOPBACK, port=port or free_loopback_port(), verbose=False)
        self._startup_error: BaseException | None = None
        self._routes = tuple(routes)

    def start(self) -> None:
        """Start serving; raises ``PortInUse`` if the port is taken (never waits for a server that cannot start)."""
        ensure_port_free(self._port)
        super().start()
        if self._startup_error is not None:
            raise PortInUse(f"cannot listen on {LOOPBACK}:{self._port}") from self._startup_error

    def _server_entry(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
        _accept_chalice_rest_apis()
        for install in self._routes:
            install()
        application = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        try:
            self._server = make_server(
                self._ip_address, self._port, application, threaded=True, request_handler=MotoRequestHandler
            )
        except BaseException as exc:  # werkzeug exits (SystemExit) when it cannot bind: taken since the check
            self._startup_error = exc
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint_url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"
