"""The notebooks: committed without outputs, and each runs top to bottom in a real kernel.

Every notebook is executed with nbclient in a ``python3`` kernel of this environment (a
cell that raises fails the test). The cells assert on state themselves (values,
committed offsets); the tests add what only the executed notebook shows: the live table
and the progress bar were displayed as widgets, and the bar completed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _execute(path: Path) -> Any:
    """Run the notebook in a fresh kernel; return it with its outputs."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=45,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def _text(cell: Any) -> str:
    """Everything a code cell printed or returned, as text."""
    parts: list[str] = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def _widgets(nb: Any, model: str) -> list[dict[str, Any]]:
    """The final states of the widgets of one model class the kernel created."""
    states = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return [w["state"] for w in states.values() if w["model_name"] == model]


def _check_live_views(nb: Any) -> None:
    """The LiveTable was displayed as an HTML widget, and the progress bar of
    ``run(count=60, progress=True)`` was displayed and completed: 60 of 60, success."""
    tables = [w for w in _widgets(nb, "HTMLModel") if "clicks per user" in w.get("value", "")]
    assert tables, "the LiveTable was never rendered into a widget"
    bars = _widgets(nb, "FloatProgressModel")
    assert len(bars) == 1, bars
    assert bars[0]["max"] == bars[0]["value"] == 60
    assert bars[0]["bar_style"] == "success"
    # tqdm pads its labels with figure spaces
    labels = [w.get("value", "").replace("\u2007", " ") for w in _widgets(nb, "HTMLModel")]
    assert any("notebook-03-live: outputs" in label for label in labels), labels
    assert any("60/60" in label for label in labels), labels


def _check_kafka_skipped(nb: Any) -> None:
    """Without RXSTREAMS_KAFKA_URL the Kafka cells say so and do nothing."""
    printed = [_text(c) for c in nb.cells if c.cell_type == "code"]
    assert "RXSTREAMS_KAFKA_URL is not set" in printed[0]
    assert printed[1:] == ["skipped: no Kafka broker\n"] * 2


CHECKS: dict[str, Callable[[Any], None]] = {
    "03-rpc-and-groups.ipynb": _check_live_views,
    "04-kafka.ipynb": _check_kafka_skipped,
}


def test_the_notebooks_are_there() -> None:
    """The four notebooks of the docs exist (a rename would silently skip one)."""
    assert [p.name for p in NOTEBOOKS] == [
        "01-quickstart.ipynb",
        "02-operators-tour.ipynb",
        "03-rpc-and-groups.ipynb",
        "04-kafka.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    """No outputs, execution counts or widget state are committed; the kernel is python3."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


def test_the_kernel_runs_this_environment() -> None:
    """The python3 kernelspec starts this interpreter (jupyter_client replaces a bare
    'python' with sys.executable), so the notebooks run against this checkout."""
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:  # pragma: no cover - an environment without ipykernel's spec
        pytest.fail(
            "no python3 kernelspec: run `python -m ipykernel install --sys-prefix` in the "
            "environment of the tests",
            pytrace=False,
        )
    assert spec.argv[0] in ("python", "python3", sys.executable), spec.argv


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cell runs without error (the cells assert on values and committed offsets)."""
    monkeypatch.delenv("RXSTREAMS_KAFKA_URL", raising=False)
    nb = _execute(path)
    check = CHECKS.get(path.name)
    if check is not None:
        check(nb)


@pytest.mark.kafka
def test_kafka_notebook_runs_against_a_broker(
    kafka_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With RXSTREAMS_KAFKA_URL set, 04-kafka runs its app on Kafka and checks its commits."""
    monkeypatch.setenv("RXSTREAMS_KAFKA_URL", kafka_url)
    nb = _execute(ROOT / "notebooks" / "04-kafka.ipynb")
    printed = [_text(c) for c in nb.cells if c.cell_type == "code"]
    assert f"Using the Kafka broker at {kafka_url}" in printed[0]
    assert "committed:" in printed[-1]
