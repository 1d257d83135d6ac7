import pytest

from cadfinder import settings as s


def test_home_override_and_roundtrip(fresh_home):
    assert s.settings_path() == fresh_home / "config" / "settings.toml"
    assert s.data_dir() == fresh_home / "data"
    cfg = s.load()
    assert cfg.database.uri == "" and cfg.index.hnsw_m == 32
    cfg.index.hnsw_ef_search = 250
    cfg.models.device = "cpu"
    s.save(cfg)
    again = s.load()
    assert again.index.hnsw_ef_search == 250 and again.models.device == "cpu"


def test_password_never_written(fresh_home):
    cfg = s.load()
    cfg.database.uri = "postgresql://alice:s3cret@db.example:5433/lib?sslmode=require"
    path = s.save(cfg)
    text = path.read_text()
    assert "s3cret" not in text
    assert s.load().database.uri == "postgresql://alice@db.example:5433/lib?sslmode=require"
    assert "s3cret" not in s.strip_password("host=x password=s3cret user=a")


def test_env_db_overrides_for_the_run_and_is_never_saved(fresh_home, monkeypatch):
    cfg = s.load()
    cfg.database.uri = "postgresql://alice@team/lib"
    s.save(cfg)
    monkeypatch.setenv("CADFINDER_DB", "postgresql://bob@h/db")
    cfg = s.load()
    assert cfg.database.uri == "postgresql://bob@h/db"
    cfg.index.hnsw_ef_search = 123  # another setting saved while the override is on
    s.save(cfg)
    monkeypatch.delenv("CADFINDER_DB")
    again = s.load()
    assert again.database.uri == "postgresql://alice@team/lib" and again.index.hnsw_ef_search == 123


def test_invalid_values_are_rejected(fresh_home):
    s.settings_path().parent.mkdir(parents=True)
    s.settings_path().write_text('[models]\ndevice = "tpu"\n')
    with pytest.raises(ValueError, match="models.device"):
        s.load()
    s.settings_path().write_text("not = [toml")
    with pytest.raises(ValueError, match="not valid TOML"):
        s.load()


def test_unknown_keys_are_ignored_and_wrong_types_named(fresh_home):
    s.settings_path().parent.mkdir(parents=True)
    s.settings_path().write_text('[index]\nhnsw_m = "many"\nfoo = 1\n[extra]\nx = 2\n')
    with pytest.warns(UserWarning, match="index.hnsw_m = 'many' is not a int; the default 32 is used") as seen:
        cfg = s.load()
    assert cfg.index.hnsw_m == 32 and len(seen) == 1


def test_cli_settings_set(fresh_home):
    from tests.conftest import run_cli

    r = run_cli("settings", "set", "index.hnsw_ef_search=300", "database.role=designer")
    assert r.returncode == 0, r.stderr
    assert s.load().index.hnsw_ef_search == 300
    r = run_cli("settings", "set", "index.hnsw_m=abc")
    assert r.returncode == 1 and "needs a int" in r.stderr and "Traceback" not in r.stderr
