"""`counterflow policy check`: exit code, text lines and JSON for good and broken directories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from typer.testing import CliRunner

import hub.commands.policy_check  # noqa: F401  (registers the command on policy_app)
from hub.commands._apps import policy_app

EXAMPLES = Path(__file__).resolve().parents[4] / "policies"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(policy_app, name="policy")
    return app


def _broken(directory: Path) -> Path:
    shutil.copy(EXAMPLES / "bank-alpha.yaml", directory / "bank-alpha.yaml")
    text = (EXAMPLES / "bank-beta.yaml").read_text(encoding="utf-8")
    (directory / "bank-beta.yaml").write_text(
        text.replace("sector: bank", "sector: banc"), encoding="utf-8"
    )
    (directory / "bank-gamma.yml").write_text("partner_id: [bank-gamma\n", encoding="utf-8")
    return directory


def test_the_example_directory_passes() -> None:
    result = CliRunner().invoke(_app(), ["policy", "check", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "8 agreements, 0 problems"


def test_a_broken_directory_lists_each_problem_and_fails(tmp_path: Path) -> None:
    directory = _broken(tmp_path)
    result = CliRunner().invoke(_app(), ["policy", "check", str(directory)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    beta_line = next(
        n
        for n, line in enumerate((EXAMPLES / "bank-beta.yaml").read_text().splitlines(), 1)
        if line.startswith("sector:")
    )
    assert lines[0].startswith(f"{directory / 'bank-beta.yaml'}:{beta_line}: sector: ")
    assert lines[1].startswith(f"{directory / 'bank-gamma.yml'}:2: YAML syntax: ")
    assert lines[2] == "1 agreements, 2 problems"


def test_json_output_lists_agreements_and_problems(tmp_path: Path) -> None:
    directory = _broken(tmp_path)
    result = CliRunner().invoke(_app(), ["policy", "check", str(directory), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["agreements"] == ["bank-alpha"]
    assert [(p["file"], p["field"]) for p in data["problems"]] == [
        (str(directory / "bank-beta.yaml"), "sector"),
        (str(directory / "bank-gamma.yml"), ""),
    ]
    assert all(isinstance(p["line"], int) and p["message"] for p in data["problems"])


def test_json_output_for_a_good_directory() -> None:
    result = CliRunner().invoke(_app(), ["policy", "check", str(EXAMPLES), "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert len(data["agreements"]) == 8 and data["problems"] == []


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["policy", "check", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "policy directory not found" in result.output
