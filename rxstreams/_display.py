"""HTML and text rendering of rxstreams objects for notebooks (``_repr_html_``)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import App

__all__ = ("app_html", "esc", "html_table", "short", "when")


def esc(value: Any) -> str:
    """HTML-escaped text of a value."""
    return html.escape(value if isinstance(value, str) else repr(value))


def short(value: Any, limit: int = 80) -> str:
    """A value's repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(timestamp: float | None) -> str:
    """A Unix timestamp as ISO-8601 UTC, or an empty string."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str | None = None
) -> str:
    """A small HTML table; cells are escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{esc(c) if not isinstance(c, str) else html.escape(c)}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    cap = (
        f"<caption style='text-align:left'><b>{html.escape(caption)}</b></caption>"
        if caption
        else ""
    )
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def app_html(app: App) -> str:
    """The app at a glance: partitions (offsets, committed, lag, in flight) and agents."""
    head = (
        f"<p><b>App {esc(app.id)}</b> · broker <code>{esc(app.conf.broker)}</code> · "
        f"{esc(app.state)}</p>"
    )
    rows = [
        (r["topic"], r["partition"], r["end"], r["committed"], r["lag"], r["in_flight"])
        for r in app.status()
    ]
    partitions = (
        html_table(
            ("topic", "partition", "end offset", "committed", "lag", "in flight"),
            rows,
            caption="partitions",
        )
        if rows
        else "<p>no partitions assigned</p>"
    )
    agents = html_table(
        ("agent", "channel", "concurrency", "running", "restarts"),
        [
            (
                a.name,
                getattr(a.channel, "name", a.channel),
                a.concurrency,
                a.running,
                a.restarts,
            )
            for a in app.agents.values()
        ],
        caption="agents",
    )
    return head + partitions + agents
