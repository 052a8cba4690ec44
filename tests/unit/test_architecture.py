"""The package's layers (docs/architecture.md), checked: no module imports one above it, and
the rooms that share a layer (project and catalog; offline, online and governance) do not
import each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "featurestore"

# Lowest first; a module may import from its own layer and the layers below it.
LAYERS = [
    {"errors", "console", "redact"},
    {"project", "catalog"},
    {"engines"},
    {"sql"},
    {"offline", "online", "governance"},
    {"serve"},
    {"store"},
    {"cli", "__init__", "__main__"},
]


# Layers whose rooms are independent of each other: a use case in online/ must not reach into
# governance/ (what both need belongs a layer down). The shared ground and the CLI's entry
# points are one room each in all but name.
SEPARATE_ROOMS = [{"project", "catalog"}, {"offline", "online", "governance"}]


def room_of(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def layer_of(module: str) -> int:
    """`featurestore.online.sync` -> the index of the layer `online` is in."""
    room = room_of(module)
    return next(i for i, rooms in enumerate(LAYERS) if room in rooms)


def imports_of(path: Path) -> set[str]:
    """Every featurestore module `path` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("featurestore"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("featurestore"))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)


def test_every_room_is_in_a_layer():
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert rooms <= set().union(*LAYERS)


def test_no_module_imports_one_above_it():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        importer = module_name(path)
        for imported in imports_of(path):
            if imported != "featurestore" and layer_of(imported) > layer_of(importer):
                upward.append(f"{importer} imports {imported}")
    assert upward == []


def test_no_room_imports_another_of_its_layer():
    sideways = []
    for path in PACKAGE.rglob("*.py"):
        importer = module_name(path)
        for imported in imports_of(path):
            if imported == "featurestore" or room_of(imported) == room_of(importer):
                continue
            if any({room_of(importer), room_of(imported)} <= rooms for rooms in SEPARATE_ROOMS):
                sideways.append(f"{importer} imports {imported}")
    assert sideways == []
