"""The package's layers: a module imports only from its own layer or those below it, and no two
packages import each other. Every import counts, including those inside functions and under
TYPE_CHECKING: a type-only import upward is still a dependency upward."""

from __future__ import annotations

import ast
from pathlib import Path

import scalpel_plan

PACKAGE = Path(scalpel_plan.__file__).parent

# From the bottom. A module is placed by its first name under scalpel_plan.
LAYERS: list[set[str]] = [
    {"__init__", "errors", "masking", "secrets", "process", "http", "git", "files",
     "workspace"},                # the ground: no knowledge of releases
    {"spec"},                     # load → validate → type
    {"state"},                    # model, format, events, journal, lock, backends
    {"content"},                  # commits, changelog, notes, versioning: pure values
    {"providers"},                # one class each, behind one protocol
    {"graph"},                    # the compiled release
    {"plan"},                     # release and rollback modes of one planner
    {"apply"},                    # the walker
    {"observe"},                  # metrics, profile, dashboard, incidents, alerts
    {"operations"},               # plan, apply, rollback, hotfix: the workflow
    {"ui"},                       # terminal, plan text and Markdown
    {"cli", "__main__"},          # parse → call an operation → render → exit code
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def unit(module: str) -> str:
    """``scalpel_plan.plan.model`` → ``plan``; the package itself → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str) -> set[str]:
    """Every scalpel_plan module ``path`` imports, wherever the import statement is."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return {m for m in found if m == "scalpel_plan" or m.startswith("scalpel_plan.")}


def edges() -> list[tuple[str, str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    found = []
    for module, path in sorted(modules.items()):
        for target in sorted(imports(path, module)):
            if target in modules or any(m.startswith(target + ".") for m in modules):
                found.append((module, target))
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = sorted({unit(m) for m, _ in edges()} - set(RANK))
    assert not unplaced, f"place these in LAYERS: {unplaced}"


def test_no_import_runs_upward() -> None:
    """``scalpel_plan`` itself is two things: the version at the bottom (every layer may read
    it) and the seed's public API at the top (its classes loaded lazily, on first use)."""
    upward = [f"{src} imports {dst} ({unit(src)} is below {unit(dst)})"
              for src, dst in edges()
              if src != "scalpel_plan" and unit(dst) != "__init__"
              and RANK[unit(src)] < RANK[unit(dst)]]
    assert not upward, "\n".join(upward)


def test_no_two_packages_import_each_other() -> None:
    pairs = {(unit(s), unit(d)) for s, d in edges() if unit(s) != unit(d) and s != "scalpel_plan"}
    cycles = sorted(f"{a} <-> {b}" for a, b in pairs if (b, a) in pairs and a < b)
    assert not cycles, cycles


# What the rest of Scalpel may know of providers: the protocol, the registry and the message
# type; each provider itself is reached through the registry, by name.
PROVIDER_SEAMS = {"scalpel_plan.providers", "scalpel_plan.providers.base",
                  "scalpel_plan.providers.registry", "scalpel_plan.providers.message"}


def test_specific_providers_are_reached_through_the_registry() -> None:
    reached = [f"{src} imports {dst}" for src, dst in edges()
               if unit(dst) == "providers" and unit(src) != "providers"
               and dst not in PROVIDER_SEAMS]
    assert not reached, "\n".join(reached)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walk finds imports inside functions and relative ones (so the test can fail)."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from scalpel_plan.cli import app\n"
                      "from .plan import model\n")
    found = imports(source, "scalpel_plan.state.probe")
    assert {"scalpel_plan.cli", "scalpel_plan.cli.app", "scalpel_plan.state.plan",
            "scalpel_plan.state.plan.model"} <= found
