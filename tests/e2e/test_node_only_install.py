"""A partner installs only the node (`pip install 'counterflow[node]'`) and gets a working node.

A bank's server should not carry the hub's database drivers, nor offer hub
commands. The test builds a real wheel from a copy of this checkout into a
fresh virtual environment (non-editable, so package data such as the protobuf
stubs must really be in the wheel), then uses that environment only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.federation import make_node, shared_keyring
from support.pki import build_test_pki
from support.sample_world import build_world

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
# Never part of a wheel; copying them would only slow the build (or leak local state).
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "tests", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", ".import_linter_cache", ".hypothesis", ".demo", "*.db",
)  # fmt: skip
HUB_GROUPS = {"hub", "ca", "policy"}


@pytest.fixture(scope="module")
def node_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding `counterflow[node]` built from this checkout."""
    root = tmp_path_factory.mktemp("node-only")
    # Built from a copy: pip builds in the source tree and would leave build/ in the checkout.
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{source}[node]"])
    return venv


def test_node_imports_and_hub_dependencies_are_absent(node_venv: Path) -> None:
    python = str(node_venv / "bin" / "python")

    where = _run(
        [
            python,
            "-c",
            "import counterflow, node, node.client, node.ingest; print(counterflow.__file__)",
        ]
    ).stdout.strip()
    missing = _run([python, "-c", "import sqlalchemy"], check=False)

    assert Path(where).is_relative_to(node_venv)  # installed, not linked to the checkout
    assert missing.returncode != 0
    assert "No module named 'sqlalchemy'" in missing.stderr
    package = Path(where).parent
    assert (package / "v1" / "submission_pb2.pyi").is_file()
    assert (package / "v1" / "submission_pb2_grpc.pyi").is_file()
    assert (package / "py.typed").is_file()


def test_cli_offers_node_commands_only(node_venv: Path) -> None:
    counterflow = str(node_venv / "bin" / "counterflow")

    groups = _commands(_run([counterflow, "--help"]).stdout)
    node_commands = _commands(_run([counterflow, "node", "--help"]).stdout)

    assert "node" in groups
    assert not groups & HUB_GROUPS
    assert {"ingest", "push", "status"} <= node_commands


def test_node_only_install_ingests_a_partner_export(node_venv: Path, tmp_path: Path) -> None:
    pki = build_test_pki(tmp_path / "pki", ["bank-north"])
    world = build_world(tmp_path / "exports", {"bank-north": "bank"}, records=50)
    home = tmp_path / "node"
    make_node(home, "bank-north", pki.partners["bank-north"], 7443, shared_keyring(tmp_path / "k"))
    export = world.partners["bank-north"]

    result = _run(
        [
            str(node_venv / "bin" / "counterflow"),
            "node",
            "ingest",
            str(export.source),
            "--profile",
            str(export.profile),
            "--home",
            str(home),
            "--format",
            "json",
        ]
    )

    report = json.loads(result.stdout)
    assert report["indicators_new"] == export.items
    assert report["quarantined_total"] == 0


def _commands(help_text: str) -> set[str]:
    """Command names from Typer's help panel: lines like '│ node   Run a partner node ...'."""
    return set(re.findall(r"^│ ([a-z][a-z-]*) ", help_text, re.MULTILINE))


def _run(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run outside the checkout (`python -c` would import it from the working directory),
    on a terminal wide enough that help panels never wrap a command name."""
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env=env, cwd="/", check=False
    )
    if check:
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result
