"""Commit metadata: the unfinished offsets past the committed one, in a short string."""

from hypothesis import given
from hypothesis import strategies as st

from llm_kafka.engine.commit_metadata import MAX_METADATA_BYTES, decode, encode


def test_encode_matches_the_worked_example() -> None:
    assert encode(100, 110, {100, 103, 104}) == "llmk1:a:3.1"


def test_decode_skips_all_but_unfinished() -> None:
    done = decode(100, "llmk1:a:3.1")

    assert done is not None
    assert [offset for offset in range(99, 113) if done.is_done(offset)] == [101, 102, 105, 106, 107, 108, 109, 110]


def test_nothing_past_the_committed_offset_encodes_to_empty() -> None:
    assert encode(11, 10, set()) == ""


@given(
    committed=st.integers(min_value=0, max_value=10**12),
    span=st.integers(min_value=0, max_value=5000),
    unfinished=st.sets(st.integers(min_value=0, max_value=5000), max_size=50),
)
def test_round_trip_keeps_the_done_set(committed: int, span: int, unfinished: set[int]) -> None:
    pending = {committed + offset for offset in unfinished if offset <= span}
    done = decode(committed, encode(committed, committed + span, pending))

    assert done is not None
    assert done.highest == committed + span
    assert done.unfinished == {offset for offset in pending if offset > committed}


def test_encode_fits_thousand_unfinished_offsets() -> None:
    metadata = encode(0, 10_000, range(0, 10_000, 10))

    assert len(metadata) < MAX_METADATA_BYTES


def test_damaged_metadata_is_ignored() -> None:
    assert decode(5, "llmk1:zz:!!") is None
    assert decode(5, "") is None
