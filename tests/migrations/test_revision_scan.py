"""pgqueue._revision reads the migration files without Alembic; it must agree with Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from pgqueue import _revision


def test_the_scan_agrees_with_alembic_on_head_and_every_revision() -> None:
    script = ScriptDirectory(str(_revision.migrations_dir()))
    assert _revision.head() == script.get_current_head()
    expected = {rev.revision: rev.down_revision for rev in script.walk_revisions()}
    assert _revision.revisions() == expected


def test_a_revision_check_imports_neither_alembic_nor_sqlalchemy() -> None:
    code = (
        "import sys; from pgqueue import _db, _revision; _db.check_revision(_revision.head());"
        "print(sorted(m for m in ('alembic', 'sqlalchemy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_two_heads_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (tmp_path / "env.py").write_text("")
    for name, down in (("0001", None), ("0002", "0001"), ("0003", "0001")):
        body = f'revision = "{name}"\ndown_revision = {down and repr(down)}\n'
        (versions / f"{name}_x.py").write_text(body)
    monkeypatch.setattr(_revision, "migrations_dir", lambda: tmp_path)
    _revision.revisions.cache_clear()
    _revision.head.cache_clear()
    try:
        assert _revision.revisions() == {"0001": None, "0002": "0001", "0003": "0001"}
        with pytest.raises(RuntimeError, match="2 heads"):
            _revision.head()
    finally:
        _revision.revisions.cache_clear()
        _revision.head.cache_clear()
