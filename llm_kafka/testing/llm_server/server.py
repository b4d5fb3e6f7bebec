"""HTTP server that imitates the OpenAI and Anthropic APIs on 127.0.0.1 for tests and demos.

Owns `LocalLLMServer` (start, stop, settings, stats) and the request handler that routes each
request, applies the fault decision (latency, rate limit, error, hang, malformed answer) and
writes the answer through the provider's wire-format module.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from llm_kafka.testing.llm_server import anthropic_api, openai_api
from llm_kafka.testing.llm_server.faults import (
    ApiFlavor,
    FaultDecision,
    FaultInjector,
    FaultSettings,
)
from llm_kafka.testing.llm_server.rate_limit import RateLimitState, retry_after_headers
from llm_kafka.testing.llm_server.responses import (
    ChatAnswer,
    ChatRequest,
    RequestError,
    build_answer,
    embedding_vector,
)
from llm_kafka.testing.llm_server.schema_values import SchemaError
from llm_kafka.testing.llm_server.stats import (
    DEFAULT_RECENT_PROMPTS,
    ServerStats,
    StatsRecorder,
)

logger = logging.getLogger(__name__)

LOOPBACK_HOST = "127.0.0.1"
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body read; bigger bodies get 413 so a runaway client cannot fill memory."""
IDLE_CONNECTION_TIMEOUT = 60.0
"""Seconds a keep-alive connection may sit idle before its handler thread closes it."""
STOP_JOIN_TIMEOUT = 5.0
"""Seconds `stop()` waits for the serving thread to end."""


class LocalLLMServer:
    """Local OpenAI- and Anthropic-compatible LLM server with deterministic answers and faults.

    Fault settings are the fields of `FaultSettings`, passed as keyword arguments. The server
    binds 127.0.0.1 only, and port 0 picks a free port when `start()` runs.

        with LocalLLMServer(latency=0.1, fail_marker={"LLMFAIL500": 500}) as server:
            client = openai.OpenAI(base_url=server.openai_base_url, api_key="local")
    """

    def __init__(
        self,
        host: str = LOOPBACK_HOST,
        port: int = 0,
        *,
        recent_prompts_limit: int = DEFAULT_RECENT_PROMPTS,
        **fault_settings: Any,
    ) -> None:
        if host != LOOPBACK_HOST:
            raise ValueError(
                f"invalid host {host!r}: the local LLM server binds {LOOPBACK_HOST} only, "
                "so omit host or pass '127.0.0.1'"
            )
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"invalid port {port!r}: expected 0-65535, where 0 picks a free port")
        self._requested_port = port
        self._faults = FaultInjector(FaultSettings().replace(**fault_settings))
        self._stats = StatsRecorder(recent_prompts_limit)
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def start(self) -> LocalLLMServer:
        """Bind the port and serve in a daemon thread; return once connections are accepted.

        Raises OSError when the port is in use and RuntimeError when the server already started.
        """
        if self._httpd is not None:
            raise RuntimeError("LocalLLMServer already started: call stop() before starting again")
        self._stopping.clear()
        httpd = _HTTPServer((LOOPBACK_HOST, self._requested_port), _Handler, self)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"local-llm-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("Local LLM server started at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, end hung and delayed requests, and close open connections."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError as error:
                logger.debug("Closing connection failed during stop: %s", error)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(STOP_JOIN_TIMEOUT)
        logger.info("Local LLM server stopped at %s", self.url)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Bound TCP port; before `start()` only a fixed (non-zero) port is known."""
        if self._httpd is not None:
            return int(self._httpd.server_address[1])
        if self._requested_port == 0:
            raise RuntimeError("port 0 is chosen when the server starts: call start() first")
        return self._requested_port

    @property
    def url(self) -> str:
        """Root URL, for example "http://127.0.0.1:8080"."""
        return f"http://{LOOPBACK_HOST}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """`base_url` for `openai.OpenAI`, which ends in /v1."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """`base_url` for `anthropic.Anthropic`, which is the root URL."""
        return self.url

    @property
    def settings(self) -> FaultSettings:
        """Current fault settings."""
        return self._faults.settings

    def configure(self, **settings: Any) -> FaultSettings:
        """Change the named fault settings and keep the others; return the new settings.

        Any change restarts the rate-limit window, the `fail_first_n` count and the random
        sequence. Raises ValueError for an unknown name or an invalid value.
        """
        return self.replace_settings(self._faults.settings.replace(**settings))

    def replace_settings(self, settings: FaultSettings) -> FaultSettings:
        """Replace all fault settings, as `POST /_admin/faults` does."""
        self._faults.configure(settings)
        logger.info("Local LLM server fault settings changed to %s", settings.to_dict())
        return settings

    def stats(self) -> ServerStats:
        """Return a snapshot of the counters since start or the last reset."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Set the counters to zero; fault state such as the rate-limit window is kept."""
        self._stats.reset()

    def reset(self) -> None:
        """Reset the counters, the rate-limit window, the `fail_first_n` count and the seed."""
        self._stats.reset()
        self._faults.reset()

    def _track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5. A client that opens dozens of connections
    # at once (a pipeline with max_in_flight=64) overflowed it; Linux then drops the SYNs and
    # the client retries them after 1 s or more, which stalled calls and opened circuit breakers.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type[_Handler], app: LocalLLMServer) -> None:
        self.app = app
        super().__init__(address, handler)


_Route = Callable[["_Handler", dict[str, Any]], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm-kafka-local-llm"
    timeout = IDLE_CONNECTION_TIMEOUT
    server: _HTTPServer

    @property
    def app(self) -> LocalLLMServer:
        return self.server.app

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add about 40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.app._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.app._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        self.app._stats.record_request(f"{method} {path}")
        route = _ROUTES.get((method, path))
        if route is None:
            self._send_route_error(method, path)
            return

        body: dict[str, Any] = {}
        if method == "POST":
            parsed = self._read_json_body(path)
            if parsed is None:
                return
            body = parsed
        route(self, body)

    def _send_route_error(self, method: str, path: str) -> None:
        # Unknown routes have no provider, so the body carries both the OpenAI "error" object
        # and the Anthropic "type": "error" wrapper, which either SDK can parse.
        if any(known_path == path for _, known_path in _ROUTES):
            status, kind = 405, "invalid_request_error"
            message = f"method {method} not allowed on {path}"
        else:
            status, kind = 404, "not_found_error"
            message = (
                f"route {method} {path} not found: the server serves /v1/chat/completions, "
                "/v1/embeddings, /v1/models, /v1/messages and /_admin/*"
            )
        payload = {
            "type": "error",
            "error": {"type": kind, "message": message, "code": "not_found"},
        }
        self._read_and_discard_body()
        self._send_json(status, payload)

    def _read_and_discard_body(self) -> None:
        length = self._content_length()
        if length is None or length > MAX_BODY_BYTES:
            self.close_connection = True
            return
        self.rfile.read(length)

    def _content_length(self) -> int | None:
        try:
            return int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None

    def _read_json_body(self, path: str) -> dict[str, Any] | None:
        """Return the parsed JSON object body, or send a 400 or 413 error and return None."""
        error = anthropic_api.error_body if path == "/v1/messages" else openai_api.error_body
        length = self._content_length()
        if length is None or length < 0:
            self.close_connection = True
            self._send_json(400, error(400, "invalid Content-Length header: expected a byte count"))
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            message = f"request body of {length} bytes exceeds the {MAX_BODY_BYTES}-byte limit"
            self._send_json(413, error(413, message))
            return None

        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as parse_error:
            logger.info(
                "Rejected %s %s with 400: invalid JSON body: %s",
                self.command,
                path,
                parse_error,
            )
            self._send_json(400, error(400, f"invalid JSON body: {parse_error}"))
            return None
        if not isinstance(body, dict):
            self._send_json(400, error(400, "invalid JSON body: expected an object"))
            return None
        return body

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        # Counted before the write, so a client that reads stats right after the response
        # always sees it counted.
        self.app._stats.record_response(status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError) as error:
            logger.debug("Client closed the connection before the %d response: %s", status, error)
            self.close_connection = True

    def _send_events(self, events: Iterable[bytes], headers: dict[str, str]) -> None:
        """Stream server-sent events and close the connection, which marks the end of the body."""
        self.close_connection = True
        self.app._stats.record_response(200)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            for event in events:
                self.wfile.write(event)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as error:
            logger.debug("Client closed the connection during a stream: %s", error)

    # Admin routes.

    def _admin_stats(self, body: dict[str, Any]) -> None:
        self._send_json(200, self.app.stats().to_dict())

    def _admin_get_faults(self, body: dict[str, Any]) -> None:
        self._send_json(200, self.app.settings.to_dict())

    def _admin_set_faults(self, body: dict[str, Any]) -> None:
        try:
            settings = FaultSettings.from_mapping(body)
        except (TypeError, ValueError) as error:
            logger.info("Rejected fault settings %s: %s", body, error)
            self._send_json(400, openai_api.error_body(400, f"invalid fault settings: {error}"))
            return
        self.app.replace_settings(settings)
        self._send_json(200, settings.to_dict())

    def _admin_reset(self, body: dict[str, Any]) -> None:
        self.app.reset()
        self._send_json(200, {"reset": True})

    def _models(self, body: dict[str, Any]) -> None:
        self._send_json(200, openai_api.models_body())

    # Model routes.

    def _openai_chat(self, body: dict[str, Any]) -> None:
        self._chat("openai", body)

    def _anthropic_messages(self, body: dict[str, Any]) -> None:
        self._chat("anthropic", body)

    def _chat(self, flavor: ApiFlavor, body: dict[str, Any]) -> None:
        parse = openai_api.parse_chat_request if flavor == "openai" else anthropic_api.parse_message_request
        try:
            request = parse(body)
        except RequestError as error:
            logger.info(
                "Rejected %s %s with %d: %s",
                self.command,
                self.path,
                error.status,
                error.message,
            )
            self._send_json(error.status, _error_body(flavor, error.status, error.message))
            return

        if self._reject_account_or_context(flavor, request):
            return
        decision = self._apply_faults(flavor, request.prompt, request.input_tokens)
        if decision is None:
            return
        headers = _rate_limit_headers(flavor, decision.rate_limit)
        refusal_marker = self.app.settings.refusal_marker
        refused = refusal_marker is not None and refusal_marker in request.prompt
        try:
            answer = build_answer(request, malformed=decision.malformed, refused=refused)
        except SchemaError as error:
            message = f"unsupported JSON schema: {error}"
            logger.info("Rejected %s %s with 400: %s", self.command, self.path, message)
            self._send_json(400, _error_body(flavor, 400, message), headers)
            return

        stats = self.app._stats
        if decision.malformed:
            stats.record_event("malformed")
        stats.record_event("input_tokens", request.input_tokens)
        stats.record_event("output_tokens", answer.output_tokens)
        self.app._faults.record_output_tokens(answer.output_tokens)
        self._send_chat_answer(flavor, request, answer, headers)

    def _reject_account_or_context(self, flavor: ApiFlavor, request: ChatRequest) -> bool:
        """Send the quota or context-length error that the settings call for; return whether sent."""
        settings = self.app.settings
        api = openai_api if flavor == "openai" else anthropic_api
        if settings.quota_exhausted:
            self.app._stats.record_event("errors_injected")
            status = 429 if flavor == "openai" else 400
            self._send_json(status, api.quota_error())
            return True
        window = settings.context_window
        if window is None:
            return False
        # OpenAI counts the requested output against the window; Anthropic only the prompt.
        requested = request.input_tokens
        if flavor == "openai":
            requested += request.max_tokens or 0
        if requested <= window:
            return False
        self.app._stats.record_event("errors_injected")
        self._send_json(400, api.context_length_error(window, requested))
        return True

    def _send_chat_answer(
        self,
        flavor: ApiFlavor,
        request: ChatRequest,
        answer: ChatAnswer,
        headers: dict[str, str],
    ) -> None:
        if flavor == "openai":
            headers[openai_api.REQUEST_ID_HEADER] = _request_id()
            if request.stream:
                self._send_events(openai_api.chat_completion_events(request, answer), headers)
            else:
                self._send_json(200, openai_api.chat_completion_body(request, answer), headers)
            return
        headers[anthropic_api.REQUEST_ID_HEADER] = _request_id()
        overloaded_marker = self.app.settings.stream_overloaded_marker
        if request.stream and overloaded_marker is not None and overloaded_marker in request.prompt:
            self.app._stats.record_event("errors_injected")
            self._send_events(anthropic_api.overloaded_events(request), headers)
        elif request.stream:
            self._send_events(anthropic_api.message_events(request, answer), headers)
        else:
            self._send_json(200, anthropic_api.message_body(request, answer), headers)

    def _openai_embeddings(self, body: dict[str, Any]) -> None:
        try:
            request = openai_api.parse_embedding_request(body)
        except RequestError as error:
            logger.info(
                "Rejected %s %s with %d: %s",
                self.command,
                self.path,
                error.status,
                error.message,
            )
            self._send_json(error.status, openai_api.error_body(error.status, error.message))
            return

        prompt = "\n".join(request.inputs)
        payload = openai_api.embeddings_body(
            request,
            [embedding_vector(text, request.dimensions) for text in request.inputs],
        )
        input_tokens = int(payload["usage"]["prompt_tokens"])
        decision = self._apply_faults("openai", prompt, input_tokens)
        if decision is None:
            return
        self.app._stats.record_event("input_tokens", input_tokens)
        self._send_json(200, payload, _rate_limit_headers("openai", decision.rate_limit))

    def _apply_faults(self, flavor: ApiFlavor, prompt: str, input_tokens: int) -> FaultDecision | None:
        """Wait out the latency and send any injected error or hang.

        Returns the decision when the handler should send the answer, or None when the request is done.
        """
        app = self.app
        app._stats.record_prompt(prompt)
        decision = app._faults.decide(prompt, input_tokens, flavor)
        if decision.latency_seconds > 0 and app._stopping.wait(decision.latency_seconds):
            self.close_connection = True
            return None

        if decision.hang:
            app._stats.record_event("hangs")
            hang_seconds = app.settings.hang_seconds
            logger.debug(
                "Hanging %s request for %.1f s, then closing the connection",
                flavor,
                hang_seconds,
            )
            app._stopping.wait(hang_seconds)
            self.close_connection = True
            return None

        if decision.status is None:
            return decision
        app._stats.record_event("errors_injected")
        headers = _rate_limit_headers(flavor, decision.rate_limit)
        if decision.retry_after_seconds is not None:
            headers.update(retry_after_headers(decision.retry_after_seconds))
        logger.debug(
            "Sending injected %d to %s request: %s",
            decision.status,
            flavor,
            decision.reason,
        )
        self._send_json(
            decision.status,
            _error_body(flavor, decision.status, decision.reason),
            headers,
        )
        return None


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


def _error_body(flavor: ApiFlavor, status: int, message: str) -> dict[str, Any]:
    if flavor == "openai":
        return openai_api.error_body(status, message)
    return anthropic_api.error_body(status, message)


def _rate_limit_headers(flavor: ApiFlavor, state: RateLimitState | None) -> dict[str, str]:
    if state is None or not state.limited:
        return {}
    if flavor == "openai":
        return openai_api.rate_limit_headers(state)
    return anthropic_api.rate_limit_headers(state)


_ROUTES: dict[tuple[str, str], _Route] = {
    ("POST", "/v1/chat/completions"): _Handler._openai_chat,
    ("POST", "/v1/embeddings"): _Handler._openai_embeddings,
    ("GET", "/v1/models"): _Handler._models,
    ("POST", "/v1/messages"): _Handler._anthropic_messages,
    ("GET", "/_admin/stats"): _Handler._admin_stats,
    ("GET", "/_admin/faults"): _Handler._admin_get_faults,
    ("POST", "/_admin/faults"): _Handler._admin_set_faults,
    ("POST", "/_admin/reset"): _Handler._admin_reset,
}
