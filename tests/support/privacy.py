"""Looking for what must never reach the hub: raw indicator values and the consortium key.

The searches are deliberately broad (every spelling of every value, every
common encoding of every key) and run over bytes as stored, not over what an
API chooses to return. The scanner half of this module uses the standard
library only, so it can run as a script under another uid:

    python tests/support/privacy.py scan < request.json

where the request is ``{"roots": [...], "patterns": {"name": "<hex>"}}`` and the
answer, on stdout, lists the files that hold a pattern and every file read.
The patterns travel on stdin so that no file ever holds them.
"""

from __future__ import annotations

import atexit
import base64
import functools
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MAX_FILE_BYTES = 50 * 1024 * 1024
SKIPPED_TREES = ("/proc", "/sys", "/dev", "/run")


def secret_encodings(name: str, secret: bytes) -> dict[str, bytes]:
    """The secret as raw bytes, hex (both cases) and base64 (standard, URL-safe, unpadded)."""
    b64 = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    return {
        f"{name}/raw": secret,
        f"{name}/hex": secret.hex().encode(),
        f"{name}/HEX": secret.hex().upper().encode(),
        f"{name}/base64": b64,
        f"{name}/base64-unpadded": b64.rstrip(b"="),
        f"{name}/base64url": url.rstrip(b"="),
    }


def secrets_in(blob: bytes, patterns: Mapping[str, bytes]) -> list[str]:
    return sorted(name for name, pattern in patterns.items() if pattern in blob)


# -- raw indicator values ------------------------------------------------------------


class LeakFinder:
    """Finds any of many values in a blob at C speed: one regex shaped as a trie.

    Matching is case-insensitive (blob and values are lower-cased), which can
    only find more.
    """

    def __init__(self, values: Iterable[str]) -> None:
        words = sorted({v.lower().encode() for v in values if v})
        if not words:
            raise ValueError("nothing to look for")
        self.count = len(words)
        self._pattern = re.compile(_trie_regex(_trie(words)))

    def found_in(self, blob: bytes) -> list[str]:
        """Every value the blob holds (overlaps between values may hide a second hit)."""
        return sorted({m.group().decode() for m in self._pattern.finditer(blob.lower())})


def _trie(words: list[bytes]) -> dict[int | None, Any]:
    root: dict[int | None, Any] = {}
    for word in words:
        node = root
        for byte in word:
            node = node.setdefault(byte, {})
        node[None] = True
    return root


def _trie_regex(node: dict[int | None, Any]) -> bytes:
    branches = [
        re.escape(bytes([byte])) + _trie_regex(child)
        for byte, child in sorted((k, v) for k, v in node.items() if k is not None)
    ]
    if not branches:
        return b""
    body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
    return b"(?:" + body + b")?" if None in node else body


# -- what the hub holds --------------------------------------------------------------


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under root (as root, so nothing is missed)."""
    return {
        str(path): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def dump_tables(database_url: str) -> bytes:
    """Every value of every table, as str() and, for binary columns, as the bytes themselves."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(database_url)
    parts: list[bytes] = []
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                parts.append(f"\n== {table.name}\n".encode())
                for row in conn.execute(select(table)):
                    for value in row:
                        parts.append(_as_bytes(value))
    finally:
        engine.dispose()
    return b"\x00".join(parts)


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value) + b"\x00" + str(bytes(value)).encode()
    return str(value).encode()


# -- the hub under its own uid -------------------------------------------------------


@dataclass
class UidHub:
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@functools.cache
def python_for(uid: int, gid: int) -> tuple[str, ...]:
    """A Python 3.11 that uid can execute, seeing this checkout and this environment's packages.

    The test's own interpreter may live where only root can enter (pyenv under
    /root, say). The same packages then run on another CPython 3.11 with the
    site module off (-S), so that nothing but the checkout and these
    site-packages is importable.
    """
    candidates = [sys.executable, os.path.realpath(sys.executable)]
    candidates += [c for c in (shutil.which("python3.11"), "/usr/bin/python3.11") if c]
    for attempt in range(2):
        for candidate in dict.fromkeys(candidates):
            if os.path.exists(candidate) and _runs_as(uid, gid, candidate):
                return (candidate, "-S")
        if attempt == 0:
            # A checkout or environment uid cannot enter (one under /root, say):
            # run from a world-readable copy of the packages instead.
            _use_readable_copy()
    raise AssertionError(f"uid {uid} can run none of {candidates} with the project's packages")


def _runs_as(uid: int, gid: int, python: str) -> bool:
    try:
        probe = subprocess.run(
            [python, "-S", "-c", "import grpc, sqlalchemy, counterflow.cli, hub.commands"],
            capture_output=True,
            user=uid,
            group=gid,
            extra_groups=[],
            cwd="/",
            env=_plain_env(),
            timeout=120,
            check=False,
        )
    except PermissionError:
        return False
    return probe.returncode == 0


def start_hub_as(uid: int, gid: int, config: Path, log: Path) -> UidHub:
    """`counterflow hub serve` as uid:gid with no supplementary groups (needs root)."""
    ready = config.with_suffix(".ready")
    command = [*python_for(uid, gid), "-m", "counterflow.cli", "hub", "serve"]
    command += ["--config", str(config), "--ready-file", str(ready)]
    with log.open("ab") as out:
        os.chown(log, uid, gid)
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            user=uid,
            group=gid,
            extra_groups=[],
            cwd=config.parent,
            env=_plain_env(),
        )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"hub did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return UidHub(process, int(json.loads(ready.read_text())["port"]))


def scan_as(uid: int, gid: int, roots: list[Path], patterns: Mapping[str, bytes]) -> dict[str, Any]:
    """Run this module's scanner as uid:gid; the patterns reach it on stdin only."""
    request = {
        "roots": [str(r) for r in roots],
        "patterns": {name: p.hex() for name, p in patterns.items()},
    }
    result = subprocess.run(
        [*python_for(uid, gid), str(Path(__file__).resolve()), "scan"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        user=uid,
        group=gid,
        extra_groups=[],
        cwd="/",
        env=_plain_env(),
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"scanner failed ({result.returncode}):\n{result.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


_IMPORT_PATH: list[str] = []


def _import_path() -> list[str]:
    return _IMPORT_PATH or [str(REPO), *site.getsitepackages()]


def _use_readable_copy() -> None:
    root = Path(tempfile.mkdtemp(prefix="cf-uid-"))
    atexit.register(shutil.rmtree, root, True)
    paths = [root / "src"]
    for package in ("counterflow", "hub", "node"):
        shutil.copytree(REPO / package, root / "src" / package)
    for number, packages in enumerate(site.getsitepackages()):
        target = root / f"site-{number}"
        shutil.copytree(packages, target, symlinks=True)
        paths.append(target)
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
    os.chmod(root, 0o755)
    _IMPORT_PATH[:] = [str(p) for p in paths]


def _plain_env() -> dict[str, str]:
    """Nothing inherited; the checkout and this environment's packages on the path."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(_import_path()),
    }


# -- the scanner (standard library only) ---------------------------------------------


def scan(roots: Iterable[str], patterns: Mapping[str, bytes]) -> dict[str, Any]:
    """Open every regular file this uid can read under roots; report those holding a pattern."""
    hits: list[dict[str, Any]] = []
    read: list[str] = []
    for path in _regular_files(roots):
        try:
            with open(path, "rb") as handle:
                blob = handle.read(MAX_FILE_BYTES)
        except OSError:
            continue
        read.append(path)
        found = secrets_in(blob, patterns)
        if found:
            hits.append({"path": path, "patterns": found})
    return {"hits": hits, "files_read": len(read), "read": read}


def _regular_files(roots: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for root in roots:
        for directory, subdirs, files in os.walk(root, followlinks=False):
            subdirs[:] = [d for d in subdirs if not _skipped(os.path.join(directory, d))]
            for name in files:
                path = os.path.join(directory, name)
                if path in seen or not os.path.isfile(path) or os.path.islink(path):
                    continue
                seen.add(path)
                yield path


def _skipped(path: str) -> bool:
    return any(path == tree or path.startswith(tree + "/") for tree in SKIPPED_TREES)


def _main(argv: list[str]) -> int:
    if argv != ["scan"]:
        sys.stderr.write("usage: privacy.py scan < request.json\n")
        return 2
    request = json.loads(sys.stdin.read())
    patterns = {name: bytes.fromhex(value) for name, value in request["patterns"].items()}
    json.dump(scan(request["roots"], patterns), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
