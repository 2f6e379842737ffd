"""How close the node's canonicalise-and-tokenise path comes to bare HMAC.

Builds N realistic indicator values (phones repeated the way partner exports
repeat them, emails, IBANs and URLs in the forms people write them; fixed seed),
then measures:

1. baseline: a pre-keyed ``cryptography`` HMAC-SHA256, ``.copy()``-ed per value,
   over the same number of byte strings;
2. the node's path: ``Canonicaliser.canonical`` then ``Tokeniser.token``.

It prints both rates, their ratio, the quarantine count per reason and a
per-type breakdown. It never prints a value, a token or the key. Progress goes
to stderr. Run: ``python bench/bench_node_tokenise.py --n 200000``.
"""

from __future__ import annotations

import argparse
import gc
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import hashes, hmac

from counterflow.indicators import IndicatorType
from counterflow.tokens import Tokeniser
from node.canonical import CanonicalError, Canonicaliser
from node.canonical import phone as phone_rules
from node.canonical.iban import IBAN_LENGTHS

Value = tuple[IndicatorType, str]
CHUNK = 100_000
# Share of each type in a partner export: phones dominate, as in case records.
MIX = (
    (IndicatorType.PHONE, 0.55),
    (IndicatorType.EMAIL, 0.20),
    (IndicatorType.IBAN, 0.15),
    (IndicatorType.URL, 0.10),
)
_FIRST = ["ann", "ben", "chidi", "dana", "emeka", "fatima", "grace", "hugo", "ines", "jon"]
_LAST = ["smith", "okafor", "garcia", "nowak", "rossi", "mensah", "dubois", "khan", "li"]
_DOMAINS = ["example.com", "example.org", "mail.example.net", "bücher.example", "example.co.uk"]
_PHONE_FORMATS = ["0{p} {s}", "+44 {p} {s}", "0044{p}{s}", "(0{p}) {a}-{b}", "+44 (0){p} {a} {b}"]
_WORDS = ["jobs", "travel", "models", "work", "visa", "agency", "casting", "care", "nanny"]


def _phone_pool(rng: random.Random, size: int) -> list[str]:
    """Distinct UK numbers, each in the one format its source record used."""
    pool = []
    for _ in range(size):
        prefix = rng.choice(["74", "75", "77", "78", "79"]) + f"{rng.randrange(100):02d}"
        if rng.random() < 0.02:  # Ofcom's drama range: parses, then fails validation
            prefix = "7700"
        subscriber = f"{rng.randrange(1_000_000):06d}"
        if prefix == "7700":
            subscriber = "900" + subscriber[3:]
        pool.append(
            rng.choice(_PHONE_FORMATS).format(
                p=prefix, s=subscriber, a=subscriber[:3], b=subscriber[3:]
            )
        )
    return pool


def _email(rng: random.Random) -> str:
    local = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randrange(1000)}"
    address = f"{local}@{rng.choice(_DOMAINS)}"
    return (
        address.upper()
        if rng.random() < 0.1
        else address.title()
        if rng.random() < 0.2
        else address
    )


def _iban(rng: random.Random) -> str:
    country = rng.choice(["GB", "DE", "NL", "FR", "ES", "IT", "BE", "PL"])
    length = IBAN_LENGTHS[country] - 4
    bban = "".join(rng.choice("0123456789") for _ in range(length))
    if country in ("GB", "NL"):
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + bban[4:]
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(digits) % 97:02d}{bban}"
    if rng.random() < 0.5:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban.lower() if rng.random() < 0.1 else iban


def _url(rng: random.Random) -> str:
    host = f"{rng.choice(_WORDS)}{rng.randrange(5000)}.example"
    if rng.random() < 0.3:
        host = "www." + host
    scheme = rng.choice(["http://", "https://", "HTTPS://", ""])
    path = "/".join(rng.choice(_WORDS) for _ in range(rng.randrange(3)))
    query = f"?id={rng.randrange(10**6)}&utm_source=ad" if rng.random() < 0.5 else ""
    fragment = "#apply" if rng.random() < 0.1 else ""
    return f"{scheme}{host}/{path}{query}{fragment}"


def build_values(n: int, seed: int, distinct_phones: int) -> list[Value]:
    rng = random.Random(seed)
    pool = _phone_pool(rng, distinct_phones)
    makers: dict[IndicatorType, Callable[[], str]] = {
        # Skewed re-use: a few numbers appear in many records, most in few.
        IndicatorType.PHONE: lambda: pool[int(len(pool) * rng.random() ** 2)],
        IndicatorType.EMAIL: lambda: _email(rng),
        IndicatorType.IBAN: lambda: _iban(rng),
        IndicatorType.URL: lambda: _url(rng),
    }
    types = rng.choices([t for t, _ in MIX], weights=[w for _, w in MIX], k=n)
    values: list[Value] = []
    for start in range(0, n, CHUNK):
        values.extend((t, makers[t]()) for t in types[start : start + CHUNK])
        _progress("building values", min(start + CHUNK, n), n)
    return values


def measure_hmac_baseline(payloads: Sequence[bytes], key: bytes) -> float:
    base = hmac.HMAC(key, hashes.SHA256())
    started = time.perf_counter()
    for start in range(0, len(payloads), CHUNK):
        for payload in payloads[start : start + CHUNK]:
            mac = base.copy()
            mac.update(payload)
            mac.finalize()
        _progress("baseline HMAC", min(start + CHUNK, len(payloads)), len(payloads))
    return time.perf_counter() - started


def measure_pipeline(
    values: Sequence[Value], canonicaliser: Canonicaliser, tokeniser: Tokeniser, label: str
) -> tuple[float, Counter[str]]:
    refused: Counter[str] = Counter()
    started = time.perf_counter()
    for start in range(0, len(values), CHUNK):
        for indicator_type, raw in values[start : start + CHUNK]:
            try:
                tokeniser.token(indicator_type, canonicaliser.canonical(indicator_type, raw))
            except CanonicalError as error:
                refused[error.reason] += 1
        _progress(label, min(start + CHUNK, len(values)), len(values))
    return time.perf_counter() - started, refused


def _progress(stage: str, done: int, total: int) -> None:
    if total >= 2 * CHUNK:
        print(f"  {stage}: {done:,}/{total:,}", file=sys.stderr, flush=True)


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}/s" if seconds > 0 else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1_000_000, help="values to process")
    parser.add_argument("--seed", type=int, default=20261122, help="seed for the values")
    parser.add_argument(
        "--distinct-phones",
        type=int,
        default=60_000,
        help="distinct phone numbers behind the phone values",
    )
    parser.add_argument("--region", default="GB", help="the partner's default phone region")
    args = parser.parse_args(argv)
    if args.n < 1 or args.distinct_phones < 1:
        parser.error("--n and --distinct-phones must be positive")

    values = build_values(args.n, args.seed, args.distinct_phones)
    payloads = [raw.encode() for _, raw in values]
    key = secrets.token_bytes(32)  # throwaway: rates do not depend on the key
    canonicaliser = Canonicaliser(args.region)
    tokeniser = Tokeniser(key, epoch=1)

    gc.collect()
    baseline = measure_hmac_baseline(payloads, key)
    phone_rules.clear_cache()
    gc.collect()
    pipeline, refused = measure_pipeline(values, canonicaliser, tokeniser, "canonicalise+tokenise")
    cache = phone_rules.cache_info()

    print(f"values: {args.n:,} (seed {args.seed}, {args.distinct_phones:,} distinct phones)")
    print(
        f"baseline  HMAC-SHA256 pre-keyed .copy():  {_rate(args.n, baseline)}  ({baseline:.2f} s)"
    )
    print(
        f"node path canonicalise + tokenise:        {_rate(args.n, pipeline)}  ({pipeline:.2f} s)"
    )
    print(f"ratio node path time / baseline time:     {pipeline / baseline:>12.2f}x")
    hit_rate = cache.hits / max(1, cache.hits + cache.misses)
    print(f"phone parse cache: {hit_rate:.1%} hits, {cache.currsize:,} entries")
    print(
        f"quarantined: {sum(refused.values()):,} "
        + " ".join(f"{k}={v:,}" for k, v in sorted(refused.items()))
    )
    _per_type(values, canonicaliser, tokeniser)
    return 0


def _per_type(values: Sequence[Value], canonicaliser: Canonicaliser, tokeniser: Tokeniser) -> None:
    print("per type (phone cache cleared first):")
    for indicator_type, _ in MIX:
        subset = [v for v in values if v[0] is indicator_type]
        if not subset:
            continue
        phone_rules.clear_cache()
        seconds, _ = measure_pipeline(subset, canonicaliser, tokeniser, indicator_type.value)
        print(
            f"  {indicator_type.value:<6} {len(subset):>10,} values  {_rate(len(subset), seconds)}"
        )


if __name__ == "__main__":
    sys.exit(main())
