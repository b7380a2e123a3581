"""The packages' dependencies point one way (docs/architecture.md): no import cycles between modules,
deferred imports inside functions included; no package imports the tests; each layer imports only the
layers below it; no private name is imported across packages."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("golden_model", "hw", "sim", "synth", "fuzzymemo")
#: What each package may import (besides itself and third-party libraries).
ALLOWED = {
    "golden_model": set(),
    "hw": {"golden_model"},
    "sim": {"golden_model", "hw"},
    "synth": {"golden_model", "hw", "sim"},   # the host link shares sim's sans-IO protocol and codec
    "fuzzymemo": {"golden_model", "hw", "sim", "synth"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree):
    """Every node that can execute: ``if TYPE_CHECKING:`` blocks (annotations only) left out."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(path: Path):
    """(imported module, names, line) of every import in ``path`` that runs, relative ones resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module
            yield target, tuple(a.name for a in node.names), node.lineno


def _graph():
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    edges = {}
    for name, path in files.items():
        deps = set()
        for target, names, _ in _imports(path):
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in files]
            for candidate in submodules or [target]:
                # a module's own packages are imported before it: not a dependency that can cycle
                if candidate in files and candidate != name and not name.startswith(candidate + "."):
                    deps.add(candidate)
        edges[name] = deps
    return files, edges


def test_no_import_cycles():
    _, edges = _graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(edges[node]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_point_one_way(package):
    bad = []
    for path in (ROOT / package).rglob("*.py"):
        for target, names, line in _imports(path):
            top = target.split(".")[0]
            if top == "tests":
                bad.append(f"{path.relative_to(ROOT)}:{line} imports the tests ({target})")
            elif top in PACKAGES and top != package and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} (a layer above {package})")
            elif top in PACKAGES and top != package:
                private = [n for n in names if n.startswith("_")] + \
                    [p for p in target.split(".")[1:] if p.startswith("_") and p != "__init__"]
                if private:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports private {', '.join(private)} of {target}")
    assert not bad, "\n".join(bad)


def test_test_modules_do_not_import_each_other():
    bad = [f"{path.name}:{line} imports {target}" for path in (ROOT / "tests").glob("test_*.py")
           for target, _, line in _imports(path) if target.split(".")[0].startswith("test_")]
    assert not bad, "\n".join(bad)
