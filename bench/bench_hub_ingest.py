"""The hub's ingest path against two baselines measured in the same run.

Over the same mTLS channel and the same pre-serialised batches (1,000 items each):

(a) a do-nothing streaming handler (parses each batch, answers it): the ceiling
    that gRPC + protobuf put on any hub written in Python;
(b) raw sqlite3 ``executemany`` of the same rows into a SQLite file with the
    hub's own ``reports`` table, no server, 1,000 rows per transaction;
(c) the hub itself (``hub.server.build_server``): authentication, agreement,
    validation, atomic store, idempotency record, per-cell counts.

Target: (c) >= 0.5 x (b). Each server runs in its own process (fork) so the
client never competes with it for the GIL; each figure is the best of --rounds.
Run: ``python bench/bench_hub_ingest.py --items 200000``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import multiprocessing as mp
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import yaml
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateTable

from counterflow.indicators import IndicatorType
from counterflow.tls import TlsFiles, channel_credentials, server_credentials
from counterflow.v1 import submission_pb2 as pb
from hub.pki.authority import CertificateAuthority
from hub.policy.registry import PolicyRegistry
from hub.server import build_server
from hub.services.clock import fixed_clock
from hub.settings import HubSettings, HubTls
from hub.storage.engine import open_storage
from hub.storage.schema import REPORT_COLUMNS, reports

NOW = dt.datetime(2026, 11, 18, 12, tzinfo=dt.UTC)
METHOD = "/counterflow.v1.Submission/SubmitBatches"
COUNTRIES = ("GB", "NL", "NG", "RO", "DE", "FR", "ES", "IT")
WEEKS = tuple(f"2026-W{w:02d}" for w in range(36, 48))
TAGS = ("bank-transfer", "money-mule", "funnel-account", "escort-ad")


def make_batches(items: int, per_batch: int, seed: int) -> list[bytes]:
    """Batches shaped like a partner's export: read in time order, so a batch spans
    one or two ISO weeks; mostly the partner's home country; one static source tag
    plus a rule tag on some items. Tokens and group ids are random (worst case for
    any index)."""
    rng = random.Random(seed)
    types = (
        [IndicatorType.PHONE.wire] * 5
        + [IndicatorType.EMAIL.wire] * 2
        + [IndicatorType.IBAN.wire] * 2
        + [IndicatorType.URL.wire]
    )
    countries = ["GB"] * 7 + list(COUNTRIES[1:4])
    out = []
    for b in range(0, items, per_batch):
        number = b // per_batch
        request = pb.SubmitBatchRequest(batch_id=f"bench-{seed}-{number:06d}")
        for i in range(min(per_batch, items - b)):
            week = WEEKS[(number + (i * 2 >= per_batch)) % len(WEEKS)]
            extra = [rng.choice(TAGS[1:])] if rng.random() < 0.3 else []
            request.items.add(
                index=i,
                scheme_version=1,
                key_epoch=1,
                token=rng.randbytes(32),
                indicator_type=rng.choice(types),
                group_id=rng.randbytes(16),
                country=rng.choice(countries),
                week=week,
                typology_tags=[TAGS[0], *extra],
            )
        out.append(request.SerializeToString(deterministic=True))
    return out


def make_pki(root: Path) -> tuple[TlsFiles, TlsFiles]:
    authority = CertificateAuthority.init(root / "ca", b"bench passphrase only")
    cert, key = authority.issue_hub(["localhost"], root / "hub")
    ca = authority.copy_ca_certificate(root / "hub")
    pcert, pkey = authority.issue_partner("bench-bank", root / "partner")
    return TlsFiles(cert, key, ca), TlsFiles(pcert, pkey, ca)


# -- servers, each in its own process ---------------------------------------------------


def _serve_nothing(hub_tls: TlsFiles, ready: Any, stop: Any) -> None:
    def handler(requests: Iterator[pb.SubmitBatchRequest], context: Any) -> Iterator[Any]:
        for request in requests:
            yield pb.SubmitBatchResponse(batch_id=request.batch_id, accepted=len(request.items))

    server = grpc.server(
        futures.ThreadPoolExecutor(4), options=[("grpc.max_receive_message_length", 8 << 20)]
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "counterflow.v1.Submission",
                {
                    "SubmitBatches": grpc.stream_stream_rpc_method_handler(
                        handler,
                        request_deserializer=pb.SubmitBatchRequest.FromString,
                        response_serializer=pb.SubmitBatchResponse.SerializeToString,
                    )
                },
            )
        ]
    )
    port = server.add_secure_port("127.0.0.1:0", server_credentials(hub_tls))
    server.start()
    ready.put(port)
    stop.wait()
    server.stop(None)


def _serve_hub(hub_tls: TlsFiles, root: Path, ready: Any, stop: Any) -> None:
    settings = HubSettings(
        listen="127.0.0.1:0",
        database_url=f"sqlite:///{root / 'hub.db'}",
        policies_dir=root / "policies",
        tls=HubTls(cert=hub_tls.cert, key=hub_tls.key, ca=hub_tls.ca, crl=None),
    )
    hub = build_server(
        settings,
        storage=open_storage(settings.database_url),
        registry=PolicyRegistry(settings.policies_dir),
        clock=fixed_clock(NOW),
    )
    hub.server.start()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    ready.put(hub.port)
    stop.wait()
    hub.stop(None)


def _run_server(target: Callable[..., None], *args: Any) -> tuple[Any, Any, int]:
    ctx = mp.get_context("fork")
    ready, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=target, args=(*args, ready, stop), daemon=True)
    process.start()
    return process, stop, int(ready.get(timeout=60))


def push(port: int, partner: TlsFiles, batches: list[bytes]) -> float:
    """Items/s for one stream of every batch, from first send to last answer."""
    channel = grpc.secure_channel(
        f"127.0.0.1:{port}",
        channel_credentials(partner),
        options=[
            ("grpc.ssl_target_name_override", "localhost"),
            ("grpc.max_send_message_length", 8 << 20),
        ],
    )
    call = channel.stream_stream(
        METHOD,
        request_serializer=lambda b: b,
        response_deserializer=pb.SubmitBatchResponse.FromString,
    )
    started = time.perf_counter()
    accepted = sum(r.accepted for r in call(iter(batches), timeout=600))
    elapsed = time.perf_counter() - started
    channel.close()
    return accepted / elapsed


def raw_executemany(root: Path, batches: list[bytes]) -> float:
    """The same rows the hub would write, straight into SQLite, 1,000 per transaction."""
    path = root / f"raw-{time.monotonic_ns()}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    # The hub's own durability settings, so (b) and (c) pay for the same fsyncs.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(str(CreateTable(reports).compile(dialect=sqlite_dialect.dialect())))
    sql = f"INSERT INTO reports ({', '.join(REPORT_COLUMNS)}) VALUES ({', '.join('?' * len(REPORT_COLUMNS))})"
    received = NOW.isoformat()
    row_sets = []
    for raw in batches:
        request = pb.SubmitBatchRequest.FromString(raw)
        row_sets.append(
            [
                (
                    "bench-bank",
                    request.batch_id,
                    it.index,
                    it.token,
                    it.scheme_version,
                    it.key_epoch,
                    it.indicator_type,
                    it.group_id,
                    it.country,
                    it.week,
                    None,
                    ",".join(it.typology_tags),
                    "bank",
                    received,
                )
                for it in request.items
            ]
        )
    started = time.perf_counter()
    for rows in row_sets:
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return sum(len(r) for r in row_sets) / elapsed


def write_policy(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bench-bank.yaml").write_text(
        yaml.safe_dump(
            {
                "schema_version": 1,
                "partner_id": "bench-bank",
                "organisation": "Bench",
                "sector": "bank",
                "agreement_id": "CF-BENCH-1",
                "version": 1,
                "status": "active",
                "valid_from": "2026-01-01",
                "valid_until": "2027-12-31",
                "purposes": ["trend_analysis"],
                "submit": {
                    "indicator_types": ["phone", "email", "iban", "crypto", "url"],
                    "countries": ["*"],
                },
                "retention_days": 365,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as tmp:
        root = Path(tmp)
        hub_tls, partner = make_pki(root)
        write_policy(root / "policies")
        figures: dict[str, list[float]] = {"a": [], "b": [], "c": []}
        nothing, nothing_stop, nothing_port = _run_server(_serve_nothing, hub_tls)
        for rnd in range(ns.rounds):
            print(f"round {rnd + 1}/{ns.rounds}: building {ns.items} items", file=sys.stderr)
            batches = make_batches(ns.items, ns.batch, seed=rnd)
            figures["a"].append(push(nothing_port, partner, batches))
            figures["b"].append(raw_executemany(root, batches))
            hub_root = root / f"hub-{rnd}"
            hub_root.mkdir()
            (hub_root / "policies").symlink_to(root / "policies")
            proc, stop, port = _run_server(_serve_hub, hub_tls, hub_root)
            figures["c"].append(push(port, partner, batches))
            stop.set()
            proc.join(30)
            print(
                f"  a={figures['a'][-1]:,.0f}/s b={figures['b'][-1]:,.0f}/s c={figures['c'][-1]:,.0f}/s",
                file=sys.stderr,
            )
        nothing_stop.set()
        nothing.join(30)
    best = {k: max(v) for k, v in figures.items()}
    median = {k: statistics.median(v) for k, v in figures.items()}
    print(f"hub ingest, {ns.items:,} items in batches of {ns.batch}, best of {ns.rounds} (median):")
    print(
        f"  (a) do-nothing streaming handler over mTLS : {best['a']:>10,.0f} items/s ({median['a']:,.0f})"
    )
    print(
        f"  (b) raw sqlite3 executemany, no server      : {best['b']:>10,.0f} items/s ({median['b']:,.0f})"
    )
    print(
        f"  (c) the hub, with per-cell counts           : {best['c']:>10,.0f} items/s ({median['c']:,.0f})"
    )
    ratio = best["c"] / best["b"]
    per_round = [c / b for b, c in zip(figures["b"], figures["c"], strict=True)]
    print(
        f"  (c)/(b) = {ratio:.2f} best, {median['c'] / median['b']:.2f} median, per round "
        + " ".join(f"{r:.2f}" for r in per_round)
    )
    print(f"  target (c)/(b) >= 0.50: {'met' if ratio >= 0.5 else 'NOT met'}")
    print(f"  (c)/(a) = {best['c'] / best['a']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
