"""The layout's rules, checked on the source: data and imports flow one way, with no circles.

pages/ui -> models; worker -> collectors, alerts -> models; cli and the gateway on top. A module's
imports are read from its syntax tree (top level and inside functions alike), so a function-level
import cannot hide a dependency the layout forbids.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("models", "collectors", "alerts", "worker", "cli", "ui", "gateway", "demo")
# What each top-level package may import (besides itself and libraries).
ALLOWED = {
    "models": set(),
    "collectors": {"models"},
    "alerts": {"models"},
    "worker": {"models", "collectors", "alerts"},
    "gateway": {"models", "collectors", "alerts"},
    "demo": {"models", "collectors"},
    "ui": {"models", "alerts"},
    "cli": {"models", "collectors", "alerts", "worker", "gateway", "demo"},
    "pages": {"ui", "models", "alerts"},
    "app": {"ui", "models"},
}


def _sources() -> list[Path]:
    files = []
    for name in (*PACKAGES, "pages"):
        path = REPO / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else []
    return files + [p for p in (REPO / "demo.py", REPO / "app.py") if p.exists()]


def _package(path: Path) -> str:
    return path.relative_to(REPO).parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Top-level packages of ours that `path` imports (absolute imports, any depth in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES}
    return found


def _graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the files that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in _sources():
        package = _package(path)
        for imported in _imports(path) - {package}:
            graph[package][imported].append(str(path.relative_to(REPO)))
    return graph


def test_packages_import_only_downward():
    graph = _graph()
    wrong = {
        f"{package} -> {imported}": files
        for package, targets in graph.items()
        for imported, files in targets.items()
        if imported not in ALLOWED.get(package, set())
    }
    assert not wrong, f"imports against the layout (see docs/architecture.md): {wrong}"


def test_no_import_circle_between_packages():
    graph = {package: set(targets) for package, targets in _graph().items()}
    seen, stack, circles = set(), [], []

    def visit(node: str) -> None:
        if node in stack:
            circles.append(stack[stack.index(node) :] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        stack.pop()

    for package in sorted(graph):
        visit(package)
    assert not circles, f"import circles: {circles}"


def test_no_string_imports_of_our_modules_in_models():
    """importlib.import_module("alerts.x") in models would be an upward import the graph cannot see."""
    offenders = [
        str(path.relative_to(REPO)) for path in (REPO / "models").rglob("*.py") if "import_module(" in path.read_text()
    ]
    assert not offenders


@pytest.mark.parametrize("broken", ["models -> alerts"])
def test_the_checks_catch_an_upward_import(tmp_path, monkeypatch, broken):
    """The rule test fails when a module in models/ imports alerts (proved on a copy of one file)."""
    source, target = broken.split(" -> ")
    path = tmp_path / source / "x.py"
    path.parent.mkdir()
    path.write_text(f"def f():\n    from {target} import service\n")
    monkeypatch.setattr("tests.test_architecture.REPO", tmp_path)
    monkeypatch.setattr("tests.test_architecture.PACKAGES", (source, target))
    with pytest.raises(AssertionError, match=f"{source} -> {target}"):
        test_packages_import_only_downward()


PAGE_LINES = 200


def test_every_page_is_short_enough_to_read_top_down():
    """A page is widgets -> a cached query in ui/ -> a chart factory; what it shows in detail lives in
    a ui/ module (ui/*_view.py, ui/*_sections.py). Past this size a page is holding logic again."""
    pages = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    long = {p.name: n for p in pages if (n := len(p.read_text(encoding="utf-8").splitlines())) > PAGE_LINES}
    assert len(pages) > 10
    assert long == {}, f"pages over {PAGE_LINES} lines: move their parts into ui/"


def test_pages_hold_no_sql_or_groupby():
    """Pages read cached queries from ui/: no SQL, sessions or pandas groupby of their own."""
    banned = [r"\.groupby\(", r"\bselect\(", r"\bsession_scope\b", r"\bSELECT\b", r"\.exec\("]
    found = {
        p.name: [b for b in banned if re.search(b, p.read_text(encoding="utf-8"))]
        for p in [REPO / "app.py", *(REPO / "pages").glob("*.py")]
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


def _unexplained_function_imports(path: Path) -> list[int]:
    """Lines of imports inside functions that carry no `# lazy: <why>` comment, on the line itself or in
    the comment lines right above the run of imports it belongs to."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines), str(path))
    inner = {
        node.lineno
        for func in ast.walk(tree)
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(func)
        if isinstance(node, (ast.Import, ast.ImportFrom))
    }
    bare = []
    for number in sorted(inner):
        above = number - 1  # 0-based index of the import's own line
        while above >= 0:
            line = lines[above].strip()
            if "# lazy" in line:
                break
            starts_import = line.startswith(("from ", "import ")) or (above + 1) in inner
            if not (starts_import or line.startswith("#") or line == "" or line.endswith((",", "(", ")"))):
                bare.append(number)
                break
            above -= 1
    return bare


def test_imports_inside_functions_say_why():
    """Imports sit at the top of a module; one that waits inside a function says why (`# lazy: ...`,
    with the measured cost), so a newcomer can tell a deliberate start-up saving from a dodged circle."""
    bare = {
        str(path.relative_to(REPO)): lines
        for path in _sources()
        if not path.is_relative_to(REPO / "pages") and (lines := _unexplained_function_imports(path))
    }
    assert bare == {}


def test_the_lazy_import_check_catches_a_bare_one(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("import os\n\n\ndef f():\n    x = 1\n    from json import dumps\n\n    return dumps(x)\n")
    assert _unexplained_function_imports(path) == [6]
    path.write_text("def f():\n    x = 1\n    # lazy: 0.3 s of every start\n    from json import dumps\n    return x\n")
    assert _unexplained_function_imports(path) == []
