"""The engine's import rules (docs/engine.md), checked on the source: imports run one
way, the engine stays sans-I/O, no module reaches into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

IKEV2 = Path(__file__).resolve().parents[2] / "pluto_core" / "ikev2"
CODEC_AND_CRYPTO = ("enums", "payloads", "chain", "message", "parse_error", "crypto")
FORBIDDEN = ("pluto_core.daemon", "pluto_core.control", "pluto_core.config", "pluto_xfrm", "pluto_bsdkame",
             "asyncio", "pluggy", "socket", "threading")


def _modules() -> list[Path]:
    return sorted(IKEV2.rglob("*.py"))


def _imports(path: Path) -> list[tuple[ast.AST, str, list[str], bool]]:
    """(node, module, names, inside a function) for every import of ``path``."""
    tree = ast.parse(path.read_text())
    out = []
    for fn in [None, *[n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]]:
        body = tree.body if fn is None else fn.body
        for node in [n for stmt in body for n in ast.walk(stmt)] if fn is not None else body:
            if isinstance(node, ast.ImportFrom) and node.module:
                out.append((node, node.module, [a.name for a in node.names], fn is not None))
            elif isinstance(node, ast.Import):
                out.extend((node, a.name, [], fn is not None) for a in node.names)
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(IKEV2)))
def test_import_rules(path: Path) -> None:
    rel = path.relative_to(IKEV2)
    lines = path.read_text().splitlines()
    for node, module, names, in_function in _imports(path):
        assert not module.startswith(FORBIDDEN), f"{rel}: imports {module}"
        assert not any(n.startswith("_") and not n.startswith("__") for n in names), \
            f"{rel}: imports a private name from {module}: {names}"
        if rel.parts[0] == "tasks":
            assert module not in ("pluto_core.ikev2.engine", "pluto_core.ikev2.messages"), \
                f"{rel}: a task imports the engine"
        if rel.parts[0] in CODEC_AND_CRYPTO or rel.stem in CODEC_AND_CRYPTO:
            assert not module.startswith(("pluto_core.ikev2.sa", "pluto_core.ikev2.tasks",
                                          "pluto_core.ikev2.engine")), f"{rel}: codec/crypto imports {module}"
        if in_function:
            above = lines[node.lineno - 2].strip()  # type: ignore[attr-defined]
            assert above.startswith("#"), f"{rel}:{node.lineno}: an import inside a function says not why"
