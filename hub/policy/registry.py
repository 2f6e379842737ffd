"""The agreements in force at a running hub, swapped whole when policies/ changes.

Agreements change while the hub runs (a partner suspended, a country added), so
the hub polls cheaply: a fingerprint of names, mtimes and sizes, and a full
reload only when it moves. A directory that fails to load never replaces one
that loaded: a typo during an edit must not drop every partner's agreement.
"""

from __future__ import annotations

import threading
from pathlib import Path

from counterflow import logs
from counterflow.errors import PolicyError
from hub.policy.loader import PolicySet, load_policies, policy_files

_log = logs.get(__name__)

Fingerprint = tuple[tuple[str, int, int], ...] | None


def fingerprint(directory: Path) -> Fingerprint:
    """(name, mtime_ns, size) of each policy file; None when the directory cannot be read."""
    try:
        entries = []
        for path in policy_files(directory):
            stat = path.stat()
            entries.append((path.name, stat.st_mtime_ns, stat.st_size))
    except OSError:
        return None
    return tuple(entries)


class PolicyRegistry:
    """Holds the current PolicySet; readers get an immutable snapshot, never a half-load."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._seen = fingerprint(directory)
        self._current = load_policies(directory)
        _log.info("policies loaded", directory=str(directory), agreements=len(self._current))

    def current(self) -> PolicySet:
        with self._lock:
            return self._current

    def reload(self) -> PolicySet:
        """Load the directory now; raises PolicyError and keeps the old set if it is invalid."""
        with self._reload_lock:
            self._seen = fingerprint(self.directory)
            return self._load()

    def reload_if_changed(self) -> bool:
        """True when a changed directory was loaded and is now in force.

        A broken change is reported once and then left alone until the files
        change again, so polling does not flood the log. Cheap when nothing
        changed (one directory listing and a stat per file, no lock), so the
        hub may call it on every RPC.
        """
        if fingerprint(self.directory) == self._seen:
            return False
        with self._reload_lock:
            now = fingerprint(self.directory)
            if now == self._seen:  # another thread got here first
                return False
            self._seen = now
            try:
                self._load()
            except PolicyError as exc:
                _log.warning(
                    "policy reload failed; previous agreements stay in force",
                    directory=str(self.directory),
                    problems=len(exc.problems),
                    agreements_in_force=len(self.current()),
                )
                return False
            return True

    def _load(self) -> PolicySet:
        policies = load_policies(self.directory)
        with self._lock:
            self._current = policies
        _log.info("policies reloaded", directory=str(self.directory), agreements=len(policies))
        return policies
