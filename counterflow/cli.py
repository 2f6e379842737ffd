"""The `counterflow` command: finds the hub and node command groups that are installed.

A node-only install (`pip install '.[node]'`) has no SQLAlchemy, so the hub's
groups are simply absent rather than failing on first use. Only the side the
command line names is imported (importing both costs ~2 s of CPU per call).
"""

from __future__ import annotations

import importlib
import sys

import typer

from counterflow.demo.command import demo

# Never print local variables in a traceback: they may hold raw indicator values.
app = typer.Typer(
    name="counterflow",
    help="Pool trafficking signals across partners without pooling data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Pool trafficking signals across partners without pooling data."""


# Command package -> (the groups it registers, the dependencies it needs).
_SIDES = {
    "hub.commands": (("hub", "ca", "policy"), ("sqlalchemy", "alembic")),
    "node.commands": (("node",), ("phonenumbers",)),
}


def _installed(deps: tuple[str, ...]) -> bool:
    try:
        for dep in deps:
            importlib.import_module(dep)
    except ModuleNotFoundError:
        return False
    return True


def _load_sides(argv: list[str] | None = None) -> None:
    """Register the groups the command line asks for (all of them for help or no group)."""
    wanted = next((a for a in (argv or []) if not a.startswith("-")), None)
    both = True
    for module_name, (groups, deps) in _SIDES.items():
        present = _installed(deps)
        both = both and present
        if wanted is not None and wanted not in groups and _is_known(wanted):
            continue
        if present:
            importlib.import_module(module_name).register(app)
    # The demo runs a hub and nodes: offered only where both sides are installed.
    if both:
        app.command("demo", help="Run a local demo federation end to end.")(demo)


def _is_known(word: str) -> bool:
    return any(word in groups for groups, _ in _SIDES.values()) or word == "demo"


def main() -> None:
    _load_sides(sys.argv[1:])
    app(prog_name="counterflow")


if __name__ == "__main__":
    main()
