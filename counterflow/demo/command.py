"""`counterflow demo`: run a whole federation on this machine, start to finish.

The runner is imported inside the command so that every other `counterflow`
command does not pay for it at start-up.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from counterflow.cli_support import exits_on_error
from counterflow.errors import ConfigError

# Written into the work directory first, so a later run knows it may wipe it.
MARKER = ".counterflow-demo"

WORKDIR_OPTION = typer.Option(
    Path(".demo"), "--workdir", help="scratch directory; wiped and recreated on each run"
)
POLICIES_OPTION = typer.Option(
    Path("policies"), "--policies", help="directory holding the partners' agreements"
)
SEED_OPTION = typer.Option(7, "--seed", help="seed for the sample data")
KEEP_OPTION = typer.Option(False, "--keep", help="keep the work directory afterwards")


def demo(
    workdir: Path = WORKDIR_OPTION,
    policies: Path = POLICIES_OPTION,
    seed: int = SEED_OPTION,
    keep: bool = KEEP_OPTION,
) -> None:
    """Run a CA, a hub and eight partner nodes on sample data, through the real CLI."""
    from counterflow.demo.runner import run_demo

    with exits_on_error():
        prepare_workdir(workdir)
    raise typer.Exit(run_demo(workdir, policies, seed=seed, keep=keep))


def prepare_workdir(workdir: Path) -> None:
    """Wipe an earlier demo's directory and start afresh; refuse anything else."""
    if workdir.is_symlink() or (workdir.exists() and not workdir.is_dir()):
        raise ConfigError(f"{workdir} exists and is not a directory; choose another --workdir")
    if workdir.exists():
        if not (workdir / MARKER).is_file() and any(workdir.iterdir()):
            raise ConfigError(
                f"{workdir} exists and was not made by `counterflow demo` (no {MARKER} in it); "
                "choose another --workdir or remove it yourself"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text("made by `counterflow demo`; deleted and rebuilt on each run\n")
