"""The offset tracker against a simple model, with random completions, gaps, commits and revokes."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from llm_kafka.engine.offsets import OffsetTracker
from llm_kafka.engine.transport import CommittedOffset

TP = ("orders", 0)


class TrackerModel(RuleBasedStateMachine):
    """One partition whose log has gaps, consumed by owners that come and go.

    The model records which offsets really exist and which were ever finished. The tracker must
    never commit past an offset that exists and is unfinished, and a new owner must never skip
    such an offset.
    """

    def __init__(self) -> None:
        super().__init__()
        self.log: list[int] = []  # offsets that exist, in order
        self.finished: set[int] = set()
        self.committed = CommittedOffset(0)
        self.tracker = OffsetTracker(with_metadata=True)
        self.position = 0  # next index in ``log`` this owner reads
        self.pending: set[int] = set()

    @rule(gap=st.integers(min_value=1, max_value=4))
    def append(self, gap: int) -> None:
        self.log.append((self.log[-1] if self.log else -1) + gap)

    @precondition(lambda self: self.position < len(self.log))
    @rule()
    def consume(self) -> None:
        offset = self.log[self.position]
        self.position += 1
        if self.tracker.register(*TP, offset):
            self.pending.add(offset)
        else:
            assert offset in self.finished, f"unfinished offset {offset} was skipped"

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        offset = data.draw(st.sampled_from(sorted(self.pending)))
        self.pending.discard(offset)
        self.finished.add(offset)
        self.tracker.mark_done(*TP, offset)

    @rule()
    def commit(self) -> None:
        candidate = self.tracker.commit_candidates().get(TP)
        if candidate is not None:
            self.committed = candidate
            self.tracker.mark_committed({TP: candidate})

    @rule(commit_first=st.booleans())
    def hand_over(self, commit_first: bool) -> None:
        """The partition moves to a new owner (a revoke, or a crash when nothing is committed)."""
        if commit_first:
            self.commit()
        self.tracker.forget([TP])
        self.tracker = OffsetTracker(with_metadata=True)
        self.tracker.seed(TP, self.committed)
        self.pending.clear()
        self.position = next((i for i, offset in enumerate(self.log) if offset >= self.committed.offset), len(self.log))

    @invariant()
    def commit_never_passes_unfinished_work(self) -> None:
        unfinished = [offset for offset in self.log if offset not in self.finished]
        assert all(offset >= self.committed.offset for offset in unfinished)


TrackerModel.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
test_tracker_model = TrackerModel.TestCase
