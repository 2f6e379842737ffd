"""Run a whole federation on one machine through the real `counterflow` CLI.

Every step is the command a hub operator or a partner would type, run as its
own process with `sys.executable -m counterflow.cli` (so it works inside a
virtualenv without PATH), over real mTLS gRPC into real SQLite files. Nothing
here imports `hub` or `node`: a demo that called their functions directly
could pass while the product it advertises was broken.

The operator's commands see only the CA passphrase and the partners' only the
export passphrase, as on separate machines; nothing else separates them here,
and the output says so.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from counterflow.demo.sample import DEMO_PARTNERS, write_partner_data

# Names of the variables that carry the passphrases, not the passphrases.
CA_PASSPHRASE_ENV = "COUNTERFLOW_DEMO_CA_PASSPHRASE"  # noqa: S105
KEY_PASSPHRASE_ENV = "COUNTERFLOW_DEMO_KEY_PASSPHRASE"  # noqa: S105
# The partner that creates the consortium key and hands it to the others.
KEY_HOLDER = "bank-alpha"
HUB_NAMES = ("localhost", "127.0.0.1")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
STEP_TIMEOUT = 300.0
# Each command spends about 2 s of CPU starting up; two at a time keep two cores busy.
WORKERS = 2
LOG_TAIL_LINES = 30
STEPS = 10


class DemoError(Exception):
    """A step failed; the message says which and why, with the command's stderr."""


@dataclass(frozen=True)
class Layout:
    """Where every party keeps its files under the demo's work directory."""

    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca"

    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def hub_tls(self) -> Path:
        return self.hub / "tls"

    @property
    def hub_config(self) -> Path:
        return self.hub / "hub.toml"

    @property
    def exchange(self) -> Path:
        """What travels between parties: signed certificates, the key export."""
        return self.root / "exchange"

    def node(self, partner_id: str) -> Path:
        return self.root / "nodes" / partner_id


class Cli:
    """Runs `counterflow ...` in a fresh process and returns what a user would see."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)

    def run(self, *args: str | Path) -> str:
        """The echoed command and its stdout; DemoError with its stderr if it fails."""
        echo = "$ counterflow " + " ".join(shlex.quote(_shown(a)) for a in args)
        argv = [sys.executable, "-m", "counterflow.cli", *(str(a) for a in args)]
        try:
            done = subprocess.run(
                argv, env=self._env, capture_output=True, text=True, check=True,
                timeout=STEP_TIMEOUT,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise DemoError(
                f"{echo}\nfailed with exit code {exc.returncode}:\n"
                f"{_tail(exc.stderr or '') or _tail(exc.stdout or '')}"
            ) from None
        except subprocess.TimeoutExpired:
            raise DemoError(f"{echo}\ndid not finish within {STEP_TIMEOUT:.0f} s") from None
        return f"{echo}\n{done.stdout.rstrip()}" if done.stdout.strip() else echo


def run_demo(workdir: Path, policies: Path, seed: int = 7, keep: bool = False) -> int:
    """Run every step in order; 0 when every command succeeded, 1 at the first failure.

    Without `keep`, a successful run deletes the work directory (it holds a CA,
    private keys and the consortium key); a failed one is left for inspection.
    """
    started = time.monotonic()
    demo = _Demo(Layout(workdir.resolve()), policies.resolve(), seed)
    code = 1
    try:
        demo.run()
        code = 0
    except DemoError as exc:
        sys.stdout.flush()
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr, flush=True)
        if demo.hub is not None:
            _print_hub_log(demo.layout)
    finally:
        _stop_hub(demo.hub)
    _finish(demo.layout, code, keep)
    print(f"\ndemo {'finished' if code == 0 else 'failed'} in {time.monotonic() - started:.1f} s")
    return code


class _Demo:
    """The steps in order; holds the hub process so the caller can always stop it."""

    def __init__(self, layout: Layout, policies: Path, seed: int) -> None:
        self.layout = layout
        self.policies = policies
        self.seed = seed
        self.hub: subprocess.Popen[bytes] | None = None
        self.base_env = clean_environment(os.environ)
        # Operator and partners each see only their own passphrase.
        self.operator = Cli(self.base_env | {CA_PASSPHRASE_ENV: secrets.token_urlsafe(24)})
        self.partner = Cli(self.base_env | {KEY_PASSPHRASE_ENV: secrets.token_urlsafe(24)})

    def run(self) -> None:
        partners = _partners_with_agreements(self.policies)
        port = free_port()
        _make_ca(self.operator, self.layout)
        _write_hub_config(self.layout, port, self.policies)
        _enrol_all(self.operator, self.partner, self.layout, partners, port)
        _share_consortium_key(self.partner, self.layout, partners)
        sources = _write_sample_data(self.layout, partners, self.seed)
        self.hub = _launch_hub(self.layout, self.base_env)
        _wait_ready(self.hub, self.layout.hub / "ready.json")
        _ingest_and_push(self.partner, self.layout, sources)
        _header(9, "The hub operator's summary (exact counts: internal only)")
        print(Cli(self.base_env).run("hub", "summary", "--config", self.layout.hub_config))


def clean_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without COUNTERFLOW_* settings that would bend the demo."""
    env = {k: v for k, v in environ.items() if not k.startswith("COUNTERFLOW_")}
    env.setdefault("COLUMNS", str(shutil.get_terminal_size((100, 24)).columns))
    return env


def free_port() -> int:
    """A port the kernel just had free on loopback; the hub binds it moments later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def current_week_monday(now: datetime | None = None) -> date:
    """The anchor for sample dates: every record then lies in weeks already over."""
    today = (now or datetime.now(UTC)).date()
    return today - timedelta(days=today.weekday())


def _partners_with_agreements(policies: Path) -> list[str]:
    missing = [p for p in DEMO_PARTNERS if not (policies / f"{p}.yaml").is_file()]
    if missing:
        raise DemoError(
            f"no agreement in {policies} for {', '.join(missing)}: "
            "run the demo from the repository root or pass --policies"
        )
    return list(DEMO_PARTNERS)


def _header(number: int, title: str) -> None:
    print(f"\n=== Step {number}/{STEPS}: {title} ===", flush=True)


def _make_ca(operator: Cli, layout: Layout) -> None:
    _header(1, "The hub operator creates a certificate authority")
    secret = ("--passphrase-env", CA_PASSPHRASE_ENV)
    print(operator.run("ca", "init", "--ca-dir", layout.ca, *secret))
    _header(2, "The operator issues the hub's TLS certificate")
    hosts = [arg for name in HUB_NAMES for arg in ("--host", name)]
    print(
        operator.run(
            "ca", "issue-hub", *hosts, "--out", layout.hub_tls, "--ca-dir", layout.ca, *secret
        )
    )
    shutil.copyfile(layout.ca / "crl.pem", layout.hub_tls / "crl.pem")
    print(f"copied the CA's (empty) revocation list to {_shown(layout.hub_tls / 'crl.pem')}")


def _write_hub_config(layout: Layout, port: int, policies: Path) -> None:
    _header(3, "The operator writes the hub's settings")
    tls = layout.hub_tls
    lines = [
        f"listen = {_toml(f'127.0.0.1:{port}')}",
        f"database_url = {_toml('sqlite:///' + str(layout.hub / 'hub.db'))}",
        f"policies_dir = {_toml(str(policies))}",
        "",
        "[tls]",
        f"cert = {_toml(str(tls / 'hub.crt'))}",
        f"key = {_toml(str(tls / 'hub.key'))}",
        f"ca = {_toml(str(tls / 'ca.crt'))}",
        f"crl = {_toml(str(tls / 'crl.pem'))}",
    ]
    layout.hub_config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {_shown(layout.hub_config)}: hub on 127.0.0.1:{port}, agreements from {policies}")


def _toml(text: str) -> str:
    """A TOML basic string: JSON's escapes are a subset TOML reads alike."""
    return json.dumps(text)


def _enrol_all(
    operator: Cli, partner: Cli, layout: Layout, partners: Sequence[str], port: int
) -> None:
    _header(4, f"{len(partners)} partners set up nodes and enrol with the operator's CA")
    print("Each node makes its own key; only the signing request and certificate travel.")
    layout.exchange.mkdir(parents=True, exist_ok=True)
    _in_parallel(WORKERS, lambda p: _enrol(operator, partner, layout, p, port), partners)


def _in_parallel(workers: int, chain: Callable[[str], str], partners: Sequence[str]) -> None:
    """Run one chain of commands per partner, a few at a time; print in partner order."""
    with ThreadPoolExecutor(workers) as pool:
        for transcript in pool.map(chain, partners):
            print(transcript, flush=True)


def _enrol(operator: Cli, partner: Cli, layout: Layout, partner_id: str, port: int) -> str:
    home = layout.node(partner_id)
    cert = layout.exchange / f"{partner_id}.crt"
    hub = f"127.0.0.1:{port}"
    return "\n".join(
        (
            partner.run("node", "init", partner_id, "--home", home, "--hub", hub,
                        "--server-name", HUB_NAMES[0]),
            partner.run("node", "enroll", partner_id, "--home", home),
            operator.run("ca", "sign", home / "tls" / "partner.csr", "--out", cert,
                         "--ca-dir", layout.ca, "--passphrase-env", CA_PASSPHRASE_ENV),
            partner.run("node", "enroll", "--install", cert, "--ca", layout.ca / "ca.crt",
                        "--home", home),
        )
    )  # fmt: skip


def _share_consortium_key(partner: Cli, layout: Layout, partners: Sequence[str]) -> None:
    _header(5, f"{KEY_HOLDER} creates the consortium key and shares it with the nodes only")
    export = layout.exchange / "consortium.key"
    secret = ("--passphrase-env", KEY_PASSPHRASE_ENV)
    print(partner.run("node", "key", "create", "--home", layout.node(KEY_HOLDER)))
    print(partner.run("node", "key", "export", export, "--home", layout.node(KEY_HOLDER), *secret))
    others = [p for p in partners if p != KEY_HOLDER]
    _in_parallel(
        WORKERS,
        lambda p: partner.run("node", "key", "import", export, "--home", layout.node(p), *secret),
        others,
    )
    export.unlink()
    print(
        f"deleted {_shown(export)}: the key now lives only in the node folders, never the hub's.\n"
        "On one machine the demo cannot show what protects it in production: each node and\n"
        "the hub on separate hosts under separate accounts, the export carried out of band\n"
        "and its passphrase by another channel."
    )


def _write_sample_data(
    layout: Layout, partners: Sequence[str], seed: int
) -> dict[str, tuple[Path, Path]]:
    anchor = current_week_monday()
    _header(6, f"Each partner exports sample data (seed {seed}, 12 weeks before {anchor})")
    sources = {}
    for partner_id in partners:
        data, profile = write_partner_data(
            partner_id, DEMO_PARTNERS[partner_id], layout.node(partner_id) / "data", seed, anchor
        )
        sources[partner_id] = (data, profile)
        print(f"{partner_id}: {_shown(data)} with source profile {_shown(profile)}")
    return sources


def _launch_hub(layout: Layout, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    _header(7, "The operator starts the hub (mTLS gRPC, SQLite)")
    ready = layout.hub / "ready.json"
    args: list[str | Path] = ["hub", "serve", "--config", layout.hub_config, "--ready-file", ready]
    print("$ counterflow " + " ".join(shlex.quote(_shown(a)) for a in args) + " &", flush=True)
    argv = [sys.executable, "-m", "counterflow.cli", *(str(a) for a in args)]
    with (layout.hub / "hub.log").open("wb") as log:
        return subprocess.Popen(argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT)


def _wait_ready(hub: subprocess.Popen[bytes], ready: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise DemoError(f"the hub exited with code {hub.returncode} before it was ready")
        try:
            port = json.loads(ready.read_text(encoding="utf-8"))["port"]
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(0.1)  # not written yet, or caught half-written
            continue
        print(f"hub is listening on 127.0.0.1:{port} (pid {hub.pid})")
        return
    raise DemoError(f"the hub did not write {ready} within {READY_TIMEOUT:.0f} s")


def _ingest_and_push(
    partner: Cli, layout: Layout, sources: Mapping[str, tuple[Path, Path]]
) -> None:
    _header(8, "Each node ingests its data, previews what would leave, and pushes tokens")
    for partner_id, (data, profile) in sources.items():
        home = layout.node(partner_id)
        print(partner.run("node", "ingest", data, "--profile", profile, "--home", home), flush=True)
    print(f"\npreview and push, {WORKERS} nodes at a time:", flush=True)
    _in_parallel(WORKERS, lambda p: _preview_and_push(partner, layout.node(p)), list(sources))


def _preview_and_push(partner: Cli, home: Path) -> str:
    preview = partner.run("node", "preview", "--home", home)
    return preview + "\n" + partner.run("node", "push", "--home", home)


def _stop_hub(hub: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; safe to call twice."""
    if hub is None or hub.poll() is not None:
        return
    _header(10, "The operator stops the hub")
    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(STOP_TIMEOUT)
        print(f"hub stopped (exit code {hub.returncode})")
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait()
        print(f"hub did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM and was killed")


def _print_hub_log(layout: Layout) -> None:
    log = layout.hub / "hub.log"
    if log.exists():
        text = log.read_text(encoding="utf-8", errors="replace")
        print(f"\nlast lines of {log}:\n{_tail(text)}", file=sys.stderr)


def _finish(layout: Layout, code: int, keep: bool) -> None:
    if code != 0 or keep:
        print(f"\nthe demo's files are in {layout.root}")
        if code == 0:
            print(f"inspect them with: counterflow hub summary --config {layout.hub_config}")
        return
    shutil.rmtree(layout.root, ignore_errors=True)
    print(f"\nremoved {_shown(layout.root)} (it held a CA, private keys and the consortium key;")
    print("pass --keep to inspect it)")


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-LOG_TAIL_LINES:])


def _shown(arg: str | Path) -> str:
    """Paths relative to the current directory when inside it, so commands stay readable."""
    if isinstance(arg, Path):
        try:
            return str(arg.relative_to(Path.cwd()))
        except ValueError:
            return str(arg)
    return arg
