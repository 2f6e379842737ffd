"""Fixtures shared by the whole test tree.

Kept to what every layer needs: a host environment that cannot leak into a
test, and the PostgreSQL server and per-test databases behind the storage
contract suite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.postgres import INSTALL_COMMAND, find_binaries, scratch_database, throwaway_server

if TYPE_CHECKING:
    from hub.storage import Storage

# Set on purpose by a developer or CI to point the suite at a server; never cleared.
PG_URL_VARIABLE = "COUNTERFLOW_TEST_PG_URL"
_KEPT_PREFIX = "COUNTERFLOW_TEST_"
_CLEARED_PREFIXES = ("COUNTERFLOW_", "SSL_", "GRPC_")
_CLEARED_NAMES = frozenset(
    {
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
        "ALL_PROXY",
        "all_proxy",
    }
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings, TLS and gRPC read these: the host's values must not change a test's outcome."""
    for name in list(os.environ):
        if name.startswith(_KEPT_PREFIX):
            continue
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED_NAMES:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A postgresql+psycopg URL: $COUNTERFLOW_TEST_PG_URL, else a throwaway local server."""
    given = os.environ.get(PG_URL_VARIABLE)
    if given:
        yield given
        return
    binaries = find_binaries()
    if binaries is None:
        message = f"PostgreSQL binaries not found (set {PG_URL_VARIABLE} or run: {INSTALL_COMMAND})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with throwaway_server(binaries) as url:
        yield url


@pytest.fixture
def pg_database_url(pg_url: str) -> Iterator[str]:
    """A fresh, empty database per test: store_batch commits, so rollback cannot isolate."""
    with scratch_database(pg_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database on each backend of the storage contract."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("pg_database_url")
    return url


@pytest.fixture
def storage(storage_url: str) -> Iterator[Storage]:
    from hub.storage import open_storage

    store = open_storage(storage_url)
    try:
        yield store
    finally:
        store.close()
