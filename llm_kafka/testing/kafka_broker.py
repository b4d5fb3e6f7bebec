"""Local single-node Apache Kafka broker for tests and the demo.

This module fetches the broker jars with Maven into a per-version cache, writes a
one-node KRaft configuration on free 127.0.0.1 ports, formats the storage, runs the
broker as a java child process and stops it again. It also creates and deletes topics
and falls back to an external broker when KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, Protocol

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

# confluent-kafka 2.16 documents NewTopic under confluent_kafka.admin, but only its
# C extension module re-exports it in a way that mypy accepts.
from confluent_kafka.cimpl import NewTopic

logger = logging.getLogger(__name__)

# librdkafka's own log lines from the admin clients here go through Python logging instead
# of straight to stderr, like the pipeline's clients.
_CLIENT_LOGGER = logging.getLogger("llm_kafka.librdkafka")


def _admin_client(bootstrap_servers: str) -> AdminClient:
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "logger": _CLIENT_LOGGER}
    return AdminClient(config)


KAFKA_VERSION: Final = "4.4.0"
"""Apache Kafka release the harness runs. It must equal kafka.version in kafka/pom.xml."""

BOOTSTRAP_SERVERS_ENV: Final = "KAFKA_BOOTSTRAP_SERVERS"
"""Environment variable naming an external broker that broker_from_environment() uses."""

CACHE_DIR_ENV: Final = "LLM_KAFKA_CACHE_DIR"
"""Environment variable that replaces ~/.cache/llm-kafka as the root of the jar cache."""

_POM_PATH: Final = Path(__file__).parent / "kafka" / "pom.xml"
_COMPLETE_MARKER: Final = ".complete"
_HOST: Final = "127.0.0.1"

# A fetch of the 45 jars (43 MB) into an empty ~/.m2 took about 7 s on a 2-core
# development machine, so this limit only guards against a hung download.
_MAVEN_TIMEOUT_S: Final = 600.0
# StorageTool is one short JVM run that writes two meta.properties files.
_FORMAT_TIMEOUT_S: Final = 60.0
# Per attempt of the readiness probe, so a dead broker cannot stall a probe for long.
_PROBE_TIMEOUT_S: Final = 5.0
# _free_port() releases each port before java binds it, so another process can take
# it in between. start() then picks new ports, up to this many attempts in all.
_MAX_START_ATTEMPTS: Final = 3
_LOG_TAIL_LINES: Final = 40


class KafkaBrokerError(RuntimeError):
    """Raised when the local broker cannot be fetched, formatted, started or reached.

    Not retryable as is: the message names the failed step, the log file to read and
    what to change (install a tool, fix a setting, raise a timeout).
    """


class BrokerHandle(Protocol):
    """A running broker that tests connect to, local or external."""

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated host:port list for the bootstrap.servers client setting."""
        ...

    def stop(self) -> None:
        """Release the broker. Calling it again does nothing."""
        ...


class ExternalKafkaBroker:
    """Handle for a broker that something else runs. Its stop() leaves the broker alone."""

    def __init__(self, bootstrap_servers: str) -> None:
        if not bootstrap_servers.strip():
            raise ValueError("bootstrap_servers is empty: expected host:port[,host:port...]")
        self._bootstrap_servers = bootstrap_servers.strip()

    @property
    def bootstrap_servers(self) -> str:
        return self._bootstrap_servers

    def stop(self) -> None:
        """Do nothing, because this process did not start the broker."""

    def __enter__(self) -> ExternalKafkaBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ExternalKafkaBroker(bootstrap_servers={self._bootstrap_servers!r})"


# --- Jar cache -------------------------------------------------------------------


def default_libs_dir() -> Path:
    """Return the jar folder for KAFKA_VERSION, honouring LLM_KAFKA_CACHE_DIR."""
    override = os.environ.get(CACHE_DIR_ENV)
    root = Path(override).expanduser() if override else Path.home() / ".cache" / "llm-kafka"
    return root / f"kafka-{KAFKA_VERSION}" / "libs"


def ensure_kafka_libs(libs_dir: Path | None = None) -> Path:
    """Fetch the Kafka broker jars into libs_dir unless a finished fetch is there.

    The first call runs Maven on the packaged pom.xml and needs Maven Central or a
    filled ~/.m2. A marker file written after a successful copy makes later calls
    return at once. A file lock serialises concurrent callers, such as pytest-xdist
    workers. Returns the folder with the jars.
    """
    libs_dir = libs_dir if libs_dir is not None else default_libs_dir()
    if (libs_dir / _COMPLETE_MARKER).is_file():
        return libs_dir

    _require_executable("java")
    maven = _require_executable("mvn")
    libs_dir.parent.mkdir(parents=True, exist_ok=True)

    with _exclusive_lock(libs_dir.parent / ".fetch.lock", timeout_s=_MAVEN_TIMEOUT_S):
        # Another process may have finished the fetch while this one waited.
        if (libs_dir / _COMPLETE_MARKER).is_file():
            return libs_dir

        staging_dir = libs_dir.parent / f"{libs_dir.name}.partial"
        shutil.rmtree(staging_dir, ignore_errors=True)
        _run_maven_copy(maven, staging_dir)

        expected_jar = staging_dir / f"kafka_2.13-{KAFKA_VERSION}.jar"
        if not expected_jar.is_file():
            shutil.rmtree(staging_dir, ignore_errors=True)
            raise KafkaBrokerError(
                f"Maven finished but {expected_jar.name} is missing: the kafka.version in "
                f"{_POM_PATH} must equal KAFKA_VERSION ({KAFKA_VERSION}) in {__file__}"
            )

        (staging_dir / _COMPLETE_MARKER).write_text(f"{KAFKA_VERSION}\n", encoding="utf-8")
        shutil.rmtree(libs_dir, ignore_errors=True)
        staging_dir.rename(libs_dir)

    logger.info("Fetched Kafka %s jars into %s", KAFKA_VERSION, libs_dir)
    return libs_dir


def _run_maven_copy(maven: str, output_dir: Path) -> None:
    command = [
        maven,
        "-q",
        "-B",
        "-f",
        str(_POM_PATH),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}",
    ]
    logger.info("Fetching Kafka %s jars with Maven into %s", KAFKA_VERSION, output_dir)
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_MAVEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise KafkaBrokerError(
            f"Maven did not finish fetching the Kafka jars within {_MAVEN_TIMEOUT_S:.0f} s. "
            f"Check access to Maven Central and rerun: {' '.join(command)}"
        ) from error

    if result.returncode != 0:
        output = _last_lines(result.stdout + result.stderr, _LOG_TAIL_LINES)
        raise KafkaBrokerError(
            f"Maven failed with exit code {result.returncode} while fetching the Kafka "
            f"{KAFKA_VERSION} jars. Command: {' '.join(command)}\n{output}"
        )
    logger.info("Maven fetch took %.1f s", time.monotonic() - started)


def _require_executable(name: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    hints = {
        "java": "install a Java 17 or newer runtime (Debian: apt-get install openjdk-17-jre-headless)",
        "mvn": "install Apache Maven (Debian: apt-get install maven)",
    }
    raise KafkaBrokerError(
        f"{name} not found on PATH, but the local Kafka broker needs it: {hints[name]}. "
        f"Or set {BOOTSTRAP_SERVERS_ENV} to use a running broker."
    )


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path, timeout_s: float) -> Iterator[None]:
    deadline = time.monotonic() + timeout_s
    with lock_path.open("a") as lock_file:
        while True:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise KafkaBrokerError(
                        f"Timed out after {timeout_s:.0f} s waiting for {lock_path}, which "
                        "another process holds while it fetches the Kafka jars"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


# --- Configuration ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _random_cluster_id() -> str:
    """Return a Kafka cluster id: 16 random bytes as unpadded base64url, 22 characters.

    Kafka's own Uuid.randomUuid() also avoids ids that start with "-", because the
    command-line tools would read those as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _broker_properties(
    broker_port: int,
    controller_port: int,
    data_dir: Path,
    auto_create_topics: bool,
    extra_config: Mapping[str, str],
) -> dict[str, str]:
    """Build the server.properties entries for a one-node KRaft broker and controller."""
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # Kafka 4.x dynamic quorum: storage is formatted with --standalone, so the
        # controller is found through bootstrap servers, not controller.quorum.voters.
        "controller.quorum.bootstrap.servers": f"{_HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{_HOST}:{broker_port},CONTROLLER://{_HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{_HOST}:{broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        # Off by default, so a misspelt topic name makes a test fail instead of
        # creating a new topic. auto_create_topics=True turns it on.
        "auto.create.topics.enable": "true" if auto_create_topics else "false",
        # One node, so every internal topic must live with one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # One partition of __consumer_offsets instead of 50 makes the first consumer
        # group of a run ready sooner.
        "offsets.topic.num.partitions": "1",
        # Fast rebalances for tests. The classic protocol (the librdkafka default)
        # starts the first rebalance at once and accepts session.timeout.ms down to 1 s.
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "1000",
        # The consumer group protocol of KIP-848 (group.protocol=consumer) takes its
        # timeouts from the broker. These detect a dead member after 10 s, not 45 s.
        "group.consumer.min.session.timeout.ms": "1000",
        "group.consumer.session.timeout.ms": "10000",
        "group.consumer.min.heartbeat.interval.ms": "500",
        "group.consumer.heartbeat.interval.ms": "1000",
        # 16 MiB instead of 1 GiB, so tests of retention or compaction see segments
        # roll without writing gigabytes.
        "log.segment.bytes": str(16 * 1024 * 1024),
    }
    properties.update(extra_config)
    return properties


def _write_properties(path: Path, properties: Mapping[str, str]) -> None:
    lines = [f"{key}={value}" for key, value in properties.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _log4j2_properties(log_file: Path) -> dict[str, str]:
    """Build a log4j 2 configuration that writes the broker's INFO log to log_file."""
    return {
        "status": "warn",
        "appender.file.type": "File",
        "appender.file.name": "file",
        "appender.file.fileName": str(log_file),
        "appender.file.layout.type": "PatternLayout",
        "appender.file.layout.pattern": "[%d] %p %m (%c)%n",
        "rootLogger.level": "INFO",
        "rootLogger.appenderRef.file.ref": "file",
    }


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.splitlines()[-count:])


def _read_tail(path: Path, count: int) -> str:
    try:
        return _last_lines(path.read_text(encoding="utf-8", errors="replace"), count)
    except FileNotFoundError:
        return f"({path} was not written)"


# --- Topic administration --------------------------------------------------------


def create_topic(
    bootstrap_servers: str,
    name: str,
    partitions: int = 1,
    replication_factor: int = 1,
    config: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Create a topic and wait until the broker confirms it.

    Works against any broker, local or external. Raises KafkaException when the broker
    rejects the request, for example TOPIC_ALREADY_EXISTS, and KafkaBrokerError when it
    does not answer within timeout_s seconds.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    admin = _admin_client(bootstrap_servers)
    topic = NewTopic(
        name,
        num_partitions=partitions,
        replication_factor=replication_factor,
        config=dict(config or {}),
    )
    futures = admin.create_topics([topic], operation_timeout=timeout_s, request_timeout=timeout_s)
    _wait_for_admin_future(futures[name], f"create topic {name!r}", bootstrap_servers, timeout_s)
    logger.info("Created topic %s with %d partitions on %s", name, partitions, bootstrap_servers)


def delete_topic(bootstrap_servers: str, name: str, timeout_s: float = 30.0) -> None:
    """Delete a topic and wait until the broker confirms it.

    Raises KafkaException when the broker rejects the request, for example
    UNKNOWN_TOPIC_OR_PART, and KafkaBrokerError when it does not answer in time.
    """
    admin = _admin_client(bootstrap_servers)
    futures = admin.delete_topics([name], operation_timeout=timeout_s, request_timeout=timeout_s)
    _wait_for_admin_future(futures[name], f"delete topic {name!r}", bootstrap_servers, timeout_s)
    logger.info("Deleted topic %s on %s", name, bootstrap_servers)


def _wait_for_admin_future(
    future: concurrent.futures.Future[None],
    action: str,
    bootstrap_servers: str,
    timeout_s: float,
) -> None:
    try:
        # A little beyond the request timeout, so librdkafka reports its own error first.
        future.result(timeout=timeout_s + 5.0)
    except concurrent.futures.TimeoutError as error:
        raise KafkaBrokerError(
            f"Timed out after {timeout_s:.0f} s waiting to {action} on {bootstrap_servers}"
        ) from error


# --- Broker process --------------------------------------------------------------


class LocalKafkaBroker:
    """A single-node Kafka broker in KRaft mode, run as a java child process.

    It listens on 127.0.0.1 only, on free ports picked at start, and keeps its
    configuration, data and logs in a temporary folder that stop() removes. An atexit
    hook stops a broker that the program forgot to stop. A SIGKILL of the Python
    process skips that hook and leaves the java process running.

    Usage::

        with LocalKafkaBroker() as broker:
            create_topic(broker.bootstrap_servers, "requests", partitions=3)
    """

    def __init__(
        self,
        *,
        libs_dir: Path | None = None,
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 30.0,
        max_heap_mb: int = 512,
        auto_create_topics: bool = False,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        """Configure a broker without starting it.

        libs_dir: folder with the Kafka jars. Default: default_libs_dir(), filled by
            Maven on the first start.
        start_timeout_s: seconds start() waits for the broker to respond to a
            metadata request, per attempt. Default 90.
        stop_timeout_s: seconds stop() waits after SIGTERM before it sends SIGKILL.
            Default 30; a one-node controlled shutdown normally takes a few seconds.
        max_heap_mb: JVM maximum heap (-Xmx) in MiB. The initial heap is half of it.
            Default 512.
        auto_create_topics: value of auto.create.topics.enable. Default False, so
            tests create their topics with create_topic().
        extra_config: server.properties entries that override the defaults.
        """
        if start_timeout_s <= 0 or stop_timeout_s <= 0:
            raise ValueError("start_timeout_s and stop_timeout_s must be positive seconds")
        if max_heap_mb < 128:
            raise ValueError(f"max_heap_mb must be at least 128 MiB, got {max_heap_mb}")
        self._libs_dir = libs_dir
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._max_heap_mb = max_heap_mb
        self._auto_create_topics = auto_create_topics
        self._extra_config = dict(extra_config or {})

        self._process: subprocess.Popen[bytes] | None = None
        self._work_dir: Path | None = None
        self._broker_port: int | None = None
        self._lock = threading.Lock()

    @property
    def bootstrap_servers(self) -> str:
        """The broker's address as "127.0.0.1:PORT". Raises KafkaBrokerError before start()."""
        if self._broker_port is None or not self.is_running:
            raise KafkaBrokerError("The local Kafka broker is not running: call start() first")
        return f"{_HOST}:{self._broker_port}"

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the java process, or None when no broker was started."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """The broker's log4j log file, or None when no broker was started.

        stop() deletes the file with the temporary folder.
        """
        return self._work_dir / "logs" / "server.log" if self._work_dir is not None else None

    def start(self) -> LocalKafkaBroker:
        """Fetch the jars if needed, format storage, start the broker and wait for it.

        Blocks for up to start_timeout_s seconds per attempt, plus a Maven fetch on the
        first run. Raises KafkaBrokerError, naming the log file, when the broker exits
        or does not respond in time. On failure the temporary folder stays until stop()
        or interpreter exit, so the log can be read.
        """
        with self._lock:
            if self._process is not None:
                raise KafkaBrokerError(
                    "This LocalKafkaBroker was already started. Create a new LocalKafkaBroker to start another broker."
                )
            libs_dir = ensure_kafka_libs(self._libs_dir)

            for attempt in range(1, _MAX_START_ATTEMPTS + 1):
                started = time.monotonic()
                atexit.register(self.stop)
                try:
                    self._launch(libs_dir)
                    self._wait_until_ready()
                except _PortInUseError:
                    if attempt == _MAX_START_ATTEMPTS:
                        raise KafkaBrokerError(
                            f"The local Kafka broker could not bind its ports in "
                            f"{_MAX_START_ATTEMPTS} attempts. See {self.log_path}"
                        ) from None
                    logger.warning(
                        "Kafka broker port %s was taken before java bound it; retrying "
                        "with new ports (attempt %d of %d)",
                        self._broker_port,
                        attempt + 1,
                        _MAX_START_ATTEMPTS,
                    )
                    self._stop_process()
                    self._remove_work_dir()
                    continue
                except BaseException:
                    # Keep the folder so the caller can read the log the error names.
                    self._stop_process()
                    raise

                logger.info(
                    "Kafka %s broker pid %d ready at %s in %.1f s (log: %s)",
                    KAFKA_VERSION,
                    self.pid,
                    self.bootstrap_servers,
                    time.monotonic() - started,
                    self.log_path,
                )
                return self
        raise AssertionError("unreachable: every start attempt returns or raises")

    def stop(self) -> None:
        """Stop the broker and delete its temporary folder.

        Sends SIGTERM for a controlled shutdown, waits up to stop_timeout_s seconds,
        then sends SIGKILL. Calling it again, or before start(), does nothing.
        """
        with self._lock:
            atexit.unregister(self.stop)
            self._stop_process()
            self._remove_work_dir()

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        """Create a topic on this broker. See the module-level create_topic()."""
        create_topic(self.bootstrap_servers, name, partitions, 1, config, timeout_s)

    def delete_topic(self, name: str, timeout_s: float = 30.0) -> None:
        """Delete a topic on this broker. See the module-level delete_topic()."""
        delete_topic(self.bootstrap_servers, name, timeout_s)

    def __enter__(self) -> LocalKafkaBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {_HOST}:{self._broker_port}" if self.is_running else "stopped"
        return f"LocalKafkaBroker(version={KAFKA_VERSION!r}, {state})"

    def _launch(self, libs_dir: Path) -> None:
        """Write the configuration on fresh ports, format storage and start java."""
        work_dir = Path(tempfile.mkdtemp(prefix="llm-kafka-broker-"))
        self._work_dir = work_dir
        data_dir = work_dir / "data"
        logs_dir = work_dir / "logs"
        logs_dir.mkdir()

        self._broker_port = _free_port()
        controller_port = _free_port()
        while controller_port == self._broker_port:
            controller_port = _free_port()

        server_config = work_dir / "server.properties"
        _write_properties(
            server_config,
            _broker_properties(
                self._broker_port,
                controller_port,
                data_dir,
                self._auto_create_topics,
                self._extra_config,
            ),
        )
        log4j_config = work_dir / "log4j2.properties"
        _write_properties(log4j_config, _log4j2_properties(logs_dir / "server.log"))

        java = _require_executable("java")
        classpath = str(libs_dir / "*")
        jvm_options = [
            f"-Xmx{self._max_heap_mb}m",
            f"-Xms{self._max_heap_mb // 2}m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j_config}",
        ]
        self._format_storage(java, classpath, jvm_options, server_config, logs_dir)

        stdout_path = logs_dir / "stdout.log"
        with stdout_path.open("wb") as stdout_file:
            # A new session keeps a terminal's Ctrl-C away from java, so stop() decides
            # the shutdown order.
            self._process = subprocess.Popen(
                [
                    java,
                    *jvm_options,
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(server_config),
                ],
                stdin=subprocess.DEVNULL,
                stdout=stdout_file,
                stderr=subprocess.STDOUT,
                cwd=work_dir,
                start_new_session=True,
            )
        logger.info(
            "Started Kafka broker pid %d on %s:%d (controller port %d, folder %s)",
            self._process.pid,
            _HOST,
            self._broker_port,
            controller_port,
            work_dir,
        )

    def _format_storage(
        self,
        java: str,
        classpath: str,
        jvm_options: Sequence[str],
        server_config: Path,
        logs_dir: Path,
    ) -> None:
        command = [
            java,
            *jvm_options,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--cluster-id",
            _random_cluster_id(),
            "--config",
            str(server_config),
        ]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=_FORMAT_TIMEOUT_S,
                check=False,
                cwd=server_config.parent,
            )
        except subprocess.TimeoutExpired as error:
            raise KafkaBrokerError(
                f"kafka.tools.StorageTool format did not finish within {_FORMAT_TIMEOUT_S:.0f} s"
            ) from error

        output = result.stdout + result.stderr
        (logs_dir / "format.log").write_text(output, encoding="utf-8")
        if result.returncode != 0:
            raise KafkaBrokerError(
                f"kafka.tools.StorageTool format failed with exit code {result.returncode} "
                f"for {server_config}:\n{_last_lines(output, _LOG_TAIL_LINES)}"
            )

    def _wait_until_ready(self) -> None:
        """Poll until the broker returns metadata that lists at least one broker."""
        assert self._process is not None and self._broker_port is not None
        deadline = time.monotonic() + self._start_timeout_s
        address = (_HOST, self._broker_port)

        # Wait for the listener first: librdkafka logs every refused connection to
        # stderr, and the JVM needs a few seconds before it binds the port.
        while not self._port_accepts(address):
            self._raise_if_exited()
            if time.monotonic() >= deadline:
                raise self._timeout_error()
            time.sleep(0.2)

        admin = _admin_client(f"{_HOST}:{self._broker_port}")
        while True:
            self._raise_if_exited()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout_error()
            try:
                metadata = admin.list_topics(timeout=min(_PROBE_TIMEOUT_S, remaining))
            except KafkaException as error:
                logger.debug("Kafka broker not ready yet: %s", error)
                time.sleep(0.2)
                continue
            if metadata.brokers:
                return
            time.sleep(0.2)

    @staticmethod
    def _port_accepts(address: tuple[str, int]) -> bool:
        try:
            with socket.create_connection(address, timeout=1.0):
                return True
        except OSError:
            return False

    def _raise_if_exited(self) -> None:
        assert self._process is not None
        exit_code = self._process.poll()
        if exit_code is None:
            return
        assert self._work_dir is not None
        log_text = _read_tail(self._work_dir / "logs" / "server.log", _LOG_TAIL_LINES)
        stdout_text = _read_tail(self._work_dir / "logs" / "stdout.log", _LOG_TAIL_LINES)
        if "Address already in use" in log_text + stdout_text:
            raise _PortInUseError()
        raise KafkaBrokerError(
            f"The Kafka broker exited with code {exit_code} before it was ready. "
            f"Log: {self.log_path}\n{log_text}\n{stdout_text}"
        )

    def _timeout_error(self) -> KafkaBrokerError:
        return KafkaBrokerError(
            f"Timed out: the Kafka broker did not respond on {_HOST}:{self._broker_port} within "
            f"{self._start_timeout_s:.0f} s. Read {self.log_path}, or raise start_timeout_s "
            "on a slow machine."
        )

    def _stop_process(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        logger.info("Stopping Kafka broker pid %d", process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning(
                "Kafka broker pid %d did not exit %.0f s after SIGTERM; sending SIGKILL",
                process.pid,
                self._stop_timeout_s,
            )
            process.kill()
            process.wait(timeout=10.0)
        logger.info("Kafka broker pid %d exited with code %s", process.pid, process.returncode)

    def _remove_work_dir(self) -> None:
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None


class _PortInUseError(Exception):
    """The broker exited because another process took one of its ports first."""


# --- Environment selection -------------------------------------------------------


def broker_from_environment(**broker_options: Any) -> BrokerHandle:
    """Return the broker that KAFKA_BOOTSTRAP_SERVERS names, or start a local one.

    When the variable is set and not empty, nothing is started and stop() does
    nothing. Otherwise this starts a LocalKafkaBroker with broker_options as its
    keyword arguments and blocks until it is ready.
    """
    external = os.environ.get(BOOTSTRAP_SERVERS_ENV, "").strip()
    if external:
        logger.info(
            "Using the external Kafka broker at %s from %s",
            external,
            BOOTSTRAP_SERVERS_ENV,
        )
        return ExternalKafkaBroker(external)
    return LocalKafkaBroker(**broker_options).start()


# --- Command line ----------------------------------------------------------------


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run a local broker in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog=prog or "python -m llm_kafka.testing.kafka_broker",
        description=f"Run a single-node Apache Kafka {KAFKA_VERSION} broker on 127.0.0.1.",
    )
    parser.add_argument(
        "--auto-create-topics",
        action="store_true",
        help="let producers and consumers create topics (auto.create.topics.enable=true)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=90.0,
        help="seconds to wait for the broker to respond after launch (default: 90)",
    )
    parser.add_argument(
        "--run-seconds",
        type=float,
        default=None,
        help="stop by itself after this many seconds (default: run until Ctrl-C or SIGTERM)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    broker = LocalKafkaBroker(
        start_timeout_s=args.start_timeout,
        auto_create_topics=args.auto_create_topics,
    )
    try:
        broker.start()
    except KafkaBrokerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    try:
        print(f"Kafka {KAFKA_VERSION} broker is running.", flush=True)
        print(f"bootstrap.servers={broker.bootstrap_servers}", flush=True)
        print(f"Log: {broker.log_path}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        end = None if args.run_seconds is None else time.monotonic() + args.run_seconds
        while not stop_requested.is_set():
            if not broker.is_running:
                print(
                    f"error: the broker exited by itself; see {broker.log_path}",
                    file=sys.stderr,
                )
                return 1
            if end is not None and time.monotonic() >= end:
                break
            stop_requested.wait(timeout=1.0)
    finally:
        broker.stop()
    print("Kafka broker stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
