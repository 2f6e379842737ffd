"""IBM AMLSim worlds as partner data: accounts as IBANs, one world split into banks.

AMLSim numbers its accounts 0..N-1 and simulates one economy; a real bank
sees only its own customers and the transfers that touch them. Splitting a
world into banks gives each node a realistic partial view, and the shared
account -> IBAN mapping means the same counterparty tokenises the same way at
every bank, which is what lets the hub see a fan-in across banks.

Mapping (documented in docs/amlsim.md): the IBAN is the country code, the
mod-97 check digits, the bank code, then the account id zero-padded to fill
the country's IBAN length. For GB that is 4 letters + 14 digits, i.e. a
6-digit sort code (id // 10**8) and an 8-digit account number (id % 10**8).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from counterflow.errors import ConfigError, ErrorCode, InputError
from node.canonical.iban import IBAN_LENGTHS

NODE_COLUMNS = ("nodeid", "isFraud")
TRANSACTION_COLUMNS = ("sourceNodeId", "targetNodeId", "value", "time")
# Step t is booked at DEFAULT_START + t days; the sample's 150 steps end in January 2027.
DEFAULT_START = dt.date(2026, 9, 1)
BANK_CODE_PATTERN = re.compile(r"[A-Z][A-Z0-9]{0,9}")
_LETTER_VALUES = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})


def iban_for(account_id: int, country: str = "GB", bank_code: str = "AMLS") -> str:
    """The account's IBAN: the same id gives the same IBAN at every bank and every run."""
    length = IBAN_LENGTHS.get(country)
    if length is None:
        raise ConfigError(f"{country!r} is not an IBAN country")
    if not BANK_CODE_PATTERN.fullmatch(bank_code):
        raise ConfigError("bank code must be 1-10 characters A-Z/0-9, starting with a letter")
    width = length - 4 - len(bank_code)
    if width < 1:
        raise ConfigError(f"bank code {bank_code!r} leaves no room for the account in {country}")
    if account_id < 0 or account_id >= 10**width:
        raise InputError(
            ErrorCode.INVALID_RECORD,
            f"account id does not fit the {width} digits a {country} IBAN leaves",
        )
    bban = f"{bank_code}{account_id:0{width}d}"
    check = 98 - int((bban + country + "00").translate(_LETTER_VALUES)) % 97
    return f"{country}{check:02d}{bban}"


def bank_of(account_id: int, banks: int, seed: int) -> int:
    """The bank (0-based) holding an account: a keyed hash, so order and streaming do not matter."""
    digest = hashlib.blake2b(f"{seed}:{account_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % banks


@dataclass(frozen=True, slots=True)
class BankShare:
    """One bank's folder and what it holds."""

    folder: Path
    accounts: int
    transactions: int
    fraud_accounts: int


def split_world(
    nodes_csv: Path,
    transactions_csv: Path,
    banks: int,
    out_dir: Path,
    seed: int = 0,
    *,
    start_date: dt.date = DEFAULT_START,
) -> list[BankShare]:
    """Write one folder per bank (nodes.csv, transactions.csv, profile.yaml), with its counts."""
    if banks < 1:
        raise ConfigError("the number of banks must be at least 1")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ConfigError(f"output folder {out_dir} exists and is not empty: choose a new one")
    width = len(str(banks))
    folders = [out_dir / f"bank-{k:0{width}d}" for k in range(1, banks + 1)]
    for folder in folders:
        folder.mkdir(parents=True)
    accounts, frauds = _split_nodes(nodes_csv, folders, seed)
    transactions = _split_transactions(transactions_csv, folders, seed)
    for folder in folders:
        (folder / "profile.yaml").write_text(
            bank_profile(folder.name, start_date), encoding="utf-8"
        )
    return [
        BankShare(folder, accounts[k], transactions[k], frauds[k])
        for k, folder in enumerate(folders)
    ]


def bank_profile(name: str, start_date: dt.date = DEFAULT_START) -> str:
    """The source profile each bank folder gets: counterparty IBANs, booked at step dates."""
    return (
        "schema_version: 1\n"
        f"name: amlsim-{name}\n"
        "reader: amlsim\n"
        "options:\n"
        f'  start_date: "{start_date.isoformat()}"\n'
        "  country: GB\n"
        "  bank_code: AMLS\n"
        "  own_nodes: nodes.csv\n"
        "record_id: txn_id\n"
        "timestamp: {field: booked_at, format: iso}\n"
        "country: {default: GB}\n"
        "indicators:\n"
        "  - {field: counterparty_iban, type: iban}\n"
        "tags: [amlsim]\n"
    )


def _split_nodes(path: Path, folders: list[Path], seed: int) -> tuple[list[int], list[int]]:
    accounts = [0] * len(folders)
    frauds = [0] * len(folders)
    with _Writers(folders, "nodes.csv") as writers:
        rows = _rows(path)
        header = next(rows)[1]
        columns = header_positions(path, header, NODE_COLUMNS)
        writers.write_all(header)
        for line, row in rows:
            _check_width(path, line, row, len(header))
            account = _account(path, line, row, columns[0], "nodeid")
            bank = bank_of(account, len(folders), seed)
            writers.write(bank, row)
            accounts[bank] += 1
            frauds[bank] += int(row[columns[1]].strip() == "1")
    return accounts, frauds


def _split_transactions(path: Path, folders: list[Path], seed: int) -> list[int]:
    counts = [0] * len(folders)
    with _Writers(folders, "transactions.csv") as writers:
        rows = _rows(path)
        header = next(rows)[1]
        source, target = header_positions(path, header, TRANSACTION_COLUMNS)[:2]
        writers.write_all(header)
        for line, row in rows:
            _check_width(path, line, row, len(header))
            first = bank_of(_account(path, line, row, source, "sourceNodeId"), len(folders), seed)
            second = bank_of(_account(path, line, row, target, "targetNodeId"), len(folders), seed)
            for bank in {first, second}:
                writers.write(bank, row)
                counts[bank] += 1
    return counts


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line, row) for every non-blank row, the header first; an empty file is an error."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"cannot open AMLSim file {path}: {exc.strerror}") from None
    with handle:
        rows = csv.reader(handle)
        seen = False
        try:
            for row in rows:
                if row and any(cell.strip() for cell in row):
                    if not seen:
                        row[0] = row[0].removeprefix("\ufeff")
                    seen = True
                    yield rows.line_num, row
        except csv.Error:
            raise InputError(
                ErrorCode.INVALID_RECORD, f"{path}:{rows.line_num}: not valid CSV"
            ) from None
        if not seen:
            raise ConfigError(f"AMLSim file {path} is empty: expected a header line")


def header_positions(path: Path, header: list[str], wanted: tuple[str, ...]) -> list[int]:
    """Position of each wanted column; a missing one fails the file, naming it."""
    names = [cell.strip() for cell in header]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise ConfigError(f"AMLSim file {path} lacks column(s): {', '.join(missing)}")
    return [names.index(name) for name in wanted]


def own_accounts(path: Path) -> dict[int, bool]:
    """A bank's own accounts from its nodes.csv, each with its fraud label."""
    rows = _rows(path)
    labels: dict[int, bool] = {}
    try:
        header = next(rows)[1]
        node, fraud = header_positions(path, header, NODE_COLUMNS)
        for line, row in rows:
            _check_width(path, line, row, len(header))
            labels[_account(path, line, row, node, "nodeid")] = row[fraud].strip() == "1"
    except InputError as exc:
        raise ConfigError(exc.message) from None
    return labels


def _check_width(path: Path, line: int, row: list[str], width: int) -> None:
    if len(row) != width:
        raise InputError(
            ErrorCode.INVALID_RECORD,
            f"{path}:{line}: expected {width} columns, found {len(row)}",
        )


def _account(path: Path, line: int, row: list[str], column: int, name: str) -> int:
    text = row[column].strip() if column < len(row) else ""
    if not (text.isascii() and text.isdigit()):
        raise InputError(
            ErrorCode.INVALID_RECORD, f"{path}:{line}: field {name!r} is not an account id"
        )
    return int(text)


class _Writers:
    """One csv writer per bank folder, all closed together."""

    def __init__(self, folders: list[Path], filename: str) -> None:
        self._handles = [
            (folder / filename).open("w", encoding="utf-8", newline="") for folder in folders
        ]
        self._writers = [csv.writer(handle, lineterminator="\n") for handle in self._handles]

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.close()

    def write(self, bank: int, row: list[str]) -> None:
        self._writers[bank].writerow(row)

    def write_all(self, row: list[str]) -> None:
        for writer in self._writers:
            writer.writerow(row)
