"""Scheduler: ordering lanes and the in-flight limit."""

from llm_kafka.engine.scheduler import Ordering, Scheduler
from llm_kafka.engine.transport import ConsumedRecord
from llm_kafka.processor import RecordInfo


def record(offset: int, key: bytes | None = None, partition: int = 0) -> ConsumedRecord:
    return ConsumedRecord(RecordInfo("in", partition, offset, key=key), b"{}")


def offsets(records: list[ConsumedRecord]) -> list[int]:
    return [r.info.offset for r in records]


def scheduler(ordering: Ordering, limit: int, *records: ConsumedRecord) -> Scheduler:
    result = Scheduler(ordering, limit)
    for item in records:
        result.add(item)
    return result


def test_key_ordering_follows_the_worked_example() -> None:
    a1, a2, b1, c1 = record(0, b"a"), record(1, b"a"), record(2, b"b"), record(3, b"c")
    s = scheduler("key", 2, a1, a2, b1, c1)

    assert offsets(s.take()) == [0, 2]
    s.finish(b1)
    assert offsets(s.take()) == [3]
    s.finish(a1)
    assert offsets(s.take()) == [1]


def test_same_key_never_runs_twice_at_once() -> None:
    s = scheduler("key", 10, *(record(i, b"k") for i in range(5)))

    started = s.take()
    assert offsets(started) == [0]
    assert s.take() == []
    s.finish(started[0])
    assert offsets(s.take()) == [1]


def test_null_keys_order_with_nothing() -> None:
    s = scheduler("key", 10, *(record(i) for i in range(4)))

    assert offsets(s.take()) == [0, 1, 2, 3]


def test_partition_ordering_runs_one_record_per_partition() -> None:
    s = scheduler("partition", 10, record(0, b"a"), record(1, b"b"), record(0, b"a", partition=1))

    assert [(r.info.partition, r.info.offset) for r in s.take()] == [(0, 0), (1, 0)]


def test_unordered_fills_every_slot() -> None:
    s = scheduler("unordered", 3, *(record(i, b"same") for i in range(5)))

    assert offsets(s.take()) == [0, 1, 2]
    assert s.in_flight == 3
    assert s.buffered == 2


def test_drop_forgets_waiting_records_of_revoked_partitions_only() -> None:
    running = record(0, b"a")
    s = scheduler("key", 1, running, record(1, b"a"), record(0, b"x", partition=1))
    assert s.take() == [running]

    assert s.drop([("in", 0)]) == 1
    assert s.buffered_in(("in", 0)) == 0
    s.finish(running)
    assert [(r.info.partition, r.info.offset) for r in s.take()] == [(1, 0)]
    assert s.in_flight_in(("in", 0)) == 0
