"""Finding a transport by URL scheme through the ``rxstreams.transports`` entry points."""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import cast
from urllib.parse import urlsplit

from .credentials import Credentials, as_credentials
from .errors import ConfigurationError
from .types import TransportT

__all__ = ("ENTRY_POINT_GROUP", "available_schemes", "transport_from_url")

ENTRY_POINT_GROUP = "rxstreams.transports"


def available_schemes() -> list[str]:
    """The URL schemes of every installed transport."""
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def transport_from_url(
    url: str, *, credentials: Credentials | ssl.SSLContext | None = None
) -> TransportT:
    """Create the transport registered for the scheme of ``url``.

    ``credentials`` (the app's ``broker_credentials``) are given to the transport's factory
    as ``credentials=``; a factory that takes no such argument is refused then (without
    credentials it is called with the URL alone, as before).
    """
    given = as_credentials(credentials)
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
    factory = cast(Callable[..., TransportT], found[0].load())
    if given is None:
        return factory(url)
    if not _takes_credentials(factory):
        raise ConfigurationError(
            f"the {scheme}:// transport ({found[0].value}) takes no broker_credentials: "
            "leave them out, or use a transport that supports them"
        )
    return factory(url, credentials=given)


def _takes_credentials(factory: Callable[..., TransportT]) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return True
    return any(
        (p.name == "credentials" and p.kind is not p.POSITIONAL_ONLY) or p.kind is p.VAR_KEYWORD
        for p in parameters
    )
