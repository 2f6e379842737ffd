"""`counterflow policy check [DIR]`: validate agreements before the hub sees them.

Meant for review and CI: it lists every problem in every file, in the same
``file:line: field: message`` form the hub logs at start-up, and exits 1 if any.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from hub.commands._apps import policy_app
from hub.policy.loader import PolicyReport, check_policies


@policy_app.command("check")
def check(
    directory: Annotated[
        Path, typer.Argument(help="Directory of agreement files (*.yaml, *.yml).")
    ] = Path("policies"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Validate every agreement in DIR and list each problem with its file and line."""
    with exits_on_error(fmt):
        report = check_policies(directory)
    if fmt is OutputFormat.JSON:
        emit_json(
            {
                "agreements": list(report.policies.partner_ids),
                "problems": [p.as_dict() for p in report.problems],
            }
        )
    else:
        _print_text(report)
    if report.problems:
        raise typer.Exit(1)


def _print_text(report: PolicyReport) -> None:
    out = stdout()
    for problem in report.problems:
        out.print(str(problem), markup=False, highlight=False)
    agreements, problems = len(report.policies), len(report.problems)
    out.print(f"{agreements} agreements, {problems} problems", markup=False, highlight=False)
