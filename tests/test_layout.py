"""The direction of imports (DESIGN.md, "Layout"): handlers sit on the workflows layer and never
on each other, and nothing below them or beside them (the scheduler, the workflows, notices,
the platforms) reaches into command code. Read from the source with `ast`, imports inside
functions included, so a rule cannot be dodged by importing late."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"


@dataclass(frozen=True)
class Import:
    """One name an import statement brings in, fully qualified (`from bot.handlers import
    reviews` is `bot.handlers.reviews`, `from bot.storage import Badge` `bot.storage.Badge`),
    and where it is written."""

    file: str  # relative to the repository, as a message names it
    line: int
    name: str

    @property
    def module(self) -> str:
        """The project module the name lives in (`bot.storage.Badge` -> `bot.storage`); a name
        from outside the project as written."""
        return project_module(self.name) or self.name

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.name}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_module(name: str) -> str | None:
    """The longest leading part of `name` that is a module or package of this repository."""
    parts = name.split(".")
    while parts:
        path = ROOT.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


def imports_in(source: str, module: str, file: str = "<source>") -> list[Import]:
    """Every import in `source` (the text of `module`), at any depth: inside functions,
    conditions and `TYPE_CHECKING` blocks too. Relative imports are resolved."""
    package = module.split(".") if file.endswith("__init__.py") else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(file, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            found += [Import(file, node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return sorted(found, key=lambda i: (i.line, i.name))


def imports_of(path: Path) -> list[Import]:
    return imports_in(path.read_text(), module_name(path), str(path.relative_to(ROOT)))


def python_files(*under: str) -> Iterator[Path]:
    """The project's Python files in `under` (folders or files, relative to the repository)."""
    for place in under:
        path = ROOT / place
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# --------------------------------------------------------------------------- the helper


def test_the_helper_sees_late_relative_and_from_imports() -> None:
    source = (
        "import json\n"
        "from bot.storage import Badge\n"
        "def late():\n"
        "    from bot.handlers import reviews\n"
        "    from .base import handles\n"
    )
    found = imports_in(source, "bot.handlers.cohorts", "bot/handlers/cohorts.py")
    assert [(i.line, i.name, i.module) for i in found] == [
        (1, "json", "json"),
        (2, "bot.storage.Badge", "bot.storage"),
        (4, "bot.handlers.reviews", "bot.handlers.reviews"),
        (5, "bot.handlers.base.handles", "bot.handlers.base"),
    ]
    assert str(found[2]) == "bot/handlers/cohorts.py:4 imports bot.handlers.reviews"


# --------------------------------------------------------------------------- the rules


def test_a_handler_never_imports_another_handler() -> None:
    """What two handlers share is a workflow (`bot/workflows/`), or the registry and role
    checks of `handlers/base.py`; `handlers/__init__.py` imports them all to register them."""
    wrong = [
        str(i)
        for path in python_files("bot/handlers")
        if path.name != "__init__.py"
        for i in imports_of(path)
        if within(i.module, "bot.handlers") and i.module != "bot.handlers.base"
    ]
    assert not wrong, "a handler imports another handler (move what they share to bot/workflows/):\n" + (
        "\n".join(wrong)
    )


def test_only_the_service_imports_the_handlers() -> None:
    """The scheduler, the workflows, notices and the platforms (and everything else beside the
    handlers) never import command code; the service dispatches to it through the registry."""
    allowed = {("bot.service", "bot.handlers")}
    wrong = [
        str(i)
        for path in python_files("bot")
        if not within(module_name(path), "bot.handlers")
        for i in imports_of(path)
        if within(i.module, "bot.handlers") and (module_name(path), i.module) not in allowed
    ]
    assert not wrong, "only bot.service may import bot.handlers:\n" + "\n".join(wrong)


def test_the_rules_cover_the_layers_they_name() -> None:
    """The scheduler, workflows, notices and platforms exist where the rules look for them, so
    a move leaves no rule checking an empty folder."""
    for place in ("bot/scheduler.py", "bot/workflows", "bot/notices.py", "bot/platforms", "bot/handlers"):
        assert list(python_files(place)), f"{place} holds no Python file"
