"""The package layering of docs/architecture.md, checked: the import-linter contracts of pyproject.toml hold (the
foundation imports no stage, no package imports the commands, each package imports only the layers below it), the
check fails when a stage imports a command or the foundation imports a stage, and no two project modules import
each other through any chain, function-level imports included (a late import must not hide a cycle)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES: list[str] = CONFIG["root_packages"]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# Import cycles known on this branch, each as the set of modules in it, until the packages' own redesign branches
# (which remove these late imports) are merged: the lead empties this list then. A cycle listed here that is gone
# fails the test too, so the list cannot go stale.
KNOWN_CYCLES: list[set[str]] = [
]


def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages and pyproject.toml under ``root`` (found there first: PYTHONPATH)."""
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_hold():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for contract in CONFIG["contracts"]:
        assert f"{contract['name']} KEPT" in r.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The project's packages and pyproject.toml, copied (sources only)."""
    root = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root)
    return root


def _broken_copy(tree: Path, dest: Path, module: str, line: str) -> Path:
    shutil.copytree(tree, dest)
    path = dest / module
    path.write_text(path.read_text() + f"\n\ndef _late():\n    {line}\n")  # a function-level import counts too
    return dest


@pytest.mark.parametrize(("module", "line", "contracts"), [
    ("miner/normalize.py", "import commands.mine", ["commands-on-top", "layers"]),
    ("vocalmine/errors.py", "import pairing.align", ["foundation", "layers"]),
])
def test_the_check_fails_when_a_stage_imports_a_command_or_the_foundation_a_stage(tree_copy, tmp_path, module,
                                                                                 line, contracts):
    root = _broken_copy(tree_copy, tmp_path / "tree", module, line)
    r = lint(root)
    assert r.returncode == 1, r.stdout[-4000:] + r.stderr[-4000:]
    names = {c["id"]: c["name"] for c in CONFIG["contracts"]}
    for contract in contracts:
        assert f"{names[contract]} BROKEN" in r.stdout, r.stdout[-4000:]
    assert line.split()[-1] in r.stdout  # the report names the forbidden import


# ------------------------------------------------------------------------------------------ import cycles


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> source file of every module of the project's packages under ``root``."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports anywhere in its source (module level, functions, classes): for
    ``from a.b import c`` the module ``a.b.c`` when there is one, else ``a.b``."""
    is_package = path.name == "__init__.py"
    out = set()

    def known(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [known(a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            targets = [known(f"{base}.{a.name}") for a in node.names]
        else:
            continue
        out.update(t for t in targets if t and t != name)
    return out


def import_cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(component)
    return cycles


def test_the_cycle_finder_sees_a_cycle_made_by_a_function_level_import(tree_copy, tmp_path):
    # features.shards imports (through its modules) catalog_schemas, whose __init__ imports catalog_schemas.pairs
    root = _broken_copy(tree_copy, tmp_path / "tree", "catalog_schemas/pairs.py", "import features.shards")
    modules = project_modules(root)
    graph = {m: imported_modules(m, p, modules) for m, p in modules.items()}
    cycles = import_cycles(graph)
    assert any({"catalog_schemas.pairs", "features.shards"} <= c for c in cycles), cycles


def test_no_import_cycles_between_project_modules():
    modules = project_modules(ROOT)
    graph = {m: imported_modules(m, p, modules) for m, p in modules.items()}
    cycles = import_cycles(graph)
    new = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert new == [], f"import cycles (function-level imports count): {new}"
    assert gone == [], f"these known cycles are gone: remove them from KNOWN_CYCLES in {Path(__file__).name}: {gone}"
