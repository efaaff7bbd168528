"""The console pages (pages/*.py, app.py and its server console.py) are scripts, not a package, so import-linter
cannot see them: this check holds them to the faces' rule instead.

A page may import from hde_core only:
  hde_core.console   the console's own plumbing and widgets,
  hde_core.dispatch  and hde_core.services: the use cases,
  hde_core.domain    types and constants (statuses, roles, limits),
  hde_core.errors    to show an error's message,
  hde_core.sandbox   the demo's mail box, shown beside the overview as `hde sandbox mail` does;
never a private name or module (a leading underscore), never db, channels, lists, security,
config, bootstrap or an entrypoint directly. Exit 1 and one line per breach otherwise.

Usage: python tools/page_imports.py [files…]  (default: app.py, console.py and pages/*.py)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = (
    "hde_core.console",
    "hde_core.dispatch",
    "hde_core.services",
    "hde_core.domain",
    "hde_core.errors",
    "hde_core.sandbox",
)


def _allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ALLOWED)


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def breaches(path: Path) -> Iterator[str]:
    """Every import in ``path`` that breaks the rule, as ``file:line: what``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [(alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found = [(node.module, f"{node.module}.{alias.name}") for alias in node.names]
        else:
            continue
        for module, name in found:
            if module != "hde_core" and not module.startswith("hde_core."):
                continue
            if module == "hde_core":
                module = name  # `from hde_core import services`
            if not _allowed(module):
                yield f"{where}:{node.lineno}: imports {name}: a page goes through console, services or dispatch"
            elif _private(name):
                yield f"{where}:{node.lineno}: imports {name}: a private name of hde_core"


def main(argv: list[str]) -> int:
    files = [Path(a).resolve() for a in argv] or [
        ROOT / "app.py",
        ROOT / "console.py",
        *sorted(ROOT.glob("pages/*.py")),
    ]
    found = [line for path in files for line in breaches(path)]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} page import(s) break the layers rule (tools/page_imports.py)")
        return 1
    print(f"page imports OK ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
