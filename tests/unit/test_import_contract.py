"""The import contract (docs/architecture.md, "Import contract"): which module may import which.

The graph is read with ``ast`` from the source folders that ``pyproject.toml`` maps onto
``pluto_core``, ``pluto_xfrm``, ``pluto_bsdkame`` and ``pluto_plugins``: every import, at
module level, under ``TYPE_CHECKING`` and inside functions, because each is a dependency the
design has to live with. Where today's code breaks a rule in the engine or kernel area (issue
#15 rewrites those in other branches), the break is listed by name in ``KNOWN``; any other
break fails, and so does an entry of ``KNOWN`` that the code no longer needs.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

ENGINE_KERNEL = "issue #15: engine/kernel branch removes it"

# (rule, importer, imported) -> why it is tolerated for now. Only the engine and kernel area
# (pluto_core/ikev2/, pluto_core/kernel_*.py, pluto_core/ike_host.py, backends/) may appear here.
KNOWN: dict[tuple[str, str, str], str] = {}

# The codec and the crypto: bytes and keys, no SA, no engine, no exchange.
CODEC = ("pluto_core.ikev2.payloads", "pluto_core.ikev2.message", "pluto_core.ikev2.chain",
         "pluto_core.ikev2.enums", "pluto_core.ikev2.parse_error", "pluto_core.ikev2.crypto")
# What the engine's stateful side is made of, today and after issue #15 (tasks).
STATEFUL = ("pluto_core.ikev2.engine", "pluto_core.ikev2.sa", "pluto_core.ikev2.exchange*",
            "pluto_core.ikev2.task*")
# The engine is sans-I/O: none of the daemon side, no event loop, no plugin manager.
ENGINE_MAY_NOT = ("pluto_core.daemon", "pluto_core.control", "pluto_core.config", "pluto_core.cli",
                  "pluto_core.ike_host", "pluto_core.ike_socket", "pluto_core.crypto_pool",
                  "pluto_core.plugins", "pluto_core.kernel.port", "pluto_core.kernel.hookspecs", "pluto_xfrm",
                  "pluto_bsdkame", "pluto_plugins", "asyncio", "pluggy", "stevedore", "socket", "threading")
# Backends and plugins talk to the engine through hooks, never to its insides or the daemon.
EDGE_MAY_NOT = ("pluto_core.ikev2.engine", "pluto_core.ikev2.exchange*", "pluto_core.ikev2.task*",
                "pluto_core.daemon", "pluto_core.cli", "pluto_core.control")


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a module (ours or not)
    name: str | None  # the name taken from it (``from target import name``), None for a module
    line: int
    lazy: bool  # inside a function
    path: Path


@cache
def modules() -> dict[str, Path]:
    """Every module of the four packages, by import name, from pyproject's package-dir."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    found: dict[str, Path] = {}
    for package, folder in pyproject["tool"]["setuptools"]["package-dir"].items():
        for path in (REPO / folder).rglob("*.py"):
            parts = [package, *path.relative_to(REPO / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


@cache
def tree_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


@cache
def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _imports_of(module: str, path: Path) -> Iterator[Import]:
    known = modules()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]

    def visit(node: ast.AST, lazy: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, None, child.lineno, lazy, path)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package[:len(package) - child.level + 1] + ([base] if base else []))
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    if sub in known:
                        yield Import(module, sub, None, child.lineno, lazy, path)
                    else:
                        yield Import(module, base, alias.name, child.lineno, lazy, path)
            yield from visit(child, inner)

    yield from visit(tree_of(path), False)


@cache
def imports() -> tuple[Import, ...]:
    return tuple(imp for module, path in sorted(modules().items()) for imp in _imports_of(module, path))


def matches(module: str, patterns: Iterable[str]) -> bool:
    """``module`` is one of ``patterns`` or inside one; ``x.exchange*`` also matches ``x.exchange_init``."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if module.startswith(pattern[:-1]):
                return True
        elif module == pattern or module.startswith(pattern + "."):
            return True
    return False


def graph(prefix: str) -> dict[str, set[str]]:
    """Module -> the modules of ours (under ``prefix``) it imports."""
    nodes = {m for m in modules() if matches(m, [prefix])}
    edges: dict[str, set[str]] = {m: set() for m in nodes}
    for imp in imports():
        if imp.importer in nodes and imp.target in nodes and imp.target != imp.importer:
            edges[imp.importer].add(imp.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def where(imp: Import) -> str:
    return f"{imp.path.relative_to(REPO)}:{imp.line}"


# -- the rules: each returns every violation, the known ones included ----------------------------

def cycle_violations() -> dict[tuple[str, str, str], str]:
    """Import edges that close a cycle in ``pluto_core``: each known one that still does, and every
    edge of a cycle left once the known ones are cut."""
    edges = graph("pluto_core")
    found: dict[tuple[str, str, str], str] = {}
    for rule, a, b in KNOWN:
        if rule == "cycle" and b in edges.get(a, ()) and reaches(edges, b, a):
            found[(rule, a, b)] = f"{a} -> {b} closes a cycle"
            edges[a].discard(b)
    for component in cycles(edges):
        for a in component:
            for b in sorted(edges[a] & set(component)):
                found[("cycle", a, b)] = f"{a} -> {b} is in the cycle of {', '.join(component)}"
    return found


def _edge_rule(rule: str, importers: Iterable[str], forbidden: Iterable[str]) -> dict[tuple[str, str, str], str]:
    return {(rule, imp.importer, imp.target): f"{where(imp)}: {imp.importer} imports {imp.target}"
            for imp in imports() if matches(imp.importer, importers) and matches(imp.target, forbidden)}


def engine_violations() -> dict[tuple[str, str, str], str]:
    return _edge_rule("engine-pure", ["pluto_core.ikev2"], ENGINE_MAY_NOT)


def codec_violations() -> dict[tuple[str, str, str], str]:
    return _edge_rule("codec", CODEC, STATEFUL)


def task_violations() -> dict[tuple[str, str, str], str]:
    """Tasks reach the engine through the ``Services`` protocol, never by importing it."""
    return _edge_rule("task", ["pluto_core.ikev2.tasks"], ["pluto_core.ikev2.engine", "pluto_core.ikev2.messages"])


def edge_violations() -> dict[tuple[str, str, str], str]:
    return _edge_rule("edge", ["pluto_xfrm", "pluto_bsdkame", "pluto_plugins"], EDGE_MAY_NOT)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_violations() -> dict[tuple[str, str, str], str]:
    """``from m import _x`` and ``m._x`` both bind a caller to what ``m`` may change at will."""
    found: dict[tuple[str, str, str], str] = {}
    aliases: dict[str, dict[str, str]] = {}  # module -> local name bound to one of our modules
    for imp in imports():
        if imp.target == imp.importer:
            continue
        if imp.name is None and imp.target in modules():
            aliases.setdefault(imp.importer, {})[imp.target.rsplit(".", 1)[-1]] = imp.target
        full = f"{imp.target}.{imp.name}" if imp.name is not None else imp.target
        if any(_private(part) for part in full.split(".")):
            found[("private", imp.importer, full)] = f"{where(imp)}: {imp.importer} imports {full}"
    for module, path in modules().items():
        bound = aliases.get(module, {})
        for node in ast.walk(tree_of(path)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr)
                    and node.value.id in bound):
                full = f"{bound[node.value.id]}.{node.attr}"
                found[("private", module, full)] = f"{path.relative_to(REPO)}:{node.lineno}: {module} uses {full}"
    return found


REASON = re.compile(r"#\s*(?!noqa\b|type:)\S")


def lazy_violations() -> dict[tuple[str, str, str], str]:
    """An import inside a function in ``pluto_core`` whose line, or the line above, says nothing."""
    found: dict[tuple[str, str, str], str] = {}
    for imp in imports():
        if not imp.lazy or not matches(imp.importer, ["pluto_core"]):
            continue
        lines = lines_of(imp.path)
        here, above = lines[imp.line - 1], lines[imp.line - 2].strip() if imp.line > 1 else ""
        if not (REASON.search(here) or (above.startswith("#") and REASON.search(above))):
            found[("lazy", imp.importer, imp.target)] = f"{where(imp)}: {here.strip()}"
    return found


def _unexpected(violations: dict[tuple[str, str, str], str]) -> list[str]:
    return sorted(f"{text}  [{key}]" for key, text in violations.items() if key not in KNOWN)


def test_no_import_cycle_in_pluto_core() -> None:
    assert _unexpected(cycle_violations()) == []


def test_engine_imports_nothing_of_the_daemon_side() -> None:
    """``pluto_core.ikev2`` is sans-I/O: no daemon, control, config, cli, kernel, asyncio or pluggy."""
    assert _unexpected(engine_violations()) == []


def test_codec_and_crypto_import_no_sa_engine_or_exchange() -> None:
    assert [m for m in CODEC if m not in modules()] == [], "a codec module was renamed: update CODEC"
    assert _unexpected(codec_violations()) == []


def test_tasks_never_import_the_engine() -> None:
    assert "pluto_core.ikev2.tasks.ike_auth" in modules(), "the tasks moved: update task_violations"
    assert _unexpected(task_violations()) == []


def test_backends_and_plugins_stay_at_the_edge() -> None:
    """They see the engine through hooks and types, never its exchanges or the daemon."""
    assert _unexpected(edge_violations()) == []


def test_pluto_core_never_imports_a_backend_or_plugin() -> None:
    """``pluto_core`` finds them through entry points (docs/architecture.md)."""
    assert [f"{where(imp)}: {imp.target}" for imp in imports()
            if matches(imp.importer, ["pluto_core"])
            and matches(imp.target, ["pluto_xfrm", "pluto_bsdkame", "pluto_plugins"])] == []


def test_no_module_reaches_another_modules_private_names() -> None:
    assert _unexpected(private_violations()) == []


def test_every_import_inside_a_function_says_why() -> None:
    """A lazy import hides a dependency (often a cycle): the reason is written beside it."""
    assert _unexpected(lazy_violations()) == []


def test_known_exceptions_are_engine_or_kernel_and_still_needed() -> None:
    """An exception the code no longer needs is removed, so it cannot hide a new violation; and
    only the engine and kernel area (issue #15's other branches) may have any."""
    current = {**cycle_violations(), **engine_violations(), **codec_violations(), **edge_violations(),
               **private_violations(), **lazy_violations()}
    assert sorted(key for key in KNOWN if key not in current) == []
    area = ("pluto_core.ikev2", "pluto_core.kernel_", "pluto_core.ike_host", "pluto_core.kernel.",
            "pluto_xfrm", "pluto_bsdkame")
    outside = [key for key, reason in KNOWN.items()
               if reason != ENGINE_KERNEL or not (key[1].startswith(area) or key[2].startswith("pluto_core.ikev2."))]
    assert outside == []


def test_the_rules_catch_what_they_are_for() -> None:
    """The graph reader sees relative, lazy and private imports, and the cycle finder finds a cycle."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    lazy = [imp for imp in imports() if imp.lazy]
    assert lazy and all(imp.path.exists() for imp in lazy)
    relative = [imp for imp in imports() if imp.importer == "pluto_core.ikev2.crypto"]
    assert any(imp.target == "pluto_core.ikev2.crypto.registry" for imp in relative)
