"""Every public function, class and method is documented and type-hinted."""

import importlib
import importlib.util
import inspect

import pytest


def _all_modules():
    """Every module of psinet (sub-packages' private modules too: io/_save.py holds the
    public save), but not ``__main__`` files (running them runs a program)."""
    import pkgutil

    import psinet

    names = [
        info.name.removeprefix("psinet.")
        for info in pkgutil.walk_packages(psinet.__path__, "psinet.")
        if not info.name.endswith("__main__")
    ]
    return sorted(n for n in names if n != "estimators" or _has("sklearn"))


def _has(library):
    return importlib.util.find_spec(library) is not None


MODULES = _all_modules()


def _public(module):
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name)
        if getattr(obj, "__module__", None) == module.__name__ and (
            inspect.isfunction(obj) or inspect.isclass(obj)
        ):
            yield name, obj


def _inherited_doc(cls, name):
    for base in cls.__mro__:
        member = vars(base).get(name)
        if member is not None:
            member = member.fget if isinstance(member, property) else member
            if getattr(member, "__doc__", None):
                return member.__doc__
    return None


@pytest.mark.parametrize("module_name", MODULES)
def test_public_api_has_docstrings_and_type_hints(module_name):
    module = importlib.import_module(f"psinet.{module_name}")
    assert inspect.getdoc(module), f"psinet.{module_name} has no module docstring"
    problems = []
    for name, obj in _public(module):
        if not inspect.getdoc(obj):
            problems.append(f"{name}: no docstring")
        functions = (
            [(name, obj)]
            if inspect.isfunction(obj)
            else [
                (f"{name}.{k}", v)
                for k, v in vars(obj).items()
                if inspect.isfunction(v)
                and (not k.startswith("_") or k == "__init__")
                and v.__module__ == obj.__module__  # not typing.Protocol's own __init__
            ]
        )
        if inspect.isclass(obj):
            for k, v in vars(obj).items():
                if not k.startswith("_") and (inspect.isfunction(v) or isinstance(v, property)):
                    if not _inherited_doc(obj, k):
                        problems.append(f"{name}.{k}: no docstring")
        for qualname, function in functions:
            signature = inspect.signature(function)
            for p in signature.parameters.values():
                if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty:
                    problems.append(f"{qualname}({p.name}): no type hint")
            if signature.return_annotation is inspect.Signature.empty:
                problems.append(f"{qualname}: no return type hint")
    assert not problems, "\n".join(problems)
