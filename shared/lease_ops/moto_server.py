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

from lease_ops.local_runner.moto_routes import route_moto_executions
from lease_ops.local_runner.task_tokens import route_moto_callbacks

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
    """A ThreadedMotoServer on 127.0.0.1 (free port by default) with atomic requests."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__(ip_address=LOOPBACK, port=port or free_loopback_port(), verbose=False)

    def _server_entry(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
        _accept_chalice_rest_apis()
        route_moto_callbacks()  # SendTaskSuccess/Failure/Heartbeat reach the local runner's waiting tasks
        route_moto_executions()  # Describe/Stop/RedriveExecution answer for the local runner's executions
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
