"""Windows on event time: which windows a timestamp falls in.

A window is ``[start, end)`` in seconds since the epoch. A tumbling window of ``size``
splits time into back-to-back windows; a hopping window of ``size`` starts every ``step``
seconds, so a timestamp falls in ``size / step`` of them (``step == size`` is tumbling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigurationError

__all__ = ("HoppingWindow", "TumblingWindow", "Window")


@dataclass(frozen=True, slots=True)
class HoppingWindow:
    """Windows of ``size`` seconds starting every ``step`` seconds (at multiples of it)."""

    size: float
    step: float

    def __post_init__(self) -> None:
        for name, value in (("size", self.size), ("step", self.step)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise ConfigurationError(f"window {name} must be > 0 seconds, got {value!r}")
            if not math.isfinite(value):
                raise ConfigurationError(f"window {name} must be finite, got {value!r}")
        if self.step > self.size:
            raise ConfigurationError(
                f"a window's step ({self.step}s) is longer than its size ({self.size}s): "
                "some timestamps would fall in no window"
            )

    def starts(self, timestamp: float) -> list[float]:
        """The starts of the windows ``timestamp`` falls in, oldest first."""
        step, size = self.step, self.size
        last = math.floor(timestamp / step) * step
        first = last - (math.ceil(size / step) - 1) * step
        out = []
        start = first
        while start <= last:
            if start <= timestamp < start + size:
                out.append(_clean(start))
            start += step
        return out

    def start_of(self, timestamp: float) -> float:
        """The start of the newest window ``timestamp`` falls in."""
        return _clean(math.floor(timestamp / self.step) * self.step)


def TumblingWindow(size: float) -> HoppingWindow:
    """Back-to-back windows of ``size`` seconds."""
    return HoppingWindow(size, size)


Window = HoppingWindow


def _clean(value: float) -> float:
    """A window bound without float noise (0.30000000000000004 -> 0.3)."""
    return round(value, 9)
