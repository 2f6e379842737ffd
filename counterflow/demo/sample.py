"""Deterministic sample exports for the demo partners, and the source profiles that read them.

The data exists to show what the product does, so three things are on purpose:

- a shared "network" pool of about 150 indicators recurs across partners and
  sectors, and every occurrence is spelled differently (national or
  international phone formats, case, spaces, http or https, default ports):
  the tokens only meet at the hub because every node canonicalises them to
  the same value;
- a few rows per partner are malformed (an impossible timestamp, a phone
  number too short to be valid, a broken IBAN or JSON line), so quarantine has
  something to show;
- nothing is filtered to fit the agreements: ngo-safeway reports wallets and
  countries its agreement does not cover, so the hub refuses single items.

Everything follows from the seed and an anchor date, never the wall clock, so
one seed gives byte-identical files. Values are synthetic: mail and web domains
are reserved for examples (RFC 2606), IBANs carry random account numbers with
correct check digits, and phone numbers are random numbers in mobile ranges
libphonenumber accepts; one could coincide with a real line, which is why they
leave the machine only as HMAC tokens to a hub on loopback. No record
describes a victim.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from counterflow.errors import ConfigError
from counterflow.indicators import IndicatorType

PHONE = IndicatorType.PHONE
EMAIL = IndicatorType.EMAIL
IBAN = IndicatorType.IBAN
CRYPTO = IndicatorType.CRYPTO_WALLET
URL = IndicatorType.URL

# The demo federation: partner id -> sector (agreements in policies/<id>.yaml).
DEMO_PARTNERS: dict[str, str] = {
    "bank-alpha": "bank",
    "bank-beta": "bank",
    "bank-gamma": "bank",
    "ngo-harbour": "ngo",
    "ngo-lighthouse": "ngo",
    "ngo-safeway": "ngo",
    "platform-classifieds": "platform",
    "platform-social": "platform",
}
COUNTRIES = (
    "GB", "IE", "NL", "BE", "DE", "FR", "ES", "IT", "PL", "RO",
    "BG", "UA", "NG", "GH", "VN", "TH", "PH", "BR", "CO", "US",
)  # fmt: skip
HISTORY_WEEKS = 12
RECORDS = {"bank": 3000, "ngo": 2000, "platform": 3000}
# Deliberately malformed rows in every partner's file.
BAD_TIMESTAMPS = 2
BAD_PHONES = 2
BAD_IBANS = 1  # banks only: one check-digit failure
BAD_JSON_LINES = 1  # NGOs and platforms only: one truncated line
POOL_SIZES = {PHONE: 50, EMAIL: 35, IBAN: 25, CRYPTO: 15, URL: 25}
# Which indicator types each sector's export holds, in its own fields.
SECTOR_FIELDS: dict[str, dict[IndicatorType, str]] = {
    "bank": {IBAN: "counterparty_iban", PHONE: "contact_phone", EMAIL: "contact_email"},
    "ngo": {
        PHONE: "perpetrator.phone",
        EMAIL: "perpetrator.email",
        CRYPTO: "perpetrator.wallet",
        URL: "notes_url",
    },
    "platform": {PHONE: "contact.phone", EMAIL: "contact.email", URL: "url", CRYPTO: "wallet"},
}
# Chance that a background actor (counterparty, perpetrator, advertiser) has each type.
_ACTOR_MIX: dict[str, dict[IndicatorType, float]] = {
    "bank": {IBAN: 1.0, PHONE: 0.5, EMAIL: 0.45},
    "ngo": {PHONE: 0.85, EMAIL: 0.4, URL: 0.3, CRYPTO: 0.08},
    "platform": {PHONE: 0.8, EMAIL: 0.5, URL: 0.35, CRYPTO: 0.1},
}
# Record id, timestamp and country fields of each sector's export.
_RECORD_FIELDS = {
    "bank": ("txn_id", "booked_at", "counterparty_country"),
    "ngo": ("case_id", "reported_at", "country"),
    "platform": ("ad_id", "posted_at", "country"),
}
_TAGS = {"bank": ["bank-transfer"], "ngo": ["hotline-report"], "platform": ["online-ad"]}
_FILES = {"bank": "transactions.csv", "ngo": "hotline.jsonl", "platform": "ads.jsonl"}

# Where each partner's records mostly point; the first country is its home region.
_FOCUS: dict[str, tuple[str, ...]] = {
    "bank-alpha": ("GB", "RO", "PL", "IE", "BG"),
    "bank-beta": ("NL", "BE", "RO", "BG", "UA"),
    "bank-gamma": ("DE", "PL", "RO", "UA", "IT"),
    "ngo-harbour": ("GB", "NG", "VN", "RO", "IE"),
    "ngo-lighthouse": ("RO", "BG", "UA", "IT", "ES"),
    "ngo-safeway": ("GB", "IE", "NL", "BE", "FR", "NG", "VN"),
    "platform-classifieds": ("FR", "BE", "ES", "RO", "BR", "CO"),
    "platform-social": ("IE", "GB", "PH", "TH", "VN", "NG", "US"),
}
_DEFAULT_FOCUS = {"bank": ("GB", "RO", "PL"), "ngo": ("GB", "NG", "VN"), "platform": ("GB", "FR")}
_FOCUS_WEIGHTS = (8, 4, 3, 2, 2, 1, 1)
_FOCUS_SHARE = 0.85

# Mobile ranges libphonenumber 9.0 accepts in full: country code, national
# prefixes, national significant number length. US: 555-01xx, kept for fiction.
_MOBILES: dict[str, tuple[str, tuple[str, ...], int]] = {
    "GB": ("44", ("7912", "7400", "7824"), 10),
    "IE": ("353", ("85", "87", "83"), 9),
    "NL": ("31", ("61", "62", "65"), 9),
    "BE": ("32", ("470", "472", "475", "486"), 9),
    "DE": ("49", ("151", "152", "160", "170", "176"), 11),
    "FR": ("33", ("61", "62", "64", "66", "67"), 9),
    "ES": ("34", ("6",), 9),
    "IT": ("39", ("320", "333", "347"), 10),
    "PL": ("48", ("50", "51", "60", "69", "72", "78", "79", "88"), 9),
    "RO": ("40", ("72", "74", "75", "76"), 9),
    "BG": ("359", ("87", "88", "89"), 9),
    "UA": ("380", ("67", "50", "63", "93"), 9),
    "NG": ("234", ("803", "806", "813", "703"), 10),
    "GH": ("233", ("24", "54", "20", "50"), 9),
    "VN": ("84", ("90", "91", "98", "97"), 9),
    "TH": ("66", ("81", "89", "86", "61"), 9),
    "PH": ("63", ("917", "918", "927", "905"), 10),
    "BR": ("55", ("119", "219", "319"), 11),
    "CO": ("57", ("310", "311", "300", "315"), 10),
    "US": ("1", ("20255501",), 10),
}
# Regions whose national format is trunk "0" + the significant number.
_TRUNK_ZERO = frozenset({"GB", "IE", "NL", "BE", "DE", "FR", "RO", "BG", "UA"})
# Regions that dial abroad with "00" (Nigeria uses 009, the US 011).
_IDD_00 = frozenset({"GB", "IE", "NL", "BE", "DE", "FR", "ES", "IT", "PL", "RO", "BG"})

# BBAN layouts (a: letter, n: digit) with the lengths of the SWIFT IBAN registry.
_BBAN: dict[str, str] = {
    "GB": "aaaa" + "n" * 14,
    "IE": "aaaa" + "n" * 14,
    "NL": "aaaa" + "n" * 10,
    "DE": "n" * 18,
    "BE": "n" * 12,
    "FR": "n" * 23,
    "ES": "n" * 20,
    "IT": "a" + "n" * 22,
    "PL": "n" * 24,
    "RO": "aaaa" + "n" * 16,
    "BG": "aaaa" + "n" * 14,
    "UA": "n" * 25,
    "BR": "n" * 23 + "an",
}
_IBAN_COUNTRIES = tuple(c for c in COUNTRIES if c in _BBAN)
_LETTER_VALUES = str.maketrans({c: str(10 + i) for i, c in enumerate(string.ascii_uppercase)})
_CURRENCIES = {"GB": "GBP", "PL": "PLN", "RO": "RON", "BG": "BGN", "UA": "UAH", "BR": "BRL"}

# Valid mainnet test vectors: BIP-173 (P2WPKH, P2WSH), BIP-350 (taproot), and
# the Bitcoin wiki's P2PKH and P2SH examples.
_BTC_ADDRESSES = (
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
)
_MAIL_DOMAINS = (
    "example.com", "example.net", "example.org", "mail.example", "inbox.example", "post.example",
)  # fmt: skip
_NAMES = (
    "ana", "ion", "maria", "elena", "john", "grace", "lina", "minh", "thu", "olga",
    "piotr", "kasia", "ade", "kofi", "sam", "nina", "luca", "sofia", "andrei", "chidi",
)  # fmt: skip
_SURNAMES = (
    "popescu", "ionescu", "nowak", "kowalski", "smith", "murphy", "nguyen", "tran", "okafor",
    "mensah", "silva", "garcia", "rossi", "petrov", "shevchenko", "dimitrov", "jansen", "peeters",
)  # fmt: skip
_WORDS = (
    "jobs", "work", "travel", "visa", "agency", "model", "care", "staff", "euro", "abroad",
    "nanny", "hotel", "farm", "clean", "dream", "star", "golden", "quick", "safe", "bright",
)  # fmt: skip
_MEMOS = (
    "rent", "invoice", "transfer", "deposit", "travel costs", "accommodation", "visa fee",
    "recruitment fee", "salary advance", "loan repayment", "services", "",
)  # fmt: skip
_BAD_STAMPS = ("2026-02-30T09:15:00Z", "31/12/2026 25:61", "yesterday")


@dataclass(frozen=True, slots=True)
class SharedIndicator:
    """One indicator of the shared network pool, in its plain form.

    `value` is E.164 for phones, lower case for e-mail and wallets, the
    electronic form for IBANs and host+path for URLs; `region` is the phone's
    or IBAN's country ("" otherwise).
    """

    kind: IndicatorType
    value: str
    region: str
    # Chance that a partner whose export can hold this type sees it.
    reach: float

    def spellings(self, home_region: str) -> tuple[str, ...]:
        """The ways a partner in `home_region` writes it; all canonicalise alike."""
        if self.kind is PHONE:
            cc = _MOBILES[self.region][0]
            return phone_spellings(self.region, self.value.removeprefix("+" + cc), home_region)
        return _SPELLERS[self.kind](self.value)


@dataclass(slots=True)
class _Row:
    moment: datetime
    country: str
    values: dict[IndicatorType, str]
    label: str = ""
    # Set on the deliberately malformed rows.
    bad_stamp: str | None = None
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class _Plan:
    partner_id: str
    sector: str
    focus: tuple[str, ...]
    code: str
    universe: tuple[str, ...] = field(default=COUNTRIES)

    @property
    def home(self) -> str:
        return self.focus[0]

    def country(self, rng: random.Random) -> str:
        if rng.random() < _FOCUS_SHARE:
            return rng.choices(self.focus, weights=_FOCUS_WEIGHTS[: len(self.focus)])[0]
        return rng.choice(self.universe)


def write_partner_data(
    partner_id: str, sector: str, out_dir: Path, seed: int, anchor: date
) -> tuple[Path, Path]:
    """Write a partner's export and its source profile into out_dir; returns both paths.

    Records fall in the HISTORY_WEEKS weeks before `anchor` (the runner passes
    this ISO week's Monday, so no record lies in the future).
    """
    plan = _plan(partner_id, sector)
    rng = random.Random(f"counterflow-demo:{seed}:{partner_id}")
    rows = _background_rows(rng, plan, datetime.combine(anchor, time(), tzinfo=UTC))
    touched = _place_shared(rng, rows, plan, _pool_seen(seed, plan))
    _spoil(rng, rows, touched, plan)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_file = out_dir / _FILES[sector]
    text = _bank_csv(rng, rows, plan) if sector == "bank" else _jsonl(rows, plan)
    data_file.write_text(text, encoding="utf-8", newline="")
    profile_file = out_dir / (data_file.name.split(".")[0] + ".profile.yaml")
    profile_file.write_text(_profile_yaml(plan), encoding="utf-8", newline="")
    return data_file, profile_file


def home_region(partner_id: str, sector: str) -> str:
    """The partner's default phone region, as its profile states it."""
    return _plan(partner_id, sector).home


def shared_pool(seed: int) -> tuple[SharedIndicator, ...]:
    """The network pool for a seed; the same for every partner."""
    rng = random.Random(f"counterflow-demo:{seed}:pool")
    makers = {PHONE: _pool_phone, EMAIL: _pool_email, IBAN: _pool_iban, CRYPTO: _pool_wallet}
    makers[URL] = _pool_url
    pool: list[SharedIndicator] = []
    for kind, size in POOL_SIZES.items():
        seen: set[str] = set()
        while len(seen) < size:
            value, region = makers[kind](rng, len(seen))
            if value not in seen:
                seen.add(value)
                pool.append(SharedIndicator(kind, value, region, round(rng.uniform(0.3, 0.7), 3)))
    return tuple(pool)


# --- spellings -----------------------------------------------------------------


def phone_spellings(region: str, national: str, home_region: str) -> tuple[str, ...]:
    """International forms everywhere; national ones only in the number's own region."""
    cc = _MOBILES[region][0]
    head, tail = national[:-6], national[-6:]
    forms = [f"+{cc} {head} {tail}", f"+{cc}{national}", f"+{cc}-{head}-{tail[:3]}-{tail[3:]}"]
    if home_region in _IDD_00:
        forms.append(f"00{cc}-{head}-{tail[:3]}-{tail[3:]}")
    if region in _TRUNK_ZERO:
        forms.append(f"+{cc} (0) {head} {tail}")
        if region == home_region:
            forms += [f"0{head} {tail}", f"(0{head}) {tail[:3]} {tail[3:]}"]
    return tuple(forms)


def _email_spellings(address: str) -> tuple[str, ...]:
    local, domain = address.split("@")
    return (
        address,
        f"{local.title()}@{domain.capitalize()}",
        address.upper(),
        f"  {address} ",
        f"{local}@{domain.upper()}",
    )


def _iban_spellings(iban: str) -> tuple[str, ...]:
    paper = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return (iban, paper, iban.lower(), paper.lower(), f"IBAN {paper}")


def _url_spellings(plain: str) -> tuple[str, ...]:
    host, _, rest = plain.partition("/")
    if not rest:
        return (f"https://{host}", f"https://{host}/", f"http://{host.upper()}/", host)
    path = "/" + rest
    return (
        f"https://{host}{path}",
        f"http://{host}{path}",
        f"HTTPS://{host.upper()}{path}",
        f"https://{host}:443{path}",
        f"{host}{path}",
        f"http://{host}:80{path}#contact",
    )


def _wallet_spellings(address: str) -> tuple[str, ...]:
    if address.startswith("0x"):
        return (address, f"eth:{address}", "0x" + address[2:].upper(), f" ethereum:{address}")
    if address.startswith("bc1"):
        return (address, address.upper(), f"bitcoin:{address}", f"btc:{address.upper()}")
    return (address, f"bitcoin:{address}", f"btc:{address}", f"  {address} ")


_SPELLERS = {EMAIL: _email_spellings, IBAN: _iban_spellings, URL: _url_spellings}
_SPELLERS[CRYPTO] = _wallet_spellings


# --- values --------------------------------------------------------------------


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choices(string.digits, k=count))


def _mobile(rng: random.Random, region: str) -> str:
    """A national significant number in one of the region's mobile ranges."""
    _, prefixes, length = _MOBILES[region]
    prefix = rng.choice(prefixes)
    return prefix + _digits(rng, length - len(prefix))


def iban_with_check_digits(country: str, bban: str) -> str:
    """ISO 13616: the check digits make the rearranged number 1 mod 97."""
    remainder = int((bban + country + "00").translate(_LETTER_VALUES)) % 97
    return f"{country}{98 - remainder:02d}{bban}"


def _iban(rng: random.Random, country: str) -> str:
    bban = "".join(
        rng.choice(string.ascii_uppercase) if c == "a" else rng.choice(string.digits)
        for c in _BBAN[country]
    )
    return iban_with_check_digits(country, bban)


def _email(rng: random.Random) -> str:
    name, word = rng.choice(_NAMES), rng.choice(_WORDS)
    local = rng.choice((f"{name}.{word}", f"{word}_{name}", f"{name}{word}"))
    return f"{local}{rng.randrange(1, 1000)}@{rng.choice(_MAIL_DOMAINS)}"


def _url(rng: random.Random) -> str:
    host = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}{rng.randrange(1, 100)}.example"
    if rng.random() < 0.2:
        return host
    path = rng.choice(("/apply/", "/offer/", "/u/", "/p/"))
    return host + path + format(rng.getrandbits(24), "06x")


def _eth(rng: random.Random) -> str:
    return "0x" + format(rng.getrandbits(160), "040x")


def _pool_phone(rng: random.Random, _: int) -> tuple[str, str]:
    weights = [3 if c in ("GB", "NL", "DE", "RO", "FR", "IE") else 1 for c in COUNTRIES]
    region = rng.choices(COUNTRIES, weights=weights)[0]
    return f"+{_MOBILES[region][0]}{_mobile(rng, region)}", region


def _pool_email(rng: random.Random, _: int) -> tuple[str, str]:
    return _email(rng), ""


def _pool_iban(rng: random.Random, _: int) -> tuple[str, str]:
    country = rng.choice(_IBAN_COUNTRIES)
    return _iban(rng, country), country


def _pool_wallet(rng: random.Random, index: int) -> tuple[str, str]:
    if index < len(_BTC_ADDRESSES):
        return _BTC_ADDRESSES[index], ""
    return _eth(rng), ""


def _pool_url(rng: random.Random, _: int) -> tuple[str, str]:
    return _url(rng), ""


# --- rows ----------------------------------------------------------------------


def _plan(partner_id: str, sector: str) -> _Plan:
    if sector not in SECTOR_FIELDS:
        known = ", ".join(SECTOR_FIELDS)
        raise ConfigError(f"unknown sector {sector!r} for {partner_id} (known: {known})")
    focus = _FOCUS.get(partner_id, _DEFAULT_FOCUS[sector])
    code = partner_id.rsplit("-", 1)[-1].upper()[:8]
    universe = _IBAN_COUNTRIES if sector == "bank" else COUNTRIES
    if sector == "bank":
        focus = tuple(c for c in focus if c in _BBAN) or ("GB",)
    return _Plan(partner_id, sector, focus, code, universe)


def _actor(rng: random.Random, plan: _Plan) -> _Row:
    """A background counterparty, perpetrator or advertiser, as a template row."""
    country = plan.country(rng)
    values: dict[IndicatorType, str] = {}
    for kind, chance in _ACTOR_MIX[plan.sector].items():
        if rng.random() < chance:
            values[kind] = _background_value(rng, kind, country, plan.home)
    if not values:
        values[PHONE] = _background_value(rng, PHONE, country, plan.home)
    label = f"{rng.choice(_NAMES).title()} {rng.choice(_SURNAMES).title()}"
    return _Row(datetime.min, country, values, label)


def _background_value(rng: random.Random, kind: IndicatorType, country: str, home: str) -> str:
    if kind is PHONE:
        region = country if rng.random() < 0.7 else home
        return rng.choice(phone_spellings(region, _mobile(rng, region), home))
    if kind is IBAN:
        return rng.choice(_iban_spellings(_iban(rng, country))[:2])
    if kind is EMAIL:
        return rng.choice(_email_spellings(_email(rng))[:2])
    if kind is URL:
        return rng.choice(_url_spellings(_url(rng))[:2])
    return _eth(rng)


def _background_rows(rng: random.Random, plan: _Plan, anchor: datetime) -> list[_Row]:
    """Rows from a few hundred recurring actors, skewed so some recur often; sorted by time."""
    count = RECORDS[plan.sector]
    actors = [_actor(rng, plan) for _ in range(count // 3)]
    weights = list(itertools.accumulate(1 / (i + 1) ** 0.7 for i in range(len(actors))))
    span = HISTORY_WEEKS * 7 * 86400
    rows = []
    for _ in range(count):
        actor = rng.choices(actors, cum_weights=weights)[0]
        values = {k: v for k, v in actor.values.items() if k is IBAN or rng.random() < 0.8}
        moment = anchor - timedelta(seconds=rng.randrange(1, span))
        rows.append(_Row(moment, actor.country, values or dict(actor.values), actor.label))
    rows.sort(key=lambda row: row.moment)
    return rows


def _pool_seen(seed: int, plan: _Plan) -> list[SharedIndicator]:
    """The pool entries this partner meets: one draw per entry, whatever its type."""
    rng = random.Random(f"counterflow-demo:{seed}:{plan.partner_id}:pool")
    kinds = SECTOR_FIELDS[plan.sector]
    return [e for e in shared_pool(seed) if rng.random() < e.reach and e.kind in kinds]


def _place_shared(
    rng: random.Random, rows: list[_Row], plan: _Plan, seen: list[SharedIndicator]
) -> set[int]:
    """Put each seen pool entry into 2-5 rows, each time spelled another way.

    Rows are picked with a bias towards recent weeks, so the network's activity
    rises over the period, as a trend worth a signal would.
    """
    touched: set[int] = set()
    for entry in seen:
        forms = entry.spellings(plan.home)
        start = rng.randrange(len(forms))
        for offset in range(rng.randint(2, min(5, len(forms)))):
            index = min(len(rows) - 1, int(len(rows) * (1 - rng.random() ** 2)))
            rows[index].values[entry.kind] = forms[(start + offset) % len(forms)]
            if entry.kind is IBAN:
                rows[index].country = entry.region
            touched.add(index)
    return touched


def _spoil(rng: random.Random, rows: list[_Row], touched: set[int], plan: _Plan) -> None:
    """Malform a few rows the pool left alone, so each problem is counted exactly."""
    extra = BAD_IBANS if plan.sector == "bank" else BAD_JSON_LINES
    free = [i for i in range(len(rows)) if i not in touched]
    picks = rng.sample(free, BAD_TIMESTAMPS + BAD_PHONES + extra)
    for index in picks[:BAD_TIMESTAMPS]:
        rows[index].bad_stamp = rng.choice(_BAD_STAMPS)
    cc = _MOBILES[plan.home][0]
    for index in picks[BAD_TIMESTAMPS : BAD_TIMESTAMPS + BAD_PHONES]:
        rows[index].values[PHONE] = f"+{cc} {_mobile(rng, plan.home)[:-4]}"
    for index in picks[BAD_TIMESTAMPS + BAD_PHONES :]:
        if plan.sector == "bank":
            rows[index].values[IBAN] = _break_iban(rows[index].values[IBAN])
        else:
            rows[index].truncated = True


def _break_iban(spelling: str) -> str:
    """Change the last digit: mod-97 catches every single-digit substitution."""
    position = max(i for i, c in enumerate(spelling) if c.isdigit())
    digit = str((int(spelling[position]) + 1) % 10)
    return spelling[:position] + digit + spelling[position + 1 :]


# --- files ---------------------------------------------------------------------

_BANK_COLUMNS = (
    "txn_id", "booked_at", "account", "counterparty_iban", "counterparty_name", "amount",
    "currency", "counterparty_country", "memo", "contact_phone", "contact_email",
)  # fmt: skip


def _bank_csv(rng: random.Random, rows: list[_Row], plan: _Plan) -> str:
    accounts = [f"{plan.code[:2]}{rng.randrange(10**7, 10**8)}" for _ in range(400)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_BANK_COLUMNS)
    for number, row in enumerate(rows, start=1):
        writer.writerow(
            (
                f"{plan.code}-{number:07d}",
                row.bad_stamp or row.moment.isoformat(),
                rng.choice(accounts),
                row.values.get(IBAN, ""),
                row.label,
                f"{rng.lognormvariate(5.5, 1.0):.2f}",
                _CURRENCIES.get(row.country, "EUR"),
                row.country,
                rng.choice(_MEMOS),
                row.values.get(PHONE, ""),
                row.values.get(EMAIL, ""),
            )
        )
    return out.getvalue()


def _jsonl(rows: list[_Row], plan: _Plan) -> str:
    lines = []
    for number, row in enumerate(rows, start=1):
        line = json.dumps(_json_record(number, row, plan))
        lines.append(line[: len(line) // 2] if row.truncated else line)
    return "\n".join(lines) + "\n"


def _json_record(number: int, row: _Row, plan: _Plan) -> dict[str, Any]:
    ident, stamp, country = _RECORD_FIELDS[plan.sector]
    record: dict[str, Any] = {
        ident: f"{plan.code}-{number:06d}",
        stamp: row.bad_stamp or row.moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        country: row.country,
    }
    for kind, dotted in SECTOR_FIELDS[plan.sector].items():
        head, _, tail = dotted.partition(".")
        value = row.values.get(kind)
        if tail:
            nested = record.setdefault(head, {})
            if value is not None:
                nested[tail] = value
        elif value is not None:
            record[head] = value
    return record


def _profile_yaml(plan: _Plan) -> str:
    key, stamp, country = _RECORD_FIELDS[plan.sector]
    profile = {
        "schema_version": 1,
        "name": f"{plan.partner_id}-{_FILES[plan.sector].split('.')[0]}",
        "reader": "csv" if plan.sector == "bank" else "jsonl",
        "options": {"encoding": "utf-8"},
        "record_id": key,
        "timestamp": {"field": stamp, "format": "iso"},
        "country": {"field": country, "default": plan.home},
        "phone_region": plan.home,
        "indicators": [
            {"field": dotted, "type": kind.value}
            for kind, dotted in SECTOR_FIELDS[plan.sector].items()
        ],
        "tags": _TAGS[plan.sector],
    }
    header = (
        f"# Source profile for {plan.partner_id}'s sample export, written by `counterflow demo`.\n"
        "# Format: docs/source-profiles.md\n"
    )
    return header + yaml.safe_dump(profile, sort_keys=False)
