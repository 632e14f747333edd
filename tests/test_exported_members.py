"""The public API: everything in __all__ exists, and nothing private is exported."""

from __future__ import annotations

import rxstreams


def test_all_names_exist() -> None:
    """Every name in __all__ can be imported."""
    for name in rxstreams.__all__:
        assert hasattr(rxstreams, name), name


def test_all_is_a_tuple_without_private_names() -> None:
    """__all__ is an explicit tuple of public names."""
    assert isinstance(rxstreams.__all__, tuple)
    assert not [n for n in rxstreams.__all__ if n.startswith("_")]


def test_public_classes_say_they_are_ours() -> None:
    """Exported classes are defined in rxstreams (not re-exported third-party types)."""
    for name in rxstreams.__all__:
        obj = getattr(rxstreams, name)
        if isinstance(obj, type):
            assert obj.__module__.startswith("rxstreams"), name


def test_classes_users_annotate_are_exported() -> None:
    """What an agent's parameters and group_by's result are annotated with, and the errors
    misuse raises, can be imported from rxstreams itself."""
    from rxstreams.operators._group_by import GroupedStream

    assert rxstreams.GroupedStream is GroupedStream
    for name in ("Stream", "GroupedStream", "ArgumentTypeError", "NoCurrentEventError"):
        assert name in rxstreams.__all__, name
