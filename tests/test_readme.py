"""The README's example runs as written, and the demo ends by itself with its offsets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_runs() -> None:
    """The Python block in the README prints exactly its Output block (the order it sent,
    no log lines), writes nothing on stderr, and exits cleanly."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    (shown,) = re.findall(r'```text title="Output"\n(.*?)```', readme, re.S)
    out = subprocess.run(
        [sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=60, check=True
    )
    assert (out.stdout, out.stderr) == (shown, "")


def test_demo_processes_every_order_and_commits_them() -> None:
    """The demo ends on its own and every orders partition is committed to its end."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "orders.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = re.findall(r"orders\[\d\]: committed=(\d+) end=(\d+)", out)
    assert len(rows) == 4
    assert all(c == e for c, e in rows)
    assert sum(int(e) for _, e in rows) == 5000
