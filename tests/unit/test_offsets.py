"""Offset tracker: commits never pass an unfinished offset."""

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_kafka.engine.offsets import OffsetTracker
from llm_kafka.engine.transport import CommittedOffset

TP = ("orders", 0)


def test_commit_waits_for_lowest_pending_offset() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.register(*TP, offset)
    tracker.mark_done(*TP, 11)
    tracker.mark_done(*TP, 12)

    assert tracker.commit_candidates() == {TP: CommittedOffset(10)}


def test_commit_is_one_past_highest_when_all_done() -> None:
    tracker = OffsetTracker()
    tracker.register(*TP, 5)
    tracker.mark_done(*TP, 5)

    assert tracker.commit_candidates() == {TP: CommittedOffset(6)}


def test_compaction_gap_does_not_block_commit() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 13):
        tracker.register(*TP, offset)
    for offset in (10, 11, 13):
        tracker.mark_done(*TP, offset)

    assert tracker.commit_candidates() == {TP: CommittedOffset(14)}


def test_unchanged_offset_is_not_offered_twice() -> None:
    tracker = OffsetTracker()
    tracker.register(*TP, 0)
    tracker.mark_done(*TP, 0)
    tracker.mark_committed(tracker.commit_candidates())

    assert tracker.commit_candidates() == {}


def test_forgotten_partition_ignores_late_completion() -> None:
    tracker = OffsetTracker()
    tracker.register(*TP, 0)
    tracker.forget([TP])

    assert tracker.mark_done(*TP, 0) is False
    assert tracker.commit_candidates() == {}


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=60, unique=True),
    data=st.data(),
)
def test_commit_never_passes_unfinished_offset(offsets: list[int], data: st.DataObject) -> None:
    offsets.sort()  # a partition delivers offsets in increasing order, with gaps
    tracker = OffsetTracker()
    for offset in offsets:
        tracker.register(*TP, offset)

    done_order = data.draw(st.permutations(offsets))
    stop_after = data.draw(st.integers(min_value=0, max_value=len(offsets)))
    done = set(done_order[:stop_after])
    for offset in done_order[:stop_after]:
        tracker.mark_done(*TP, offset)

    committed = tracker.commit_candidates()[TP].offset
    unfinished = [o for o in offsets if o not in done]
    if unfinished:
        assert committed == min(unfinished)
    else:
        assert committed == max(offsets) + 1
    assert all(o in done for o in offsets if o < committed)


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=80, unique=True),
    data=st.data(),
)
def test_restart_skips_finished_offsets(offsets: list[int], data: st.DataObject) -> None:
    offsets.sort()
    before = OffsetTracker(with_metadata=True)
    for offset in offsets:
        before.register(*TP, offset)
    done = set(data.draw(st.lists(st.sampled_from(offsets), unique=True)))
    for offset in done:
        before.mark_done(*TP, offset)
    committed = before.commit_candidates()[TP]

    # A new owner reads the partition again from the committed offset.
    after = OffsetTracker(with_metadata=True)
    after.seed(TP, committed)
    replayed = [offset for offset in offsets if offset >= committed.offset]
    processed = {offset for offset in replayed if after.register(*TP, offset)}

    assert processed == {offset for offset in replayed if offset not in done}


def test_metadata_keeps_previous_owner_progress() -> None:
    before = OffsetTracker(with_metadata=True)
    for offset in range(10):
        before.register(*TP, offset)
    for offset in (1, 2, 5, 6, 7, 8, 9):
        before.mark_done(*TP, offset)
    first = before.commit_candidates()[TP]  # offset 0, unfinished 3 and 4

    after = OffsetTracker(with_metadata=True)
    after.seed(TP, first)
    assert after.register(*TP, 0) is True
    after.mark_done(*TP, 0)
    second = after.commit_candidates()[TP]

    third = OffsetTracker(with_metadata=True)
    third.seed(TP, second)
    assert second.offset == 3
    assert [offset for offset in range(3, 12) if third.register(*TP, offset)] == [3, 4, 10, 11]


def test_metadata_from_another_tool_is_ignored() -> None:
    tracker = OffsetTracker(with_metadata=True)
    tracker.seed(TP, CommittedOffset(5, "written by someone else"))

    assert tracker.register(*TP, 6) is True
