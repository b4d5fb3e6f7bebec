"""Pause state: pause with the first reason, resume with the last, touch only our pauses."""

from llm_kafka.engine.pausing import PauseState

P0, P1 = ("in", 0), ("in", 1)


def test_partition_resumes_only_when_its_last_reason_clears() -> None:
    state = PauseState()
    state.assign([P0, P1])
    state.hold(P0, "buffer", True)
    state.hold(P0, "metadata", True)
    assert state.apply() == ([P0], [])

    state.hold(P0, "buffer", False)
    assert state.apply() == ([], [])
    state.hold(P0, "metadata", False)
    assert state.apply() == ([], [P0])


def test_global_reason_holds_every_partition_including_new_ones() -> None:
    state = PauseState()
    state.assign([P0])
    state.hold_all("llm", True)
    assert state.apply() == ([P0], [])

    assert state.assign([P1]) == [P1]
    state.hold_all("llm", False)
    assert state.apply() == ([], [P0, P1])


def test_revoked_partition_is_never_resumed() -> None:
    state = PauseState()
    state.assign([P0])
    state.hold(P0, "buffer", True)
    state.apply()
    state.remove([P0])

    assert state.apply() == ([], [])
    assert state.paused == frozenset()
