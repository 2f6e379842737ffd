"""The node's secrets on disk: the consortium keyring and the node-local secret.

The consortium key turns indicators into tokens. It is created by one partner,
passed to the others as a passphrase-wrapped export, and never reaches the hub:
whoever holds it can tokenise guesses, and a phone number has few enough
guesses to try them all. Keys are numbered by epoch so the consortium can
rotate without losing the ability to read back what was sent before.

Keyring file (0600)::

    {"format": "counterflow-keyring-v1",
     "epochs": {"1": {"key": "<base64>", "created": "<iso>"}}, "current": 1}
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from counterflow.errors import ConfigError
from counterflow.tls import write_private
from counterflow.tokens import KEY_BYTES

KEYRING_FORMAT = "counterflow-keyring-v1"
EXPORT_FORMAT = "counterflow-key-export-v1"
NODE_SECRET_BYTES = 32
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
# Bounds on an export's scrypt cost: below, too cheap to guess against; above,
# a crafted file could make the importer allocate gigabytes.
_MIN_LOG2_N, _MAX_LOG2_N = 14, 17
_SALT_BYTES, _NONCE_BYTES = 16, 12


@dataclass(frozen=True)
class Epoch:
    number: int
    created: datetime
    key: bytes = field(repr=False)


class Keyring:
    """The consortium keys this node holds, one per epoch; `current` signs new tokens."""

    def __init__(self, path: Path, epochs: dict[int, Epoch], current: int) -> None:
        if current not in epochs:
            raise ConfigError(f"keyring {path}: current epoch {current} has no key")
        self.path = path
        self._epochs = dict(epochs)
        self._current = current

    def __repr__(self) -> str:
        return (
            f"Keyring({str(self.path)!r}, epochs={sorted(self._epochs)}, current={self._current})"
        )

    @classmethod
    def create(cls, path: Path, *, now: datetime | None = None) -> Keyring:
        """A fresh keyring with epoch 1; refuses to replace a keyring (its keys would be lost)."""
        epoch = Epoch(1, _utc(now), secrets.token_bytes(KEY_BYTES))
        keyring = cls(path, {1: epoch}, 1)
        try:
            store_secret(path, keyring._encode())
        except FileExistsError:
            raise ConfigError(
                f"a keyring already exists at {path}; refusing to overwrite it"
            ) from None
        return keyring

    @classmethod
    def load(cls, path: Path) -> Keyring:
        raw = read_secret(path, "keyring")
        try:
            data = json.loads(raw)
        except ValueError:
            raise ConfigError(f"keyring {path} is not JSON") from None
        if not isinstance(data, dict) or data.get("format") != KEYRING_FORMAT:
            raise ConfigError(f"{path} is not a {KEYRING_FORMAT} keyring")
        epochs = _decode_epochs(data.get("epochs"), str(path))
        current = data.get("current")
        if not isinstance(current, int) or isinstance(current, bool):
            raise ConfigError(f"keyring {path}: 'current' must be an epoch number")
        return cls(path, epochs, current)

    @property
    def current_epoch(self) -> int:
        return self._current

    def epochs(self) -> list[Epoch]:
        return [self._epochs[n] for n in sorted(self._epochs)]

    def key(self, epoch: int) -> bytes:
        try:
            return self._epochs[epoch].key
        except KeyError:
            raise ConfigError(
                f"keyring {self.path} holds no key for epoch {epoch}; import it from a partner"
            ) from None

    def rotate(self, *, now: datetime | None = None) -> int:
        """Start a new epoch and make it current; older keys stay to read older tokens."""
        number = max(self._epochs) + 1
        self._epochs[number] = Epoch(number, _utc(now), secrets.token_bytes(KEY_BYTES))
        self._current = number
        self._save()
        return number

    def export(self, path: Path, passphrase: bytes, epochs: list[int] | None = None) -> Path:
        """Write the chosen epochs (default: all) encrypted under the passphrase."""
        chosen = sorted(set(epochs)) if epochs else sorted(self._epochs)
        for number in chosen:
            self.key(number)
        current = self._current if self._current in chosen else max(chosen)
        payload = {
            "epochs": _encode_epochs([self._epochs[n] for n in chosen]),
            "current": current,
        }
        envelope = _seal(json.dumps(payload).encode(), passphrase)
        write_private(path, (json.dumps(envelope, indent=2) + "\n").encode())
        return path

    @classmethod
    def import_export(cls, path_of_export: Path, passphrase: bytes, keyring_path: Path) -> Keyring:
        """Create the keyring from an export, or merge the export's epochs into it.

        The newest current epoch wins, so importing a rotation moves this node to it.
        A different key under an epoch number we already hold is refused: two
        partners tokenising one epoch with different keys would never match.
        """
        payload = _open(_read_envelope(path_of_export), passphrase)
        incoming = _decode_epochs(payload.get("epochs"), str(path_of_export))
        current = payload.get("current")
        if not isinstance(current, int) or current not in incoming:
            raise ConfigError(f"{path_of_export}: the export names no valid current epoch")
        if not keyring_path.exists():
            keyring = cls(keyring_path, incoming, current)
            try:
                store_secret(keyring_path, keyring._encode())
            except FileExistsError:
                raise ConfigError(f"a keyring appeared at {keyring_path} meanwhile") from None
            return keyring
        keyring = cls.load(keyring_path)
        keyring._merge(incoming, current)
        keyring._save()
        return keyring

    def _merge(self, incoming: dict[int, Epoch], current: int) -> None:
        for number, epoch in incoming.items():
            mine = self._epochs.get(number)
            if mine is not None and not hmac.compare_digest(mine.key, epoch.key):
                raise ConfigError(
                    f"epoch {number} in the export holds a different key than epoch {number} "
                    f"in {self.path}; refusing to merge (agree on one key per epoch)"
                )
        for number, epoch in incoming.items():
            self._epochs.setdefault(number, epoch)
        self._current = max(self._current, current)

    def _encode(self) -> bytes:
        data = {
            "format": KEYRING_FORMAT,
            "epochs": _encode_epochs(self.epochs()),
            "current": self._current,
        }
        return (json.dumps(data, indent=2) + "\n").encode()

    def _save(self) -> None:
        store_secret(self.path, self._encode(), replace=True)


def node_secret(path: Path) -> bytes:
    """The node-local secret behind group ids; created on first use, never shared."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            store_secret(path, secrets.token_bytes(NODE_SECRET_BYTES))
    secret = read_secret(path, "node secret")
    if len(secret) != NODE_SECRET_BYTES:
        raise ConfigError(f"node secret {path} must hold {NODE_SECRET_BYTES} bytes")
    return secret


# -- secrets on disk ----------------------------------------------------------


def store_secret(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write a 0600 file in one step: a reader sees the old content or the new, never half.

    Without `replace`, raises FileExistsError rather than clobber an existing file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    write_private(temp, data)
    try:
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def read_secret(path: Path, what: str) -> bytes:
    """Read a secret file, refusing one that others could read too."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{what} {path} is accessible to other users; run: chmod 600 {path}")
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except PermissionError:
        raise ConfigError(f"{what} is not readable: {path}") from None


# -- encoding -----------------------------------------------------------------


def _encode_epochs(epochs: list[Epoch]) -> dict[str, dict[str, str]]:
    return {
        str(e.number): {"key": base64.b64encode(e.key).decode(), "created": e.created.isoformat()}
        for e in epochs
    }


def _decode_epochs(raw: Any, source: str) -> dict[int, Epoch]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{source}: no epochs")
    epochs: dict[int, Epoch] = {}
    for name, entry in raw.items():
        try:
            number = int(name)
            key = base64.b64decode(entry["key"], validate=True)
            created = datetime.fromisoformat(entry["created"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ConfigError(f"{source}: epoch {name!r} is malformed") from None
        if number < 1 or len(key) != KEY_BYTES:
            raise ConfigError(f"{source}: epoch {name!r} needs a number >= 1 and a 32-byte key")
        epochs[number] = Epoch(number, created, key)
    return epochs


def _seal(plaintext: bytes, passphrase: bytes) -> dict[str, Any]:
    _check_passphrase(passphrase)
    salt, nonce = secrets.token_bytes(_SALT_BYTES), secrets.token_bytes(_NONCE_BYTES)
    kdf = {"name": "scrypt", "salt": _b64(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
    key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, EXPORT_FORMAT.encode())
    return {
        "format": EXPORT_FORMAT,
        "kdf": kdf,
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
    }


def _open(envelope: dict[str, Any], passphrase: bytes) -> dict[str, Any]:
    _check_passphrase(passphrase)
    try:
        kdf = envelope["kdf"]
        salt, n, r, p = base64.b64decode(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"]
        nonce = base64.b64decode(envelope["nonce"])
        ciphertext = base64.b64decode(envelope["ciphertext"])
        _check_kdf(kdf.get("name"), n, r, p)
        key = _derive(passphrase, salt, n, r, p)
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, EXPORT_FORMAT.encode())
        payload = json.loads(plaintext)
    except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
        raise ConfigError("wrong passphrase or corrupted export") from None
    if not isinstance(payload, dict):
        raise ConfigError("wrong passphrase or corrupted export")
    return payload


def _read_envelope(path: Path) -> dict[str, Any]:
    try:
        envelope = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"key export not found: {path}") from None
    except ValueError:
        raise ConfigError(f"{path} is not a key export (not JSON)") from None
    if not isinstance(envelope, dict) or envelope.get("format") != EXPORT_FORMAT:
        raise ConfigError(f"{path} is not a {EXPORT_FORMAT} file")
    return envelope


def _check_kdf(name: Any, n: Any, r: Any, p: Any) -> None:
    if name != "scrypt" or not all(isinstance(v, int) for v in (n, r, p)):
        raise ValueError("unsupported key derivation")
    if n & (n - 1) or not 2**_MIN_LOG2_N <= n <= 2**_MAX_LOG2_N or r != SCRYPT_R or p != SCRYPT_P:
        raise ValueError("scrypt parameters out of bounds")


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def _check_passphrase(passphrase: bytes) -> None:
    if not passphrase:
        raise ConfigError("the export passphrase must not be empty")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _utc(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now.astimezone(UTC)
