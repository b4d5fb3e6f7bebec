"""A small asyncio HTTP service that runs a ``Pipeline`` on its own event loop.

The service accepts documents over HTTP, produces them to the pipeline's input topic, and
reports health and counters. ``Pipeline.arun()`` runs as one task beside the HTTP server, so
the processor's async hook runs on the same loop as the request handlers. Routes:

- ``POST /documents`` with a JSON body ``{"id": ..., "content": ...}``: 202 once the broker
  has acknowledged the record.
- ``GET /health``: 200 while the pipeline runs, 503 once it has stopped.
- ``GET /stats``: the pipeline's message counters.

The HTTP layer is the standard library's ``asyncio.start_server`` so that the example needs
no web framework; the pattern is the same in any asyncio framework's start-up hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from llm_kafka import BaseProcessor, Pipeline, ProcessingContext

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
MAX_HEADER_LINES = 100
COUNTERS = ("messages.processed", "messages.dead_lettered")


class Keywords(BaseProcessor):
    """Asks the model for up to five keywords of a document."""

    name = "keywords"

    async def process(self, data: Any, context: ProcessingContext) -> dict[str, Any]:
        if context.llm is None:
            raise RuntimeError("Keywords needs a pipeline with an LLM client")
        response = await context.llm.acomplete(f"List up to five keywords of this text, comma-separated:\n{data}")
        return {"keywords": [word.strip() for word in response.text.split(",") if word.strip()][:5]}


class WebService:
    """Serves HTTP on ``host:port`` and runs ``pipeline`` on the same event loop.

    ``port=0`` picks a free port; ``port`` holds the bound one once ``started`` is set.
    """

    def __init__(self, pipeline: Pipeline, input_topic: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.pipeline = pipeline
        self.input_topic = input_topic
        self.host = host
        self.port = port
        self.started = asyncio.Event()
        self._producer = Producer(pipeline.kafka.producer_config())
        self._pipeline_task: asyncio.Task[None] | None = None

    async def serve(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then stop the pipeline and the server and flush the producer."""
        server = await asyncio.start_server(self._handle_connection, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._pipeline_task = asyncio.create_task(self.pipeline.arun(), name="llm-kafka-pipeline")
        logger.info("serving on http://%s:%d, input topic %s", self.host, self.port, self.input_topic)
        self.started.set()
        try:
            await stop.wait()
        finally:
            self._pipeline_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pipeline_task
            server.close()
            await server.wait_closed()
            await asyncio.to_thread(self._producer.flush, 10)
            logger.info("stopped serving on port %d", self.port)

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._respond(reader)
        except (ValueError, asyncio.IncompleteReadError) as error:
            status, body = 400, {"error": f"invalid request: {error}"}
        payload = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
        except ConnectionError as error:
            logger.info("client went away before the response was sent: %s", error)
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        method, path, body = await _read_request(reader)
        if (method, path) == ("GET", "/health"):
            running = self._pipeline_task is not None and not self._pipeline_task.done()
            return (200 if running else 503), {"pipeline": "running" if running else "stopped"}
        if (method, path) == ("GET", "/stats"):
            snapshot = self.pipeline.metrics.snapshot()
            return 200, {name: snapshot.counter(name) for name in COUNTERS}
        if (method, path) == ("POST", "/documents"):
            return await self._submit(body)
        return 404, {"error": f"no route for {method} {path}; use POST /documents, GET /health or GET /stats"}

    async def _submit(self, body: bytes) -> tuple[int, dict[str, Any]]:
        document = json.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("id"), str) or "content" not in document:
            return 400, {"error": 'the body must be a JSON object {"id": "<string>", "content": ...}'}

        loop = asyncio.get_running_loop()
        delivered: asyncio.Future[None] = loop.create_future()

        def on_delivery(error: KafkaError | None, _: Message) -> None:
            outcome = RuntimeError(str(error)) if error is not None else None
            loop.call_soon_threadsafe(_settle, delivered, outcome)

        self._producer.produce(self.input_topic, key=document["id"].encode(), value=body, on_delivery=on_delivery)
        await asyncio.to_thread(self._producer.flush, 10)
        try:
            await asyncio.wait_for(delivered, timeout=1)
        except (RuntimeError, asyncio.TimeoutError) as error:
            logger.error("document %s was not acknowledged by the broker: %s", document["id"], error)
            return 503, {"error": f"the broker did not acknowledge document {document['id']}: {error}"}
        return 202, {"id": document["id"], "topic": self.input_topic}


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    """Read one HTTP/1.1 request; return method, path and body. Raises ValueError when malformed."""
    request_line = (await reader.readline()).decode("latin-1").split()
    if len(request_line) != 3:
        raise ValueError(f"malformed request line {' '.join(request_line)!r}")
    method, path, _ = request_line

    length = 0
    for _ in range(MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    else:
        raise ValueError(f"more than {MAX_HEADER_LINES} header lines")
    if not 0 <= length <= MAX_BODY_BYTES:
        raise ValueError(f"Content-Length {length} is outside 0..{MAX_BODY_BYTES}")

    body = await reader.readexactly(length) if length else b""
    return method, path, body
