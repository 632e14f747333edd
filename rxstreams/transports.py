"""Finding a transport by URL scheme through the ``rxstreams.transports`` entry points."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import cast
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .types import TransportT

__all__ = ("ENTRY_POINT_GROUP", "available_schemes", "transport_from_url")

ENTRY_POINT_GROUP = "rxstreams.transports"


def available_schemes() -> list[str]:
    """The URL schemes of every installed transport."""
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def transport_from_url(url: str) -> TransportT:
    """Create the transport registered for the scheme of ``url``."""
    scheme = urlsplit(url).scheme
    if not scheme or "://" not in url:
        raise ConfigurationError(
            f"broker {url!r} is not a URL; use e.g. 'memory://' or 'kafka://host:9092'"
        )
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == scheme]
    if not found:
        known = ", ".join(f"{s}://" for s in available_schemes()) or "none installed"
        raise ConfigurationError(
            f"no transport for {scheme}:// (broker {url!r}); installed: {known}"
        )
    factory = cast(Callable[[str], TransportT], found[0].load())
    return factory(url)
