"""The house: imports between the package's modules point one way.

Every ``import`` of a ``duvae`` module is read from the source (``ast``, function-level imports
included), so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "duvae"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The ``duvae`` modules ``path`` imports (``from duvae import x`` counts as ``duvae.x``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("duvae"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("duvae"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: {i for i in imported_modules(p) if i in modules and i != m} for m, p in modules.items()}


def test_the_graph_is_read():
    graph = import_graph()
    assert "duvae.book.run" in graph and "duvae.book.sources" in graph["duvae.book.run"]
    assert "duvae.experiments.verdicts" in graph["duvae.report.claims"]


def test_nothing_outside_the_book_imports_it():
    outside = {m: deps for m, deps in import_graph().items() if not m.startswith("duvae.book")}
    offenders = {m: sorted(d for d in deps if d.startswith("duvae.book")) for m, deps in outside.items()}
    assert {m: d for m, d in offenders.items() if d} == {}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a list of modules, first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d.startswith(m + ".") or m.startswith(d + "."):
                continue  # a package and its own submodules (its face hands names on)
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if state.get(d) is None and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if state.get(m) is None and (found := visit(m)):
            return found
    return None


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("package", ["duvae.book", "duvae.experiments", "duvae"])
def test_no_import_cycles(package):
    graph = {m: {d for d in deps if d.startswith(package)} for m, deps in import_graph().items()
             if m.startswith(package)}
    assert _cycle(graph) is None


# --- the layers: the paper at the top level, the machinery in named subpackages below it ---------
#: the layers from the bottom up; a module may import its own layer and the layers below it only
LAYERS = ("paper", "duvae.runs", "duvae.experiments", "duvae.sweep", "duvae.report", "duvae.book")


def layer_of(module: str) -> int:
    for i, name in enumerate(LAYERS[1:], start=1):
        if module == name or module.startswith(name + "."):
            return i
    return 0  # the paper: duvae.theory, duvae.posteriors, duvae.nets, duvae.metrics, duvae.data, ...


def test_the_layer_rule_is_read():
    assert layer_of("duvae.theory") == 0 and layer_of("duvae.posteriors.du") == 0 and layer_of("duvae.data.text") == 0
    assert layer_of("duvae.runs.trainer") == 1 and layer_of("duvae.book.run") == 5
    assert layer_of("duvae.sweep") == 3 and layer_of("duvae.report.claims") == 4


def test_imports_point_down_and_the_paper_imports_no_machinery():
    """No arrow up: the paper (the top level) imports none of runs/, experiments/, sweep/, report/,
    book/; the run machinery none of the experiments; and so on up the list of LAYERS."""
    up = {m: sorted(d for d in deps if layer_of(d) > layer_of(m)) for m, deps in import_graph().items()}
    assert {m: d for m, d in up.items() if d} == {}


def test_the_package_docstring_maps_every_module():
    import duvae

    doc = duvae.__doc__
    modules = sorted(m for m in import_graph() if m != "duvae" and not m.endswith("__main__")
                     and not (PACKAGE / Path(*m.split(".")[1:]) / "__init__.py").is_file())
    missing = [m for m in modules if f":mod:`{m}`" not in doc]
    assert not missing, f"duvae/__init__.py's docstring does not map: {missing}"


def test_no_two_modules_share_a_name():
    names = {}
    for p in PACKAGE.rglob("*.py"):
        if p.stem not in ("__init__", "__main__"):
            names.setdefault(p.stem, []).append(str(p.relative_to(PACKAGE)))
    assert {n: ps for n, ps in names.items() if len(ps) > 1} == {}
