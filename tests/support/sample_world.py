"""Deterministic partner exports whose right answers are known before any node reads them.

Integration tests need data where the expected figures do not come from the
code under test: this module decides which indicator *identities* each partner
holds, writes each identity in a partner-specific spelling (national or
international phone formats, paper or electronic IBANs, case, schemes and
default ports in URLs), and records what the hub must end up with: items per
partner and the number of identities that partners of two or more sectors
share. If any node canonicalised a spelling differently, the hub's figures
would drift from these and the test would say so.

All values are synthetic but valid: phones lie in mobile ranges libphonenumber
accepts, IBANs carry correct mod-97 check digits, domains are RFC 2606 example
domains. Timestamps fall in September to early November 2026, before the
tests' hub clock (2026-11-18), in countries the test agreements allow
(write_policy's default GB, NL, NG, RO).

The second half feeds a world to nodes through the real `counterflow node`
commands, started together so that they overlap, and reads back what a node
sent (its outbox) and what the hub kept (its tables), for exact comparisons.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PHONE, EMAIL, IBAN, URL = "phone", "email", "iban", "url"
COUNTRIES = ("GB", "NL", "NG", "RO")
# The partner's phone region: national spellings are only written for numbers of it.
SECTOR_REGION = {"bank": "GB", "ngo": "NG", "platform": "RO"}
_FIRST_DAY = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)
_SPREAD_MINUTES = 70 * 24 * 60  # ends around 2026-11-10
_SHARED_POOL = {PHONE: 60, EMAIL: 40, IBAN: 30, URL: 30}
_SHARED_SHARE = 0.3


@dataclass(frozen=True)
class Identity:
    """One real-world indicator: its canonical value and how exports may write it."""

    kind: str
    canonical: str
    country: str
    # Phones: (international with spaces, national with spaces); others: unused.
    parts: tuple[str, ...] = ()


@dataclass
class PartnerExport:
    partner_id: str
    sector: str
    source: Path
    profile: Path
    records: int
    # Items the node stores: one per distinct (record, type, canonical value).
    items: int
    identities: set[tuple[str, str]] = field(default_factory=set)
    # Every indicator value exactly as the export writes it, with its identity.
    written: dict[str, Identity] = field(default_factory=dict)


@dataclass
class World:
    partners: dict[str, PartnerExport]

    def total_items(self, partner_ids: Iterable[str] | None = None) -> int:
        return sum(self.partners[p].items for p in self._ids(partner_ids))

    def cross_sector_identities(self, partner_ids: Iterable[str] | None = None) -> int:
        """Identities held by partners of at least two sectors: the hub's cross-sector tokens."""
        sectors: dict[tuple[str, str], set[str]] = {}
        for pid in self._ids(partner_ids):
            export = self.partners[pid]
            for identity in export.identities:
                sectors.setdefault(identity, set()).add(export.sector)
        return sum(1 for seen in sectors.values() if len(seen) >= 2)

    def raw_forms(self) -> set[str]:
        """Every spelling a leak could take: as written, canonical, lower-case, digits only."""
        forms: set[str] = set()
        for export in self.partners.values():
            for written, identity in export.written.items():
                forms.update(leak_forms(written, identity))
        return forms

    def _ids(self, partner_ids: Iterable[str] | None) -> list[str]:
        return list(self.partners) if partner_ids is None else list(partner_ids)


def leak_forms(written: str, identity: Identity) -> set[str]:
    """The spellings under which one written value could turn up where it must not."""
    forms = {
        written,
        written.strip(),
        written.lower(),
        identity.canonical,
        identity.canonical.lower(),
    }
    if identity.kind == PHONE:
        forms.add(re.sub(r"\D", "", written))
        forms.add(identity.canonical.lstrip("+"))
        forms.update(re.sub(r"\D", "", part) for part in identity.parts)
    if identity.kind == IBAN:
        forms.add(written.replace(" ", ""))
        forms.add(written.replace(" ", "").upper())
    # Nothing shorter could be told apart from chance bytes in a database page.
    return {f for f in forms if len(f) >= 8}


# -- identities -----------------------------------------------------------------

# Mobile ranges libphonenumber accepts in full: (country code, national prefix, digits after it).
_MOBILES = {
    "GB": ("44", "7912", 6),
    "NG": ("234", "803", 7),
    "RO": ("40", "721", 6),
    "NL": ("31", "612", 6),
}
_IBAN_BANKS = {"GB": ("WEST", 14), "NL": ("ABNA", 10), "RO": ("RNCB", 16)}
_DOMAINS = ("example.org", "example.com", "example.net", "mail.example")
_URL_HOSTS = ("jobs.example.com", "work-abroad.example.net", "visa.example.org", "rooms.example")
_NAMES = ("ana", "bola", "chidi", "dan", "elena", "femi", "george", "ioana", "jan", "kemi")


class _Minter:
    """Fresh identities, never the same canonical value twice in one world."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[tuple[str, str]] = set()

    def mint(self, kind: str) -> Identity:
        while True:
            identity = _MAKERS[kind](self._rng)
            key = (kind, identity.canonical)
            if key not in self._used:
                self._used.add(key)
                return identity


def _phone(rng: random.Random) -> Identity:
    country = rng.choice(("GB", "GB", "NG", "NG", "RO", "NL"))
    code, prefix, digits = _MOBILES[country]
    subscriber = "".join(rng.choice("0123456789") for _ in range(digits))
    nsn = prefix + subscriber
    grouped = _group_phone(country, nsn)
    return Identity(PHONE, f"+{code}{nsn}", country, (f"+{code} {grouped}", f"0{grouped}"))


def _group_phone(country: str, nsn: str) -> str:
    if country == "GB":
        return f"{nsn[:4]} {nsn[4:]}"
    if country == "NG":
        return f"{nsn[:3]} {nsn[3:6]} {nsn[6:]}"
    if country == "RO":
        return f"{nsn[:3]} {nsn[3:6]} {nsn[6:]}"
    return f"{nsn[:1]} {nsn[1:]}"


def _email(rng: random.Random) -> Identity:
    local = f"{rng.choice(_NAMES)}.{rng.choice(_NAMES)}{rng.randrange(10, 10_000)}"
    return Identity(EMAIL, f"{local}@{rng.choice(_DOMAINS)}", rng.choice(COUNTRIES))


def _iban(rng: random.Random) -> Identity:
    country = rng.choice(tuple(_IBAN_BANKS))
    bank, digits = _IBAN_BANKS[country]
    bban = bank + "".join(rng.choice("0123456789") for _ in range(digits))
    return Identity(IBAN, f"{country}{iban_check_digits(country, bban)}{bban}", country)


def _url(rng: random.Random) -> Identity:
    path = f"/offer/{rng.randrange(1000, 1_000_000)}"
    query = f"?ref={rng.choice(_NAMES)}{rng.randrange(100)}"
    return Identity(URL, f"{rng.choice(_URL_HOSTS)}{path}{query}", rng.choice(COUNTRIES))


_MAKERS: dict[str, Callable[[random.Random], Identity]] = {
    PHONE: _phone,
    EMAIL: _email,
    IBAN: _iban,
    URL: _url,
}


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits: 98 minus the mod-97 of BBAN + country + "00" as digits."""
    rearranged = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


# -- spellings ------------------------------------------------------------------


def spell(identity: Identity, region: str, rng: random.Random) -> str:
    """One of the ways a partner in `region` would write the identity."""
    if identity.kind == PHONE:
        international, national = identity.parts
        choices = [international, identity.canonical, international.replace(" ", "-")]
        if identity.country == region:
            choices.append(national)
        return rng.choice(choices)
    if identity.kind == EMAIL:
        local, _, domain = identity.canonical.partition("@")
        return rng.choice(
            [identity.canonical, f"{local.title()}@{domain.upper()}", f"{local.upper()}@{domain}"]
        )
    if identity.kind == IBAN:
        paper = " ".join(
            identity.canonical[i : i + 4] for i in range(0, len(identity.canonical), 4)
        )
        return rng.choice([identity.canonical, paper, identity.canonical.lower(), f"IBAN {paper}"])
    host, _, rest = identity.canonical.partition("/")
    return rng.choice(
        [
            f"https://{identity.canonical}",
            f"http://{host.upper()}/{rest}",
            f"https://{host}:443/{rest}#apply",
            identity.canonical,
        ]
    )


# -- the world ------------------------------------------------------------------


def build_world(
    directory: Path, partners: Mapping[str, str], *, records: int = 600, seed: int = 20261118
) -> World:
    """Write each partner's export and source profile (`<id>.csv|jsonl`, `<id>.yaml`)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    minter = _Minter(rng)
    shared = {kind: [minter.mint(kind) for _ in range(n)] for kind, n in _SHARED_POOL.items()}
    return World(
        {
            pid: _write_partner(directory, pid, sector, records, rng, minter, shared)
            for pid, sector in partners.items()
        }
    )


def _write_partner(
    directory: Path,
    partner_id: str,
    sector: str,
    records: int,
    rng: random.Random,
    minter: _Minter,
    shared: dict[str, list[Identity]],
) -> PartnerExport:
    region = SECTOR_REGION[sector]
    export = PartnerExport(partner_id, sector, Path(), Path(), records, 0)
    rows = []
    for number in range(records):
        chosen = _record_identities(sector, rng, minter, shared)
        spelled = {kind: [spell(i, region, rng) for i in ids] for kind, ids in chosen.items()}
        for kind, ids in chosen.items():
            for identity, written in zip(ids, spelled[kind], strict=True):
                export.identities.add((kind, identity.canonical))
                export.written[written] = identity
        export.items += sum(len(ids) for ids in chosen.values())
        rows.append(_row(partner_id, number, rng, spelled))
    export.source, export.profile = _WRITERS[sector](directory, partner_id, rows)
    return export


def _record_identities(
    sector: str, rng: random.Random, minter: _Minter, shared: dict[str, list[Identity]]
) -> dict[str, list[Identity]]:
    """Distinct identities per record (the node keeps one item per type and value)."""
    wanted = {
        "bank": {IBAN: 1, PHONE: rng.choice((0, 1)), EMAIL: rng.choice((0, 0, 1))},
        "ngo": {
            PHONE: rng.choice((1, 2)),
            EMAIL: rng.choice((0, 1)),
            IBAN: rng.choice((0, 0, 1)),
            URL: rng.choice((0, 1, 2)),
        },
        "platform": {PHONE: rng.choice((1, 2)), EMAIL: rng.choice((0, 1)), URL: rng.choice((1, 2))},
    }[sector]
    chosen: dict[str, list[Identity]] = {}
    for kind, count in wanted.items():
        picked: list[Identity] = []
        while len(picked) < count:
            identity = (
                rng.choice(shared[kind]) if rng.random() < _SHARED_SHARE else minter.mint(kind)
            )
            if identity not in picked:
                picked.append(identity)
        chosen[kind] = picked
    return chosen


def _row(
    partner_id: str, number: int, rng: random.Random, spelled: dict[str, list[str]]
) -> dict[str, object]:
    when = _FIRST_DAY + dt.timedelta(minutes=rng.randrange(_SPREAD_MINUTES))
    return {
        "id": f"{partner_id[:3].upper()}-{number:06d}",
        "when": when,
        "country": rng.choice(COUNTRIES),
        "tags": rng.sample(
            ["money-mule", "forced-labour", "debt-bondage", "recruitment"], rng.randrange(3)
        ),
        **spelled,
    }


def _write_bank(
    directory: Path, partner_id: str, rows: list[dict[str, object]]
) -> tuple[Path, Path]:
    source = directory / f"{partner_id}.csv"
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "txn_id",
                "booked_at",
                "counterparty_iban",
                "contact_phone",
                "contact_email",
                "counterparty_country",
                "typology",
                "memo",
            ]
        )
        for row in rows:
            when = row["when"]
            assert isinstance(when, dt.datetime)
            writer.writerow(
                [
                    row["id"],
                    when.isoformat(),
                    _one(row, IBAN),
                    _one(row, PHONE),
                    "; ".join(_all(row, EMAIL)),
                    str(row["country"]).lower() if int(when.minute) % 2 else row["country"],
                    "|".join(_tags(row)),
                    "transfer, see file",
                ]
            )
    profile = _profile(
        partner_id,
        "csv",
        "txn_id",
        {"field": "booked_at", "format": "iso"},
        {"field": "counterparty_country", "default": "GB"},
        "GB",
        [
            {"field": "counterparty_iban", "type": IBAN},
            {"field": "contact_phone", "type": PHONE},
            {"field": "contact_email", "type": EMAIL, "split": ";"},
        ],
        ["bank-transfer"],
        {"field": "typology", "split": "|"},
    )
    return source, _write_profile(directory, partner_id, profile)


def _write_ngo(
    directory: Path, partner_id: str, rows: list[dict[str, object]]
) -> tuple[Path, Path]:
    lines = []
    for row in rows:
        when = row["when"]
        assert isinstance(when, dt.datetime)
        phones = _all(row, PHONE)
        lines.append(
            {
                "case": {
                    "id": row["id"],
                    "opened": when.strftime("%d/%m/%Y %H:%M"),
                    "country": row["country"],
                    "typology": "|".join(_tags(row)),
                },
                "caller": {"phone": phones[0], "emails": _all(row, EMAIL)},
                "persons": [{"phone": p} for p in phones[1:]] + [{"name": "withheld"}],
                "payment": {"iban": _one(row, IBAN) or None},
                "notes": {"links": "  ".join(_all(row, URL)), "text": "called twice"},
            }
        )
    source = _write_jsonl(directory / f"{partner_id}.jsonl", lines)
    profile = _profile(
        partner_id,
        "jsonl",
        "case.id",
        {"field": "case.opened", "format": "%d/%m/%Y %H:%M"},
        {"field": "case.country", "default": "NG"},
        "NG",
        [
            {"field": "caller.phone", "type": PHONE},
            {"field": "caller.emails", "type": EMAIL},
            {"field": "persons.phone", "type": PHONE},
            {"field": "payment.iban", "type": IBAN},
            {"field": "notes.links", "type": URL, "split": " "},
        ],
        ["hotline"],
        {"field": "case.typology", "split": "|"},
    )
    return source, _write_profile(directory, partner_id, profile)


def _write_platform(
    directory: Path, partner_id: str, rows: list[dict[str, object]]
) -> tuple[Path, Path]:
    lines = []
    for row in rows:
        when = row["when"]
        assert isinstance(when, dt.datetime)
        phones = _all(row, PHONE)
        lines.append(
            {
                "ad_id": row["id"],
                "posted_at": int(when.timestamp()),
                "geo": {"country": row["country"]},
                "contact": {
                    "phone": phones[0],
                    "whatsapp": phones[1] if len(phones) > 1 else None,
                    "email": _one(row, EMAIL) or None,
                },
                "landing_urls": _all(row, URL),
                "moderation": {"labels": _tags(row)},
            }
        )
    source = _write_jsonl(directory / f"{partner_id}.jsonl", lines)
    profile = _profile(
        partner_id,
        "jsonl",
        "ad_id",
        {"field": "posted_at", "format": "unix"},
        {"field": "geo.country"},
        "RO",
        [
            {"field": "contact.phone", "type": PHONE},
            {"field": "contact.whatsapp", "type": PHONE},
            {"field": "contact.email", "type": EMAIL},
            {"field": "landing_urls", "type": URL},
        ],
        ["online-ad"],
        {"field": "moderation.labels"},
    )
    return source, _write_profile(directory, partner_id, profile)


_WRITERS: dict[str, Callable[[Path, str, list[dict[str, object]]], tuple[Path, Path]]] = {
    "bank": _write_bank,
    "ngo": _write_ngo,
    "platform": _write_platform,
}


def _all(row: dict[str, object], kind: str) -> list[str]:
    values = row.get(kind, [])
    assert isinstance(values, list)
    return [str(v) for v in values]


def _one(row: dict[str, object], kind: str) -> str:
    values = _all(row, kind)
    assert len(values) <= 1
    return values[0] if values else ""


def _tags(row: dict[str, object]) -> list[str]:
    tags = row["tags"]
    assert isinstance(tags, list)
    return [str(t) for t in tags]


def _profile(
    partner_id: str,
    reader: str,
    record_id: str,
    timestamp: dict[str, str],
    country: dict[str, str],
    region: str,
    indicators: list[dict[str, str]],
    tags: list[str],
    tag_field: dict[str, str],
) -> dict[str, object]:
    return {
        "schema_version": 1,
        "name": f"{partner_id}-export",
        "reader": reader,
        "options": {"encoding": "utf-8"},
        "record_id": record_id,
        "timestamp": timestamp,
        "country": country,
        "phone_region": region,
        "indicators": indicators,
        "tags": tags,
        "tag_field": tag_field,
    }


def _write_profile(directory: Path, partner_id: str, profile: dict[str, object]) -> Path:
    path = directory / f"{partner_id}.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    return path


def _write_jsonl(path: Path, lines: list[dict[str, object]]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return path


# -- feeding the world to nodes (the real CLI, in subprocesses) ---------------------


_JSON = ("--format", "json")


def counterflow(*args: str) -> list[str]:
    """The command line of the real `counterflow` CLI, as the tests' Python runs it."""
    return [sys.executable, "-m", "counterflow.cli", *args]


def push_command(home: Path) -> list[str]:
    return counterflow("node", "push", "--home", str(home), *_JSON)


def run_at_once(commands: Mapping[str, list[str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Start every command before waiting for any, so that they really overlap."""
    started = {
        name: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, command in commands.items()
    }
    finished = {}
    try:
        for name, process in started.items():
            out, err = process.communicate(timeout=300)
            finished[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return finished


def ingest_all(world: World, homes: Mapping[str, Path]) -> dict[str, dict[str, Any]]:
    """Every partner's export into its node at once; fails unless all of it was stored."""
    commands = {pid: _ingest_command(world.partners[pid], home) for pid, home in homes.items()}
    reports = {}
    for pid, result in run_at_once(commands).items():
        assert result.returncode == 0, f"ingest for {pid} failed:\n{result.stdout}\n{result.stderr}"
        report: dict[str, Any] = json.loads(result.stdout)
        assert report["quarantined_total"] == 0, report
        assert report["indicators_new"] == world.partners[pid].items, report
        reports[pid] = report
    return reports


def _ingest_command(export: PartnerExport, home: Path) -> list[str]:
    source, profile = str(export.source), str(export.profile)
    return counterflow("node", "ingest", source, "--profile", profile, "--home", str(home), *_JSON)


def push_all(homes: Mapping[str, Path]) -> dict[str, dict[str, Any]]:
    """`counterflow node push` from every node at once; fails unless every push succeeded."""
    reports = {}
    for pid, result in run_at_once({pid: push_command(h) for pid, h in homes.items()}).items():
        assert result.returncode == 0, f"push for {pid} failed:\n{result.stdout}\n{result.stderr}"
        reports[pid] = json.loads(result.stdout)
    return reports


# -- what the node sent and the hub kept ---------------------------------------------


def node_outbox(home: Path) -> list[tuple[str, int, str]]:
    """(batch id, items, state) of every batch the node built, read-only."""
    conn = sqlite3.connect(f"file:{home / 'node.db'}?mode=ro", uri=True)
    try:
        return [
            (str(b), int(n), str(s))
            for b, n, s in conn.execute(
                "SELECT batch_id, item_count, state FROM outbox ORDER BY seq"
            )
        ]
    finally:
        conn.close()


def hub_batches(
    url: str,
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int], list[Any]]:
    """Items stored per (partner, batch), the batches table's accepted counts, and every
    (partner, batch, index) stored more than once, read straight from the hub's database."""
    from sqlalchemy import create_engine, func, select

    from hub.storage.schema import batches, reports

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            duplicated = list(
                conn.execute(
                    select(reports.c.partner_id, reports.c.batch_id, reports.c.item_index)
                    .group_by(reports.c.partner_id, reports.c.batch_id, reports.c.item_index)
                    .having(func.count() > 1)
                ).all()
            )
            stored = {
                (row.partner_id, row.batch_id): int(row.items)
                for row in conn.execute(
                    select(
                        reports.c.partner_id, reports.c.batch_id, func.count().label("items")
                    ).group_by(reports.c.partner_id, reports.c.batch_id)
                )
            }
            accepted = {
                (row.partner_id, row.batch_id): int(row.accepted)
                for row in conn.execute(
                    select(batches.c.partner_id, batches.c.batch_id, batches.c.accepted)
                )
            }
    finally:
        engine.dispose()
    return stored, accepted, duplicated
