"""The documentation: every Python snippet in docs/ runs, and the site builds with --strict.

How the snippets of a page run:

- The page's ```python blocks run in order, in one namespace, on one event loop, like the
  cells of a notebook: top-level ``await`` works, and a later block sees what an earlier
  one defined. A block without top-level ``await`` runs as a plain script (it may call
  ``asyncio.run``: the page's loop is not running between blocks).
- A block followed directly by a ```text title="Output"``` block must print exactly that.
- A block titled ``test_*.py`` is a pytest file: the page's test files are written to a
  temporary directory, with the page's ```toml title="pyproject.toml"``` block, and run
  by pytest in a subprocess; every test in them must pass.
- A block preceded by ``<!-- not-run: REASON -->`` is not run (it needs a Kafka broker,
  say). These markers are the only way to skip a block, and each must give its reason.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import inspect
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import structlog

from rxstreams import App
from rxstreams_memory import MemoryBroker

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`\n]*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')
_NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")


@dataclasses.dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    title: str | None
    indent: str
    code: str
    not_run: str | None = None  # the reason given by a not-run marker
    output: str | None = None  # the expected stdout (an Output block right after it)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse(page: Path) -> list[Block]:
    """The fenced code blocks of ``page``, with their markers and expected outputs."""
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    marker: str | None = None
    marker_line = 0
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            nr = _NOT_RUN.match(lines[i].strip())
            if nr is not None:
                marker, marker_line = nr["reason"], i + 1
            elif lines[i].strip() and marker is not None:
                raise AssertionError(
                    f"{page.relative_to(ROOT)}:{marker_line}: a not-run marker must come "
                    "right before the code block it marks"
                )
            i += 1
            continue
        indent, fence, info = m["indent"], m["fence"], m["info"].strip()
        lang = info.split()[0] if info else ""
        title = _TITLE.search(info)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        assert j < len(lines), f"{page.relative_to(ROOT)}:{i + 1}: unclosed code block"
        block = Block(
            page, i + 1, lang, title["title"] if title else None, indent, "\n".join(body) + "\n"
        )
        if marker is not None:
            block.not_run = marker
            marker = None
        if (
            blocks
            and lang == "text"
            and block.title == "Output"
            and blocks[-1].lang == "python"
            and i <= blocks[-1].line + blocks[-1].code.count("\n") + 2
        ):
            blocks[-1].output = block.code
        blocks.append(block)
        i = j + 1
    assert marker is None, f"{page.relative_to(ROOT)}:{marker_line}: marker without a block"
    return blocks


def python_blocks(page: Path) -> list[Block]:
    return [b for b in parse(page) if b.lang in ("python", "py")]


def _is_pytest_file(block: Block) -> bool:
    return bool(block.title and re.fullmatch(r"test_\w+\.py", block.title))


def _run_block(block: Block, ns: dict[str, Any], loop: asyncio.AbstractEventLoop) -> str:
    """Run one block in ``ns``; return what it printed."""
    code = compile(
        block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if code.co_flags & inspect.CO_COROUTINE:
            loop.run_until_complete(eval(code, ns))
        else:
            exec(code, ns)
    return out.getvalue()


def _run_pytest_files(page: Path, files: list[Block], tmp_path: Path) -> None:
    config = [b for b in parse(page) if b.lang == "toml" and b.title == "pyproject.toml"]
    assert len(config) == 1, f"{page.name}: test files need one pyproject.toml block"
    (tmp_path / "pyproject.toml").write_text(config[0].code)
    for block in files:
        assert block.title is not None
        (tmp_path / block.title).write_text(block.code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "adapters")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tests = sum(len(re.findall(r"^(?:async )?def test_", b.code, re.M)) for b in files)
    assert f"{tests} passed" in proc.stdout, proc.stdout


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_snippets_run(page: Path, tmp_path: Path) -> None:
    """Every Python block of the page runs without error and prints what the page shows."""
    blocks = [b for b in python_blocks(page) if b.not_run is None]
    files = [b for b in blocks if _is_pytest_file(b)]
    script = [b for b in blocks if not _is_pytest_file(b)]
    if files:
        _run_pytest_files(page, files, tmp_path)
    if not script:
        return
    MemoryBroker.forget_named()
    # no logging set up: the snippets run with the library's quiet default
    loop = asyncio.new_event_loop()
    ns: dict[str, Any] = {"__name__": "__main__"}
    try:
        for block in script:
            printed = _run_block(block, ns, loop)
            if block.output is not None:
                assert printed.rstrip() == block.output.rstrip(), (
                    f"{block.where}: the block printed\n{printed}\nbut the page shows\n"
                    f"{block.output}"
                )
        running = [v for v in ns.values() if isinstance(v, App) and v.state == "running"]
        assert not running, f"{page.name} leaves apps running: {running}"
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        MemoryBroker.forget_named()
        structlog.reset_defaults()


def test_only_marked_blocks_are_skipped() -> None:
    """Skipped blocks are exactly the ones with a not-run marker, each with its reason;
    every other Python block is run (none hides in an indented container)."""
    skipped = [b for p in PAGES for b in python_blocks(p) if b.not_run is not None]
    for block in skipped:
        assert len(block.not_run or "") >= 10, f"{block.where}: say why it is not run"
    for page in PAGES:
        for block in parse(page):
            if block.not_run is not None:
                assert block.lang in ("python", "py"), f"{block.where}: only Python is run"
            if block.lang.startswith(("py", "ipython")):
                assert block.lang in ("python", "py"), f"{block.where}: use ```python"
                assert block.indent == "", f"{block.where}: keep Python blocks unindented"
    ran = [b for p in PAGES for b in python_blocks(p) if b.not_run is None]
    assert len(ran) >= 40
    # a subset: only the Kafka page may skip blocks (they need a running Kafka), and it
    # need not skip any
    assert {b.page.name for b in skipped}.issubset({"kafka.md"})


def test_pages_show_outputs_that_are_checked() -> None:
    """Output blocks belong to the Python block right before them (so they are checked)."""
    for page in PAGES:
        blocks = parse(page)
        for prev, block in zip([None, *blocks], blocks, strict=False):
            if block.lang == "text" and block.title == "Output":
                assert prev is not None, f"{block.where}: an Output block with nothing before"
                assert prev.output == block.code, (
                    f"{block.where}: an Output block must follow the Python block it shows"
                )


def _marble(fun: Any) -> str:
    """The marble diagram of an operator's docstring (the literal block after '::')."""
    doc = inspect.getdoc(fun) or ""
    after = doc.split("::\n", 1)[1]
    lines: list[str] = []
    for line in after.splitlines()[1:]:
        if line and not line.startswith(" "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines)).strip("\n")


def test_operators_page_shows_every_marble_diagram() -> None:
    """docs/operators.md has a section per operator with the diagram of its docstring (the
    public function of rxstreams.operators, or the Stream method)."""
    from rxstreams import Stream
    from rxstreams import operators as rxs

    page = (DOCS / "operators.md").read_text()
    operators = {name: getattr(rxs, name) for name in rxs.__all__}
    for name in ("group_by", "join", "combine", "concat", "tee", "through", "echo"):
        operators[name] = getattr(Stream, name)
    for name, fun in operators.items():
        assert f"\n## `{name}" in page, f"no section for {name}"
        section = page.split(f"\n## `{name}", 1)[1].split("\n## ", 1)[0]
        assert _marble(fun) in section, f"the {name} section lacks its docstring's diagram"
        assert "**Acks:**" in section, f"the {name} section lacks its ack rule"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds, with an API page rendered from the docstrings."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    site = tmp_path / "site" / "reference"
    operators = (site / "operators" / "index.html").read_text()
    streams = (site / "streams" / "index.html").read_text()
    # the public names, never a private module's
    for name in ("filter", "map", "take", "buffer", "rate_limit"):
        assert f'id="rxstreams.operators.{name}"' in operators, name
    for name in ("group_by", "join", "combine", "concat", "tee", "through", "echo"):
        assert f'id="rxstreams.Stream.{name}"' in streams, name
        assert f'href="../streams/#rxstreams.Stream.{name}"' in operators, name
    assert 'id="rxstreams.GroupedStream"' in streams
    for private in ('id="rxstreams.operators._', "#rxstreams.operators._"):
        assert private not in operators + streams
    assert operators.count(">Acks<") >= 5
    assert streams.count(">Acks<") >= 7
