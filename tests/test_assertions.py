"""No assertion that cannot fail: every test module is parsed and risky asserts are refused.

``sorted(values) >= list(range(400))`` reads as "every value is there" but compares lists
lexicographically: it holds for ``[5]``. The patterns refused here:

- an ordering comparison (``<``, ``<=``, ``>``, ``>=``) where one side is a list or tuple
  (a display, a comprehension, ``sorted()``, ``list()``, ``tuple()``, ``range()``) or a set
  (a display, a comprehension, ``set()``, ``frozenset()``): say ``==``, or call
  ``issubset``/``issuperset`` with a comment on why a subset is right, or compare
  ``collections.Counter`` objects (at-least-once counts);
- ``len(x) >= 0`` and ``0 <= len(x)``, true for every ``x``;
- an assert on a constant, or on a tuple (``assert (x, "message")`` is always true);
- ``assert ... or <constant>`` (``assert x or True``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
SEQUENCE_CALLS = {"sorted", "list", "tuple", "range"}
SET_CALLS = {"set", "frozenset"}

#: asserts that match a pattern on purpose, as (path, the assert's condition as
#: ``ast.unparse`` writes it), with the reason
ALLOWED: dict[tuple[str, str], str] = {}


def _call_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _collection(node: ast.expr) -> str | None:
    """What kind of collection ``node`` builds, if it visibly builds a list, tuple or set."""
    if isinstance(node, ast.List | ast.ListComp):
        return "a list"
    if isinstance(node, ast.Tuple):
        return "a tuple"
    if isinstance(node, ast.Set | ast.SetComp):
        return "a set"
    name = _call_name(node)
    if name in SEQUENCE_CALLS or name in SET_CALLS:
        return f"{name}()"
    return None


def _is_len(node: ast.expr) -> bool:
    return _call_name(node) == "len"


def _is_zero(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0 and not isinstance(node.value, bool)


def _comparison_problems(test: ast.expr) -> Iterator[str]:
    for node in ast.walk(test):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if not isinstance(op, ORDERING):
                continue
            kind = _collection(left) or _collection(right)
            if kind is not None:
                yield (
                    f"orders {kind} with {type(op).__name__}: lists and tuples compare "
                    "lexicographically, sets by inclusion; use ==, issubset/issuperset with "
                    "a reason, or Counter equality"
                )
            if (isinstance(op, ast.GtE) and _is_len(left) and _is_zero(right)) or (
                isinstance(op, ast.LtE) and _is_zero(left) and _is_len(right)
            ):
                yield "len(...) >= 0 is always true"


def risky_asserts(source: str) -> Iterator[tuple[ast.Assert, str]]:
    """Each assert in ``source`` that cannot fail as meant, with what is wrong with it."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert):
            for problem in _problems(node):
                yield node, problem


def _problems(node: ast.Assert) -> Iterator[str]:
    test = node.test
    if isinstance(test, ast.Constant):
        yield f"asserts the constant {test.value!r}"
    elif isinstance(test, ast.Tuple):
        yield "asserts a tuple, which is always true"
    if (
        isinstance(test, ast.BoolOp)
        and isinstance(test.op, ast.Or)
        and any(isinstance(v, ast.Constant) for v in test.values)
    ):
        yield "'or <constant>' makes the assert always true or pointless"
    yield from _comparison_problems(test)


def test_no_test_module_has_an_assert_that_cannot_fail() -> None:
    """No assert in tests/ matches a pattern that is true for wrong values."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(TESTS.parent).as_posix()
        for node, problem in risky_asserts(path.read_text()):
            if (rel, ast.unparse(node.test)) not in ALLOWED:
                found.append(f"{rel}:{node.lineno}: {problem}")
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "assert sorted(values) >= list(range(400))",
        "assert seen <= [1, 2, 3]",
        "assert (1, 2) < pair",
        "assert [v for v in got] > expected",
        "assert tuple(x) >= y",
        "assert set(a) >= set(b)",
        "assert {1, 2} <= seen",
        "assert {v for v in got} > other",
        "assert frozenset(a) >= b",
        "assert 0 < n <= list(values)",
        "assert len(values) >= 0",
        "assert 0 <= len(values)",
        "assert True",
        "assert 1",
        "assert (x == 1, 'message')",
        "assert x == 1 or True",
        "assert done or 'never'",
        "assert [a for a in got if a > 1] >= want",
    ],
)
def test_each_risky_pattern_is_found(source: str) -> None:
    """Every pattern the lint refuses is recognised in a one-line module."""
    assert [problem for _, problem in risky_asserts(source)] != []


@pytest.mark.parametrize(
    "source",
    [
        "assert sorted(values) == list(range(400))",
        "assert set(a) == set(b)",
        "assert set(a).issubset(b)",
        "assert Counter(seen) == Counter(range(5))",
        "assert len(values) >= 1",
        "assert len(values) > 0",
        "assert n >= 5",
        "assert 600 <= elapsed <= 660",
        "assert [v for v in got if v < 100] == list(range(5))",
        "assert x or y",
        "assert not done",
        "assert max(values) < 10",
    ],
)
def test_sound_assertions_pass(source: str) -> None:
    """Equality, explicit subsets, number comparisons and real conditions are accepted."""
    assert [problem for _, problem in risky_asserts(source)] == []
