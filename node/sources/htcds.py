"""Human Trafficking Case Data Standard 2.0 names, and the rule that protects victims.

A hotline's case export holds victims and perpetrators in the same Person
table, with the same contact columns. A victim's phone number shared as an
indicator would put the person the hotline protects on every partner's watch
list, so contact details leave a row only when the row is a perpetrator and
nothing else: `per_RoleInProcess` is set and no victim context field is.
When in doubt the row yields nothing.

Field names are HTCDS 2.0's (UNMigration/HTCDS, CC BY 4.0); the two `ext_`
columns are Counterflow's documented extensions (docs/htcds.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from counterflow.errors import ConfigError
from node.sources.records import Value

# Perpetrator context: a non-empty role makes the person a perpetrator.
ROLE_FIELD = "per_RoleInProcess"
VICTIM_PREFIX = "vic_"

# Person contact details: the indicators a hotline holds.
MOBILE_PHONE = "prs_MobilePhone"
HOME_PHONE = "prs_HomePhone"
EMAIL = "prs_Email"

# Context for the default profile (docs/htcds.md).
CASE_DATE = "cas_IncomingReferralDate"
EVENT_COUNTRY = "hte_Country"

# Standard fields this code names; tests check each against fields-v2.0.csv.
STANDARD_FIELDS = (ROLE_FIELD, MOBILE_PHONE, HOME_PHONE, EMAIL, CASE_DATE, EVENT_COUNTRY)

# Counterflow extensions: HTCDS 2.0 has no field for a perpetrator's online presence.
EXT_SOCIAL_HANDLE = "ext_per_SocialHandle"
EXT_WEBSITE = "ext_per_Website"
EXTENSION_FIELDS = (EXT_SOCIAL_HANDLE, EXT_WEBSITE)


def may_share(role: str, victim_values: Iterable[str]) -> bool:
    """True only for a perpetrator with no victim context: a victim-perpetrator stays private.

    Any non-blank victim value counts, "false" and "0" included: a column the
    export filled in is not proof that the person is not a victim.
    """
    return bool(role.strip()) and not any(value.strip() for value in victim_values)


def is_victim_field(name: str, victim_prefixes: Iterable[str]) -> bool:
    """Prefixes match whatever the case: a column spelt `VIC_...` is still victim context."""
    lowered = name.strip().lower()
    return any(lowered.startswith(prefix.lower()) for prefix in victim_prefixes)


@dataclass(frozen=True, slots=True)
class RoleColumns:
    """Where a header keeps the role and every victim context field."""

    role: int
    victims: tuple[int, ...]

    def allows(self, row: Sequence[Value]) -> bool:
        return may_share(_text(row[self.role]), (_text(row[index]) for index in self.victims))


def _text(value: Value) -> str:
    """A list value counts as set when any element is: the rule never guesses in a row's favour."""
    if isinstance(value, tuple):
        return " ".join(value)
    return value or ""


def role_columns(
    header: Sequence[str], role_field: str, victim_prefixes: Sequence[str], source: Path
) -> RoleColumns:
    """Find the rule's columns by name; a header that cannot show the rule fails the file.

    Without the role column no row can be a perpetrator, and without any
    victim column the reader could not tell a victim-perpetrator apart: both
    would make the rule meaningless, so both stop the read.
    """
    names = [cell.strip() for cell in header]
    roles = [index for index, name in enumerate(names) if name == role_field]
    if not roles:
        raise ConfigError(
            f"source file {source} lacks the perpetrator role column {role_field!r}: "
            "without it no row can be shared"
        )
    if len(roles) > 1:
        raise ConfigError(f"source file {source} has several columns named {role_field!r}")
    victims = tuple(
        index for index, name in enumerate(names) if is_victim_field(name, victim_prefixes)
    )
    if not victims:
        raise ConfigError(
            f"source file {source} has no victim context column "
            f"({', '.join(p + '*' for p in victim_prefixes)}): export them so victims "
            "can be told apart from perpetrators"
        )
    return RoleColumns(roles[0], victims)
