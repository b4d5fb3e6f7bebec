"""The web service example (examples/web_service): a Pipeline inside an asyncio HTTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from examples._support import read_json
from examples.web_service.__main__ import build_pipeline
from examples.web_service.app import WebService
from llm_kafka import LLMClient
from llm_kafka.testing.llm_server import LocalLLMServer

pytestmark = pytest.mark.kafka


async def http_request(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


async def wait_for_counter(port: int, name: str, expected: float, timeout_s: float = 60.0) -> dict[str, float]:
    stats: dict[str, float] = {}
    for _ in range(int(timeout_s / 0.2)):
        _, stats = await http_request(port, "GET", "/stats")
        if stats[name] >= expected:
            break
        await asyncio.sleep(0.2)
    return stats


def test_web_service_processes_posted_documents(bootstrap_servers: str, new_topic: Callable[..., str]) -> None:
    topics = {name: new_topic(name) for name in ("documents", "keywords", "dlq")}
    documents = [{"id": f"w-{index}", "content": f"document number {index} about Kafka"} for index in range(3)]

    async def scenario(service: WebService) -> dict[str, Any]:
        stop = asyncio.Event()
        serving = asyncio.create_task(service.serve(stop))
        await asyncio.wait_for(service.started.wait(), timeout=30)
        results: dict[str, Any] = {"posts": [], "rejected": None, "unknown": None}
        for document in documents:
            results["posts"].append(
                await http_request(service.port, "POST", "/documents", json.dumps(document).encode())
            )
        results["rejected"] = await http_request(service.port, "POST", "/documents", b'{"content": "no id"}')
        results["unknown"] = await http_request(service.port, "GET", "/nowhere")
        results["stats"] = await wait_for_counter(service.port, "messages.processed", len(documents))
        results["health"] = await http_request(service.port, "GET", "/health")
        stop.set()
        await asyncio.wait_for(serving, timeout=60)
        return results

    with LocalLLMServer() as server:
        llm = LLMClient("openai", "local-model", api_key="local", base_url=server.openai_base_url)
        service = WebService(build_pipeline(bootstrap_servers, topics, llm, "web-test"), topics["documents"])
        results = asyncio.run(scenario(service))

    assert [status for status, _ in results["posts"]] == [202, 202, 202]
    assert results["rejected"][0] == 400
    assert results["unknown"][0] == 404
    assert results["stats"]["messages.processed"] == len(documents)
    assert results["health"] == (200, {"pipeline": "running"})
    outputs = read_json(bootstrap_servers, [topics["keywords"]], expected=len(documents))
    assert sorted(value["id"] for _, value in outputs) == [document["id"] for document in documents]
    assert all(value["result"]["keywords"] for _, value in outputs)
