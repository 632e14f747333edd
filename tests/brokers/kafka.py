"""Apache Kafka for the tests and for development: one code path for both.

The broker is Apache Kafka's own (``org.apache.kafka:kafka_2.13``), fetched once with ``mvn``
from Maven Central through a small pom (``dependency:copy-dependencies``) into a cache outside
the repository: ``~/.cache/rxstreams/kafka-<version>/libs`` (``$RXSTREAMS_CACHE``, or
``$XDG_CACHE_HOME``, moves it). Each :class:`KafkaBroker` is a single-node KRaft broker
(``process.roles=broker,controller``, a static quorum of itself) in a directory of its own:
its ``server.properties``, its log directory ``data/`` (formatted by
``kafka.tools.StorageTool`` at its first start), its log ``broker.log``. It listens on
loopback ports only, chosen free at the first start and kept, so a broker killed with
SIGKILL and started again comes back on the same log directory and the same ports.

- ``bash scripts/kafka start|stop|status`` runs :func:`main` (``python -m
  tests.brokers.kafka``): a development broker under ``<cache>/run``, whose bootstrap address
  ``127.0.0.1:PORT`` is the last line ``start`` prints.
- ``tests/kafka_broker.py`` makes the session fixture ``kafka_url`` and the ``kafka_broker``
  factory (brokers of a test's own: more listeners, other settings, kill and restart) from
  :class:`KafkaBroker`.

Nothing here imports pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from tests.brokers._process import accepts, free_port

__all__ = (
    "SCALA",
    "VERSION",
    "KafkaBroker",
    "KafkaBrokerError",
    "cache_root",
    "fetch",
    "main",
)

#: the Apache Kafka release the tests run against
VERSION = "4.4.0"
SCALA = "2.13"
#: how long a broker may take to answer (it takes 1.5-3 s on two idle cores; more when busy)
START_TIMEOUT = 90.0
#: how long the first fetch may take (about 45 MB from Maven Central)
FETCH_TIMEOUT = 900.0
#: a graceful stop (SIGTERM: a controlled shutdown) gets this long before SIGKILL
STOP_TIMEOUT = 30.0
#: the JVM: a small heap, and the settings that start it fastest on two cores (measured:
#: 1.4 s to a metadata answer with them, 1.8-2.8 s with the JVM's defaults)
JVM_OPTIONS = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
)
HEAP = "512m"

_POM = f"""\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- written by tests/brokers/kafka.py: Apache Kafka's broker and its runtime dependencies,
       copied into libs/ by mvn dependency:copy-dependencies -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>rxstreams.tests</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>{VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{SCALA}</artifactId>
      <version>{VERSION}</version>
    </dependency>
    <!-- the broker logs through SLF4J 1.7: this routes it to log4j2 (else it logs nothing) -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>2.25.5</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J = """\
status = error
shutdownHook = disable
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""

#: server.properties of every broker (``config=`` adds to them or replaces them)
SETTINGS: dict[str, str] = {
    "node.id": "1",
    "process.roles": "broker,controller",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    # a broker killed and started again registers with the controller once the old one's
    # session expired (9 s by default): 3 s, with a heartbeat every 0.5 s
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    # the tests' consumers use 2-3 s sessions (Kafka's floor is 6 s by default)
    "group.min.session.timeout.ms": "500",
    # topics exist because someone created them (as on Confluent Cloud), not because a
    # client asked for their metadata
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    "num.network.threads": "2",
    "num.io.threads": "4",
}

log = logging.getLogger(__name__)

_LINUX = sys.platform == "linux"  # prctl(PR_SET_PDEATHSIG) is Linux's


class KafkaBrokerError(RuntimeError):
    """The broker could not be fetched or started; the message says why and what to do."""


def _quiet(message: str) -> None:
    log.info("%s", message)


def cache_root() -> Path:
    """Where this Kafka version is kept: ``<cache>/rxstreams/kafka-<version>``."""
    base = os.environ.get("RXSTREAMS_CACHE")
    if base:
        return Path(base) / f"kafka-{VERSION}"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rxstreams" / f"kafka-{VERSION}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (another test session fetching waits for this one)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise KafkaBrokerError(
            "Apache Kafka needs Java 17 or later, and there is no 'java' on PATH (nor in "
            "$JAVA_HOME): apt-get install openjdk-17-jre-headless"
        )
    return java


def fetch(say: Callable[[str], None] = _quiet) -> Path:
    """The directory holding the broker's jars; fetched with ``mvn`` the first time.

    ``say`` is told what happens when a fetch is needed (it takes a while). Concurrent
    callers (two test sessions) wait for one fetch; a failed fetch leaves nothing behind.
    """
    root = cache_root()
    libs = root / "libs"
    complete = libs / ".complete"
    if complete.exists():
        return libs
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".fetch.lock"):
        if complete.exists():
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaBrokerError(
                f"fetching Apache Kafka {VERSION} needs Maven, and there is no 'mvn' on PATH: "
                "apt-get install maven (and Java 17: openjdk-17-jre-headless)"
            )
        _java()
        say(
            f"fetching Apache Kafka {VERSION} (org.apache.kafka:kafka_{SCALA} and its runtime "
            f"dependencies, about 45 MB) from Maven Central with mvn into {libs} "
            "(once per machine)"
        )
        pom = root / "pom.xml"
        pom.write_text(_POM)
        staging = root / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        started = time.monotonic()
        command = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ]
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=FETCH_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise KafkaBrokerError(
                f"mvn did not fetch Apache Kafka {VERSION} within {FETCH_TIMEOUT:.0f} s "
                f"({' '.join(command)}): is Maven Central reachable?"
            ) from exc
        jar = staging / f"kafka_{SCALA}-{VERSION}.jar"
        if done.returncode != 0 or not jar.exists():
            shutil.rmtree(staging, ignore_errors=True)
            output = (done.stdout + done.stderr).strip()[-4000:]
            raise KafkaBrokerError(
                f"mvn could not fetch Apache Kafka {VERSION} (exit status {done.returncode}; "
                f"{' '.join(command)}). Its output:\n{output}"
            )
        (staging / ".complete").write_text(f"{VERSION}\n")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        jars = len(list(libs.glob("*.jar")))
        say(f"fetched Apache Kafka {VERSION}: {jars} jars in {time.monotonic() - started:.0f} s")
    return libs


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: SIGKILL this process when the process that started it dies (no stray JVMs
    after a test session killed with SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class KafkaBroker:
    """One single-node KRaft Apache Kafka broker in ``directory``, on loopback ports.

    ``listeners`` adds listeners to the ``PLAINTEXT`` one that clients (and the readiness
    check) use: ``{"SASL_SSL": "SASL_SSL"}`` (name to security protocol); their ports are
    picked free at the first start (:attr:`ports`), and their settings go in ``config``
    (any ``server.properties`` key, added or replacing :data:`SETTINGS`).
    ``advertised_port`` is the port clients are told to use for ``PLAINTEXT`` (a proxy in
    front of it, say). ``jvm_options`` are added to the ``java`` command line. ``scram``
    lists SCRAM users, ``(mechanism, name, password)``, created when the storage is
    formatted (KRaft keeps them in its metadata log); :mod:`tests.brokers.secured` builds a
    broker with TLS and SASL listeners from these.

    :meth:`start` formats the log directory the first time, starts the broker and waits
    until it answers a metadata request and names a group coordinator; :meth:`kill` is a
    SIGKILL, after which :meth:`start` brings it back on the same log directory and
    ports; :meth:`stop` is a graceful shutdown. Every broker started here dies with the
    process that started it, unless ``detached`` (the development broker of
    ``scripts/kafka``).
    """

    def __init__(
        self,
        directory: Path,
        *,
        listeners: Mapping[str, str] | None = None,
        config: Mapping[str, str] | None = None,
        advertised_port: int | None = None,
        jvm_options: Sequence[str] = (),
        heap: str = HEAP,
        detached: bool = False,
        scram: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.log_path = self.directory / "broker.log"
        self.extra_listeners = dict(listeners or {})
        for reserved in ("PLAINTEXT", "CONTROLLER"):
            if reserved in self.extra_listeners:
                raise KafkaBrokerError(f"listener name {reserved} is the broker's own")
        self.config = dict(config or {})
        self.advertised_port = advertised_port
        self.jvm_options = list(jvm_options)
        self.heap = heap
        self.detached = detached
        self.scram = list(scram)
        #: listener name -> port (PLAINTEXT, CONTROLLER and the extra ones), kept once chosen
        self.ports: dict[str, int] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<KafkaBroker {self.directory} {self.ports.get('PLAINTEXT')} {state}>"

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The PLAINTEXT port (known once started)."""
        return self.ports["PLAINTEXT"]

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the PLAINTEXT listener, as advertised."""
        return f"127.0.0.1:{self.advertised_port or self.port}"

    @property
    def url(self) -> str:
        """``kafka://127.0.0.1:PORT``: what an app's ``broker=`` takes."""
        return f"kafka://{self.bootstrap}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- configuration --------------------------------------------------------------------

    def properties(self) -> dict[str, str]:
        """The broker's ``server.properties`` (its ports must have been chosen)."""
        names = ["PLAINTEXT", "CONTROLLER", *self.extra_listeners]
        protocols = {"PLAINTEXT": "PLAINTEXT", "CONTROLLER": "PLAINTEXT", **self.extra_listeners}
        advertised = {**self.ports, "PLAINTEXT": self.advertised_port or self.port}
        return {
            **SETTINGS,
            "listeners": ",".join(f"{n}://127.0.0.1:{self.ports[n]}" for n in names),
            "advertised.listeners": ",".join(
                f"{n}://127.0.0.1:{advertised[n]}" for n in names if n != "CONTROLLER"
            ),
            "listener.security.protocol.map": ",".join(f"{n}:{protocols[n]}" for n in names),
            "controller.quorum.voters": f"1@127.0.0.1:{self.ports['CONTROLLER']}",
            "log.dirs": str(self.data),
            **self.config,
        }

    def _write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        (self.directory / "log4j2.properties").write_text(_LOG4J.format(log=self.log_path))
        return path

    def _java(self, libs: Path, main: str, *args: str, heap: str) -> list[str]:
        log4j = self.directory / "log4j2.properties"
        return [
            _java(),
            f"-Xmx{heap}",
            *JVM_OPTIONS,
            *self.jvm_options,
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _format(self, libs: Path, config: Path) -> None:
        """Format the log directory for a new cluster (what kafka-storage.sh format does)."""
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        command = self._java(
            libs,
            "kafka.tools.StorageTool",
            "format",
            # one argument: a random id may start with "-", which argparse takes for an option
            f"--cluster-id={cluster_id}",
            "-c",
            str(config),
            *(
                f"--add-scram={mechanism}=[name={name},password={password}]"
                for mechanism, name, password in self.scram
            ),
            heap="256m",
        )
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise KafkaBrokerError(
                f"formatting the broker's storage {self.data} failed (exit status "
                f"{done.returncode}):\n{(done.stdout + done.stderr).strip()[-4000:]}"
            )

    def choose_ports(self) -> dict[str, int]:
        """Pick free loopback ports for every listener now (:meth:`start_async` does it
        itself otherwise, and retries with others if one was taken meanwhile)."""
        names = ("PLAINTEXT", "CONTROLLER", *self.extra_listeners)
        self.ports = {name: free_port() for name in names}
        return self.ports

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT, say: Callable[[str], None] = _quiet) -> None:
        """Start (or start again) and wait until the broker answers; from synchronous code."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.start_async(timeout, say))
            return
        raise KafkaBrokerError("an event loop is running here: await broker.start_async()")

    async def start_async(
        self, timeout: float = START_TIMEOUT, say: Callable[[str], None] = _quiet
    ) -> None:
        """Start (or start again) and wait until the broker answers (see :func:`_answers`).

        The first start picks free ports; if one was taken meanwhile (the broker exits
        saying so), it tries again with others. A restart keeps the ports and the data.
        """
        if self.running:
            return
        libs = fetch(say)
        fixed = bool(self.ports)
        for attempt in range(1 if fixed else 3):
            if not fixed:
                self.choose_ports()
            config = self._write_config()
            if not (self.data / "meta.properties").exists():
                shutil.rmtree(self.data, ignore_errors=True)
                self._format(libs, config)
            began = time.monotonic()
            mark = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn(libs, config)
            try:
                await self._wait_ready(timeout)
            except KafkaBrokerError:
                output = self._log_since(mark)
                self.kill()
                if not fixed and attempt < 2 and "Address already in use" in output:
                    shutil.rmtree(self.data, ignore_errors=True)
                    continue
                raise
            self.started_in = time.monotonic() - began
            log.info(
                "Apache Kafka %s answers at %s after %.1f s (log: %s)",
                VERSION,
                self.bootstrap,
                self.started_in,
                self.log_path,
            )
            return

    def _spawn(self, libs: Path, config: Path) -> None:
        with (self.directory / "broker.out").open("ab") as out:
            self.process = subprocess.Popen(
                self._java(libs, "kafka.Kafka", str(config), heap=self.heap),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=self.detached,
                preexec_fn=None if self.detached or not _LINUX else _die_with_parent,
            )

    async def _wait_ready(self, timeout: float) -> None:
        """Until the broker answers (see :func:`_answers`); KafkaBrokerError if it exits or
        does not answer within ``timeout``."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        port = self.port
        while True:
            if self.process.poll() is not None:
                raise KafkaBrokerError(
                    f"Apache Kafka exited with status {self.process.returncode} while "
                    f"starting. The end of its log ({self.log_path}):\n{self._tail()}"
                )
            if time.monotonic() > deadline:
                raise KafkaBrokerError(
                    f"Apache Kafka did not answer on 127.0.0.1:{port} within {timeout:.0f} s. "
                    f"The end of its log ({self.log_path}):\n{self._tail()}"
                )
            if accepts(port) and await _answers(f"127.0.0.1:{port}"):
                return
            await asyncio.sleep(0.1)  # polling a child process: there is no event to wait for

    def _log_since(self, mark: int) -> str:
        text = ""
        for path in (self.log_path, self.directory / "broker.out"):
            if path.exists():
                with path.open("rb") as handle:
                    handle.seek(mark if path == self.log_path else 0)
                    text += handle.read().decode(errors="replace")
        return text

    def _tail(self, lines: int = 40) -> str:
        return "\n".join(self._log_since(0).splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM killer would: no controlled shutdown, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """A graceful stop (SIGTERM); SIGKILL if it is not done within ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


async def _answers(bootstrap: str) -> bool:
    """Whether the broker at ``bootstrap`` answers a metadata request naming itself, and
    names a group coordinator.

    The first FindCoordinator creates the ``__consumer_offsets`` topic; until it exists,
    every group's first lookup fails with GROUP_COORDINATOR_NOT_AVAILABLE, which aiokafka
    retries and logs at ERROR: a broker is ready once that is over.
    """
    from aiokafka import AIOKafkaClient
    from aiokafka.client import CoordinationType
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await client.bootstrap()
        if not client.cluster.brokers():
            return False
        await client.coordinator_lookup(CoordinationType.GROUP, "rxstreams-broker-ready")
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()


# -- the development broker: bash scripts/kafka start|stop|status ---------------------------


def _run_dir() -> Path:
    return cache_root() / "run"


def _is_ours(pid: int) -> bool:
    """Whether ``pid`` is a live Kafka broker (the pid file may be stale, its pid reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline


def _recorded() -> tuple[int, str] | None:
    """The pid and address of the running development broker, if there is one."""
    run = _run_dir()
    try:
        pid = int((run / "broker.pid").read_text())
        address = (run / "broker.address").read_text().strip()
    except (OSError, ValueError):
        return None
    return (pid, address) if _is_ours(pid) else None


def _start(port: int | None) -> int:
    running = _recorded()
    if running is not None:
        print(f"Apache Kafka {VERSION} is already running (pid {running[0]})")
        print(running[1])
        return 0
    run = _run_dir()
    shutil.rmtree(run, ignore_errors=True)  # fresh storage at every start
    broker = KafkaBroker(run, detached=True)
    if port is not None:
        broker.ports = {"PLAINTEXT": port, "CONTROLLER": free_port()}

    def say(message: str) -> None:
        print(message, flush=True)

    broker.start(say=say)
    assert broker.process is not None
    (run / "broker.pid").write_text(f"{broker.process.pid}\n")
    (run / "broker.address").write_text(f"{broker.bootstrap}\n")
    print(
        f"Apache Kafka {VERSION} (KRaft, one node) answered after {broker.started_in:.1f} s; "
        f"pid {broker.process.pid}, log {broker.log_path}; stop it with: bash scripts/kafka stop"
    )
    print(broker.bootstrap)
    return 0


def _stop() -> int:
    running = _recorded()
    run = _run_dir()
    if running is None:
        print("no development broker is running")
        (run / "broker.pid").unlink(missing_ok=True)
        return 0
    pid, address = running
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _is_ours(pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # not our child: nothing to wait on but its /proc entry
    if _is_ours(pid):
        os.kill(pid, signal.SIGKILL)
    (run / "broker.pid").unlink(missing_ok=True)
    print(f"stopped Apache Kafka at {address} (pid {pid})")
    return 0


def _status() -> int:
    running = _recorded()
    if running is None:
        print("no development broker is running")
        return 1
    print(f"Apache Kafka {VERSION} is running (pid {running[0]})")
    print(running[1])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``start [--port N]`` (prints ``127.0.0.1:PORT`` last), ``stop``, ``status``."""
    parser = argparse.ArgumentParser(
        prog="scripts/kafka",
        description=f"A development Apache Kafka {VERSION} broker (KRaft, one node, loopback).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start it (fresh storage); print its address")
    start.add_argument("--port", type=int, help="the client port (default: a free one)")
    commands.add_parser("stop", help="stop it")
    commands.add_parser("status", help="print its address if it runs (exit status 1 if not)")
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refused connections at start
    try:
        if args.command == "start":
            return _start(args.port)
        if args.command == "stop":
            return _stop()
        return _status()
    except KafkaBrokerError as exc:
        print(f"scripts/kafka: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
