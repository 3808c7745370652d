"""The pure core stays pure: no module under gelfingest/core/ imports I/O, a clock, threads or the daemon.

Read with ``ast``, not by importing: an import inside a function, or behind ``if TYPE_CHECKING``, counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

CORE = ROOT / "gelfingest" / "core"
# Sockets, the clock, the environment and the file system, threads and processes, the event loop, and the
# libraries that do I/O for us.
FORBIDDEN = frozenset({
    "asyncio", "socket", "time", "os", "threading", "selectors", "subprocess", "signal", "multiprocessing",
    "ssl", "http", "urllib", "aiohttp", "elasticsearch", "elastic_transport", "prometheus_client",
})


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every module the code imports, with its line; relative imports made absolute within ``package``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module == "gelfingest":  # from gelfingest import server: the names imported are the modules
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return found


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for line, module in imported_modules(tree, "gelfingest.core"):
        top = module.split(".")[0]
        if top in FORBIDDEN:
            out.append(f"{path.name}:{line} imports {module}")
        elif top == "gelfingest" and module != "gelfingest.core" and not module.startswith("gelfingest.core."):
            out.append(f"{path.name}:{line} imports {module}, outside the core")
    return out


MODULES = sorted(CORE.rglob("*.py"))


def test_the_core_has_its_modules() -> None:
    names = {p.stem for p in MODULES}
    assert {"decompress", "chunks", "framing", "gelf", "sequence", "batch", "bulk", "ingest"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_core_module_imports_nothing_outside_the_core_and_no_io(path: Path) -> None:
    assert violations(path) == []


@pytest.mark.parametrize("source", [
    "import socket", "import time", "from os import environ", "import asyncio.tasks", "from threading import Lock",
    "import selectors", "from gelfingest.config import Config", "from gelfingest import server",
    "from .. import net", "from ..inputs import udp", "def f():\n    import time",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gelfingest.server import Server",
])
def test_the_check_finds_what_it_forbids(tmp_path: Path, source: str) -> None:
    module = tmp_path / "bad.py"
    module.write_text(f"from gelfingest.core.errors import GelfError\n{source}\n")
    assert len(violations(module)) == 1


@pytest.mark.parametrize("source", ["from gelfingest.core.errors import GelfError", "from . import errors",
                                    "from .fields import Limits", "import zlib", "from datetime import UTC"])
def test_the_check_lets_the_core_import_itself_and_pure_libraries(tmp_path: Path, source: str) -> None:
    module = tmp_path / "good.py"
    module.write_text(source + "\n")
    assert violations(module) == []
