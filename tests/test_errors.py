"""The error tree: one root, every class drawn and documented, no bare built-in raised."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

import rxstreams
from rxstreams import errors

PACKAGE = Path(rxstreams.__file__).parent

#: built-in exceptions rxstreams may still construct: (file, name) -> why
ALLOWED = {
    ("__main__.py", "SystemExit"): "the CLI's exit status",
    ("cli.py", "SystemExit"): "the CLI's exit status",
    ("faust_names.py", "AttributeError"): "__getattr__'s protocol for a name that is not there",
}

BUILTIN_EXCEPTIONS = {
    name
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
}


def _classes() -> list[type[BaseException]]:
    return [getattr(errors, name) for name in errors.__all__]


def test_every_error_derives_from_the_root_and_is_exported() -> None:
    """Each class of rxstreams.errors is an RxStreamsError and is importable from rxstreams."""
    for cls in _classes():
        assert issubclass(cls, errors.RxStreamsError), cls
        assert getattr(rxstreams, cls.__name__) is cls, cls
        assert cls.__name__ in rxstreams.__all__, cls


def test_every_error_is_in_the_tree_with_a_one_line_docstring() -> None:
    """The module docstring draws every class; each class has one line saying when it is
    raised."""
    tree = (errors.__doc__ or "").split("The tree::", 1)[1]
    drawn = re.findall(r"^[\s│├└─]*(\w+Error)\b", tree, flags=re.MULTILINE)
    assert sorted(drawn) == sorted(errors.__all__)
    for cls in _classes():
        doc = (cls.__doc__ or "").strip()
        assert "\n" not in doc, cls
        assert doc.startswith("Raised") or cls is errors.RxStreamsError, cls


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.ConfigurationError, ValueError),
        (errors.ArgumentTypeError, TypeError),
        (errors.AppStateError, RuntimeError),
        (errors.NoCurrentEventError, RuntimeError),
        (errors.CodecError, ValueError),
        (errors.AskTimeoutError, TimeoutError),
    ],
)
def test_errors_are_also_the_builtin_users_expect(
    cls: type[Exception], builtin: type[Exception]
) -> None:
    """``except ValueError`` / ``TypeError`` / ``RuntimeError`` still catch rxstreams' errors."""
    assert issubclass(cls, builtin)


def test_no_bare_builtin_exception_is_raised() -> None:
    """No module of rxstreams constructs a built-in exception (raise TypeError(...),
    observer.on_error(ValueError(...))): misuse raises an RxStreamsError subclass."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = node.func  # raise TypeError(...), on_error(TypeError(...))
            elif isinstance(node, ast.Raise):
                name = node.exc  # raise TypeError
            else:
                continue
            if (
                isinstance(name, ast.Name)
                and name.id in BUILTIN_EXCEPTIONS
                and (path.name, name.id) not in ALLOWED
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name.id}")
    assert found == []
