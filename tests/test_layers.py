"""The house holds its layout: the imports between psinet's modules, read from the source.

Every ``import`` and ``from … import`` in every module counts, inside functions too
(``TYPE_CHECKING`` blocks included): a circle through a function-level import is still a
circle. The one exception is the three one-line conveniences ``Network.fit``,
``Network.evaluate`` and ``Network.save``, which hand over to ``training`` and ``io``
(with the type-only imports in ``network.py`` that their signatures name).
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "psinet"
FOUNDATIONS = {"psinet._checks", "psinet._contract", "psinet._raw", "psinet._display",
               "psinet._interrupt", "psinet._version"}  # fmt: skip
TEXTBOOK = {"psinet.network", "psinet.backprop"}
CONVENIENCES = {("psinet.network", name) for name in ("fit", "evaluate", "save", "TYPE_CHECKING")}
DOORS = {"matplotlib": "psinet.plot", "sklearn": "psinet.estimators", "torch": "psinet.interop"}


def _module_name(path):
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imports(module):
    """``(imported module, where)`` for every import: where is the function it is imported
    in, "TYPE_CHECKING" inside such a block, or None at module level."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef) else function
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                inner = "TYPE_CHECKING"
            if isinstance(child, ast.ImportFrom):
                base = package[: len(package) - child.level + 1] if child.level else []
                target = ".".join([*base, *([child.module] if child.module else [])])
                for alias in child.names:
                    name = f"{target}.{alias.name}"
                    found.append((name if name in MODULES else target, inner))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), None)
    return found


def _graph():
    """psinet module → the psinet modules it imports (the conveniences left out)."""
    return {
        module: {
            target
            for target, function in _imports(module)
            if target in MODULES and target != module and (module, function) not in CONVENIENCES
        }
        for module in MODULES
    }


def _reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _circles(graph):
    """Every module that can reach itself, with the way round."""
    circles = []
    for module in graph:
        if module in _reachable(graph, module):
            circles.append(module)
    return circles


def test_the_graph_sees_imports_inside_functions_and_the_exception():
    imports = _imports("psinet.network")
    assert ("psinet.training", "fit") in imports and ("psinet.io", "save") in imports
    assert "psinet.training" not in _graph()["psinet.network"]  # the convenience, left out
    assert _circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == ["a", "b"]  # the check can fail


def test_no_import_circle_among_psinet_modules():
    graph = _graph()
    circles = _circles(graph)
    assert circles == [], {m: sorted(graph[m] & set(circles)) for m in circles}


@pytest.mark.parametrize("module", sorted(FOUNDATIONS))
def test_foundations_import_nothing_above_them(module):
    above = {t for t, _ in _imports(module) if t.startswith("psinet") and t not in FOUNDATIONS}
    assert above == set(), f"{module} imports {sorted(above)}"


@pytest.mark.parametrize("module", sorted(TEXTBOOK))
def test_the_textbook_never_imports_the_engine(module):
    reached = _reachable(_graph(), module)
    assert not {m for m in reached if m.startswith("psinet.engine")}, sorted(reached)


def test_optional_dependencies_live_only_in_their_doors():
    for module in MODULES:
        for target, _ in _imports(module):
            library = target.split(".")[0]
            if library in DOORS:
                door = DOORS[library]
                assert module == door or module.startswith(door + "."), (module, target)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_source_file_holds_more_than_one_idea_by_length(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= 1000, f"{MODULES[module].name}: {lines} lines; split it by idea"
