"""Live views for notebooks: a throttled, self-updating table, and progress bars.

``LiveTable`` shows the latest rows (or a mapping) in one output cell and re-renders it at
most ``rate`` times a second, however often it is updated: update it from an agent on
every event and the notebook stays responsive. With ipywidgets installed it renders into
an ``HTML`` widget; otherwise through an IPython display handle. Outside IPython (scripts,
tests) it only keeps its state; pass ``display=`` to send renders elsewhere.

Progress bars use ``tqdm.auto`` (a widget in Jupyter, text elsewhere): ``await
app.run(count=1000, progress=True)``. These are optional: ``pip install rxstreams[notebook]``.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._display import html_table, short
from .errors import ConfigurationError

__all__ = ("LiveTable", "progress_bar")


class LiveTable:
    """A table in a notebook cell that follows the data it is given, a few times a second.

    Args:
        title: the caption.
        columns: column names (default: the keys of the first row, or key/value for a
            mapping).
        max_rows: how many rows are shown (the latest ones).
        rate: the most renders per second.
        display: where renders go: a function taking the HTML; default the notebook.
    """

    def __init__(
        self,
        title: str = "",
        *,
        columns: Sequence[str] | None = None,
        max_rows: int = 20,
        rate: float = 4.0,
        display: Callable[[str], None] | None = None,
    ) -> None:
        if rate <= 0:
            raise ConfigurationError(
                f"LiveTable(rate=) must be > 0 renders per second, not {rate!r}"
            )
        self.title = title
        self.columns = list(columns) if columns is not None else None
        self.max_rows = max_rows
        self.interval = 1.0 / rate
        self._rows: list[Sequence[Any]] = []
        self._last_render = float("-inf")
        self._pending: asyncio.TimerHandle | None = None
        self._show = display if display is not None else _notebook_display()
        #: how many times the table was rendered
        self.renders = 0

    def update(self, data: Mapping[Any, Any] | Sequence[Any]) -> None:
        """Replace what the table shows: a mapping (key/value rows), or a sequence of
        rows (mappings, tuples or plain values). Renders now, or once the interval since
        the last render has passed (the latest data wins)."""
        self._rows = self._to_rows(data)
        now = _now()
        wait = self._last_render + self.interval - now
        if wait <= 0:
            self._render()
        elif self._pending is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a script): the next update renders
            self._pending = loop.call_later(wait, self._render)

    def append(self, row: Any) -> None:
        """Add one row (the oldest ones scroll out past ``max_rows``)."""
        rows = [*self._rows, self._row(row)][-self.max_rows :]
        self._rows = rows
        self.update(rows)

    @property
    def rows(self) -> list[Sequence[Any]]:
        """What the table shows now."""
        return list(self._rows)

    def html(self) -> str:
        """The table as HTML."""
        cols = self.columns or ["value"]
        body = [[short(c) for c in row] for row in self._rows[-self.max_rows :]]
        return html_table(cols, body, caption=self.title or None)

    def _repr_html_(self) -> str:
        return self.html()

    def _render(self) -> None:
        self._pending = None
        self._last_render = _now()
        self.renders += 1
        self._show(self.html())

    def _to_rows(self, data: Mapping[Any, Any] | Sequence[Any]) -> list[Sequence[Any]]:
        if isinstance(data, Mapping):
            self.columns = self.columns or ["key", "value"]
            return [(k, v) for k, v in list(data.items())[-self.max_rows :]]
        return [self._row(r) for r in list(data)[-self.max_rows :]]

    def _row(self, row: Any) -> Sequence[Any]:
        if isinstance(row, Mapping):
            if self.columns is None:
                self.columns = [str(k) for k in row]
            return [row.get(c) for c in self.columns]
        if isinstance(row, tuple | list):
            return row
        return (row,)


def _now() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


def _notebook_display() -> Callable[[str], None]:
    """Render into an ipywidgets HTML widget, or an IPython display handle, or nowhere."""
    ipython = _optional("IPython")
    ipy_display = _optional("IPython.display")
    if ipython is None or ipy_display is None or ipython.get_ipython() is None:
        return lambda _: None
    display = ipy_display.display
    widgets = _optional("ipywidgets")
    if widgets is not None:
        widget = widgets.HTML()
        display(widget)

        def to_widget(markup: str) -> None:
            widget.value = markup

        return to_widget
    html = ipy_display.HTML
    handle = display(html(""), display_id=True)

    def to_handle(markup: str) -> None:
        if handle is not None:
            handle.update(html(markup))

    return to_handle


def progress_bar(total: int | None, desc: str) -> Any:
    """A ``tqdm.auto`` progress bar (a widget in Jupyter), or None without tqdm."""
    tqdm_auto = _optional("tqdm.auto")
    if tqdm_auto is None:
        return None
    return tqdm_auto.tqdm(total=total, desc=desc, leave=True)


def _optional(module: str) -> Any:
    """An optional dependency (the ``notebook`` extra), or None; untyped, kept at the edge."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
