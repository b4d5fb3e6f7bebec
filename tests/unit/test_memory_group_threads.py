"""The in-memory transport under threads: members join and leave while records flow.

Each member runs a small consume-produce-commit loop on its own thread through the port
protocols, with the engine's OffsetTracker, as the pipeline engine does. Every input must
end up produced at least once and committed, however the partitions moved.
"""

from __future__ import annotations

import threading
import time

from llm_kafka.engine.offsets import OffsetTracker
from llm_kafka.engine.transport import TopicPartition
from llm_kafka.errors import CommitError, DeliveryError
from llm_kafka.testing.memory import InMemoryBroker, InMemoryTransport

RECORDS = 400
PARTITIONS = 4


class Member:
    """One group member: polls, produces each record to ``out``, commits finished offsets."""

    def __init__(self, transport: InMemoryTransport) -> None:
        self.consumer = transport.consumer()
        self.producer = transport.producer()
        self.offsets = OffsetTracker()
        self.stop = threading.Event()
        self.errors: list[Exception] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.consumer.subscribe(["in"], self._assigned, self._revoked, self._lost)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10.0)
        assert not self.thread.is_alive(), "member thread did not stop"

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                for record in self.consumer.poll_batch(25, 0.01):
                    info = record.info
                    self.offsets.register(info.topic, info.partition, info.offset)
                    self.producer.produce(
                        "out",
                        record.value,
                        key=info.key,
                        headers=[("source", f"{info.partition}/{info.offset}")],
                        on_delivery=self._delivered(info.topic, info.partition, info.offset),
                    )
                self._commit()
            self.producer.flush(5.0)
            self._commit()
            self.consumer.close()
            self.producer.close(5.0)
        except Exception as error:
            self.errors.append(error)

    def _delivered(self, topic: str, partition: int, offset: int):  # type: ignore[no-untyped-def]
        def report(error: DeliveryError | None) -> None:
            if error is None:
                self.offsets.mark_done(topic, partition, offset)

        return report

    def _commit(self, partitions: list[TopicPartition] | None = None) -> None:
        candidates = self.offsets.commit_candidates()
        if partitions is not None:
            candidates = {key: offset for key, offset in candidates.items() if key in partitions}
        if not candidates:
            return
        try:
            self.consumer.commit(candidates)
        except CommitError:
            return
        self.offsets.mark_committed(candidates)

    def _assigned(self, partitions: list[TopicPartition]) -> None:
        pass

    def _revoked(self, partitions: list[TopicPartition]) -> None:
        self.producer.flush(5.0)
        self._commit(partitions)
        self.offsets.forget(partitions)

    def _lost(self, partitions: list[TopicPartition]) -> None:
        self.offsets.forget(partitions)


def wait_until_committed(broker: InMemoryBroker, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if broker.committed("g", "in") == broker.end_offsets("in"):
            return True
        time.sleep(0.01)
    return False


def test_members_joining_and_leaving_settle_every_record() -> None:
    broker = InMemoryBroker()
    broker.create_topic("in", partitions=PARTITIONS)
    broker.create_topic("out")
    transport = broker.transport("g")
    first, second, third = Member(transport), Member(transport), Member(transport)

    first.start()
    for i in range(RECORDS):
        broker.send("in", {"n": i}, key=f"k{i}")
        if i == RECORDS // 4:
            second.start()
        if i == RECORDS // 2:
            first.close()
        if i == 3 * RECORDS // 4:
            third.start()

    settled = wait_until_committed(broker, 20.0)
    second.close()
    third.close()

    assert settled, f"committed {broker.committed('g', 'in')} of {broker.end_offsets('in')}"
    assert first.errors == second.errors == third.errors == []
    sources = {record.header_text("source") for record in broker.records("out")}
    expected = {f"{record.partition}/{record.offset}" for record in broker.records("in")}
    assert sources == expected
    assert broker.assignment("g") == {}
