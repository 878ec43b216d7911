"""Flask-SQLAlchemy's ``db.session`` (a scoped session) as ``conn=``: the job commits with
``db.session.commit()`` and vanishes with ``db.session.rollback()``, like the model row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgqueue

flask = pytest.importorskip("flask", reason="Flask is in the dev extra")
flask_sqlalchemy = pytest.importorskip("flask_sqlalchemy", reason="Flask-SQLAlchemy is in the dev extra")


@pytest.fixture
def flask_app(dsn: str) -> Iterator[tuple[Any, Any]]:
    web = flask.Flask(__name__)
    web.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://"
    web.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"creator": lambda: psycopg.connect(dsn)}
    db = flask_sqlalchemy.SQLAlchemy(web)
    with web.app_context():
        db.session.execute(db.text("CREATE TABLE signups (email text)"))
        db.session.commit()
        yield web, db
        db.session.remove()
        db.engine.dispose()


def _count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_db_session_commits_and_rolls_back_the_job(
    flask_app: tuple[Any, Any], app: pgqueue.App, dsn: str
) -> None:
    _web, db = flask_app

    @app.task(name="welcome")
    def welcome(email: str) -> None: ...

    db.session.execute(db.text("INSERT INTO signups VALUES ('ada@example.com')"))
    job = welcome.configure(conn=db.session).enqueue("ada@example.com")
    assert _count(dsn, "SELECT count(*) FROM pgqueue.jobs") == 0  # not before the commit
    db.session.commit()
    assert _count(dsn, "SELECT count(*) FROM pgqueue.jobs") == 1
    assert job.refresh().state == pgqueue.JobState.QUEUED

    db.session.execute(db.text("INSERT INTO signups VALUES ('bob@example.com')"))
    welcome.configure(conn=db.session).enqueue("bob@example.com")
    db.session.rollback()
    assert _count(dsn, "SELECT count(*) FROM pgqueue.jobs") == 1
    assert _count(dsn, "SELECT count(*) FROM signups") == 1
