"""Policy files on disk: every example loads, every problem is placed at file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from counterflow.errors import ErrorCode, PolicyError
from counterflow.indicators import IndicatorType
from hub.policy.loader import PolicySet, check_policies, load_policies, load_policy

REPO = Path(__file__).resolve().parents[4]
EXAMPLES = REPO / "policies"
DEMO_PARTNERS = (
    "bank-alpha",
    "bank-beta",
    "bank-gamma",
    "ngo-harbour",
    "ngo-lighthouse",
    "ngo-safeway",
    "platform-classifieds",
    "platform-social",
)

# Line numbers below are this text's; tests change one line and expect that line back.
GOOD = """\
schema_version: 1
partner_id: bank-alpha
organisation: "Alpha Bank plc"
sector: bank
agreement_id: "CF-AGR-2026-001"
version: 1
status: active
valid_from: "2026-01-01"
valid_until: "2027-12-31"
purposes: [trend_analysis, convergence_alerts]
submit:
  indicator_types: [phone, email, iban]
  countries: [GB, NL]
  cells: []
  aggregate_counts: false
retention_days: 365
receive:
  trend_feeds: {enabled: true, k: 5}
  convergence_alerts: {enabled: true, m: 3, s: 2, weekly_quota: 500}
export: {stix: false, taxii: false}
mse_linkage: false
federated_learning: {tasks: []}
"""


def _text(old: str = "", new: str = "") -> str:
    if not old:
        return GOOD
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.code is ErrorCode.INVALID_POLICY
    return info.value.problems


def test_a_valid_file_loads(tmp_path: Path) -> None:
    agreement = load_policy(_write(tmp_path, "bank-alpha.yaml", GOOD))
    assert agreement.partner_id == "bank-alpha"
    assert agreement.valid_until.isoformat() == "2027-12-31"
    assert agreement.receive.trend_feeds.k == 5


def test_every_example_in_policies_loads() -> None:
    policies = load_policies(EXAMPLES)
    assert policies.partner_ids == DEMO_PARTNERS
    for agreement in policies:
        assert agreement.receive.convergence_alerts.m == 3
        assert agreement.receive.convergence_alerts.s == 2
        assert 3 <= agreement.receive.trend_feeds.k <= 5


def test_the_narrow_demo_agreement_refuses_crypto_and_far_countries() -> None:
    policies = load_policies(EXAMPLES)
    safeway = policies.get("ngo-safeway")
    harbour = policies.get("ngo-harbour")
    assert safeway is not None and harbour is not None
    assert safeway.item_refusal(IndicatorType.CRYPTO_WALLET, "GB", None) is not None
    assert safeway.item_refusal(IndicatorType.PHONE, "BR", None) is not None
    assert safeway.item_refusal(IndicatorType.PHONE, "GB", None) is None
    assert harbour.item_refusal(IndicatorType.CRYPTO_WALLET, "BR", None) is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  aggregate_counts: false\n",
            "  aggregate_counts: false\n  colour: red\n",
            ":16: submit.colour: unknown key; expected one of: indicator_types,",
        ),
        ("sector: bank", "sector: banc", ":4: sector: Input should be 'bank'"),
        (
            "purposes: [trend_analysis, convergence_alerts]",
            "purposes:\n  - trend_analysis\n  - spying\n  - convergence_alerts",
            ":12: purposes[1]: Input should be",
        ),
        ('valid_from: "2026-01-01"', 'valid_from: "2026-02-30"', ":8: valid_from: not a calendar"),
        ('valid_from: "2026-01-01"', "valid_from: 2026-1-1", ":8: valid_from: expected a date"),
        (
            'valid_until: "2027-12-31"',
            'valid_until: "2025-12-31"',
            ":9: valid_until: 2025-12-31 must be after valid_from 2026-01-01",
        ),
        (
            "k: 5}",
            "k: 2}",
            ":18: receive.trend_feeds.k: Input should be greater than or equal to 3",
        ),
        ("s: 2,", "s: 4,", ":19: receive.convergence_alerts.s: s (4) cannot exceed m (3)"),
        ("countries: [GB, NL]", "countries: [GB, NL, XX]", ":13: submit.countries[2]: 'XX'"),
        ("mse_linkage: false", "mse_linkage: yes", ":21: mse_linkage: expected true or false"),
        ('organisation: "Alpha Bank plc"\n', "", ":1: organisation: required key is missing"),
        (
            "\nversion: 1\n",
            "\nversion: 1\nversion: 2\n",
            ":7: version: duplicate key (first at line 6)",
        ),
        ("countries: [GB, NL]", "countries: [GB, NL", ":14: YAML syntax: "),
        ("  cells: []", "\tcells: []", ":14: YAML syntax: "),
    ],
)
def test_each_problem_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = _write(tmp_path, "bank-alpha.yaml", _text(old, new))
    problems = _problems(path)
    assert any(p.startswith(f"{path}{expected}") for p in problems), problems


def test_partner_id_must_match_the_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "bank-beta.yaml", GOOD)
    assert _problems(path) == [
        f"{path}:2: partner_id: 'bank-alpha' does not match the file name; expected 'bank-beta'"
    ]


def test_a_partner_may_have_only_one_agreement(tmp_path: Path) -> None:
    _write(tmp_path, "bank-alpha.yaml", GOOD)
    second = _write(tmp_path, "bank-alpha.yml", GOOD)
    with pytest.raises(PolicyError) as info:
        load_policies(tmp_path)
    assert info.value.problems == [
        f"{second}:2: partner_id: 'bank-alpha' already has an agreement in "
        f"{tmp_path / 'bank-alpha.yaml'}"
    ]


def test_norway_is_a_country_not_false(tmp_path: Path) -> None:
    path = _write(tmp_path, "bank-alpha.yaml", _text("[GB, NL]", "[GB, NO]"))
    assert load_policy(path).submit.countries == ("GB", "NO")


def test_empty_file_and_non_mapping_are_problems(tmp_path: Path) -> None:
    empty = _write(tmp_path, "bank-alpha.yaml", "# nothing yet\n")
    assert _problems(empty) == [f"{empty}:1: file is empty; expected an agreement"]
    listed = _write(tmp_path, "bank-beta.yaml", "- partner_id: bank-beta\n")
    assert _problems(listed) == [f"{listed}:1: expected a mapping of agreement fields"]


def test_text_that_is_not_utf8_is_placed_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bank-alpha.yaml"
    path.write_bytes(GOOD.replace("Alpha Bank plc", "Alpha Bank \xe9").encode("latin-1"))
    assert _problems(path) == [f"{path}:3: not UTF-8 text"]


def test_all_problems_in_all_files_are_collected(tmp_path: Path) -> None:
    _write(tmp_path, "bank-alpha.yaml", _text("sector: bank", "sector: banc"))
    _write(
        tmp_path,
        "bank-beta.yaml",
        _text("partner_id: bank-alpha", "partner_id: bank-beta")
        .replace("k: 5}", "k: 1}")
        .replace("status: active", "status: paused"),
    )
    _write(tmp_path, "bank-gamma.yaml", GOOD.replace("bank-alpha", "bank-gamma"))
    with pytest.raises(PolicyError) as info:
        load_policies(tmp_path)
    lines = [p.split(": ")[0] for p in info.value.problems]
    assert lines == [
        f"{tmp_path / 'bank-alpha.yaml'}:4",
        f"{tmp_path / 'bank-beta.yaml'}:7",
        f"{tmp_path / 'bank-beta.yaml'}:18",
    ]
    assert [where for where, _ in info.value.violations] == lines
    report = check_policies(tmp_path)
    assert report.policies.partner_ids == ("bank-gamma",)
    assert len(report.problems) == 3


def test_only_policy_files_directly_in_the_directory_count(tmp_path: Path) -> None:
    _write(tmp_path, "bank-alpha.yaml", GOOD)
    _write(tmp_path, "bank-beta.yml", GOOD.replace("bank-alpha", "bank-beta"))
    _write(tmp_path, "README.md", "not yaml: [")
    _write(tmp_path, "_draft.yaml", "not yaml: [")
    _write(tmp_path, ".bank-alpha.yaml", "not yaml: [")
    _write(tmp_path, "notes.txt", "not yaml: [")
    (tmp_path / "old").mkdir()
    _write(tmp_path / "old", "bank-gamma.yaml", "not yaml: [")
    (tmp_path / "dir.yaml").mkdir()
    policies = load_policies(tmp_path)
    assert policies.partner_ids == ("bank-alpha", "bank-beta")


def test_an_empty_directory_holds_no_agreements(tmp_path: Path) -> None:
    assert len(load_policies(tmp_path)) == 0


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policies(tmp_path / "nope")
    assert "not found" in info.value.message


def test_policy_set_lookup(tmp_path: Path) -> None:
    _write(tmp_path, "bank-alpha.yaml", GOOD)
    policies = load_policies(tmp_path)
    agreement = policies.get("bank-alpha")
    assert agreement is not None and agreement.agreement_id == "CF-AGR-2026-001"
    assert policies.get("bank-omega") is None
    assert "bank-alpha" in policies
    assert [a.partner_id for a in policies] == ["bank-alpha"]
    assert len(policies) == 1
    with pytest.raises(PolicyError):
        PolicySet([agreement, agreement])
