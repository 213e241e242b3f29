"""Config discovery, precedence, validation and `cobra config ...`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cobra import config as config_module
from cobra import paths
from cobra.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def company(name: str) -> str:
    return f'[company]\nname = "{name}"\n'


# -- precedence -------------------------------------------------------------


@pytest.fixture
def everywhere(tmp_path, isolated, monkeypatch):
    """A config file in every place cobra looks, each naming its place."""
    files = {
        "option": write(tmp_path / "option.toml", company("option")),
        "env": write(tmp_path / "env.toml", company("env")),
        "cwd": write(isolated / "cobra.toml", company("cwd")),
        "user": write(paths.user_config_dir() / "cobra.toml", company("user")),
        "system": write(paths.SYSTEM_CONFIG, company("system")),
    }
    monkeypatch.setenv("COBRA_CONFIG", str(files["env"]))
    return files


def test_option_wins_over_everything(everywhere):
    config = config_module.load(str(everywhere["option"]))
    assert config.get("company.name") == "option"
    assert config.located.how == "--config"


def test_environment_comes_next(everywhere):
    assert config_module.load().get("company.name") == "env"


def test_working_directory_comes_after_environment(everywhere, monkeypatch):
    monkeypatch.delenv("COBRA_CONFIG")
    assert config_module.load().get("company.name") == "cwd"


def test_a_parent_directory_counts_as_the_working_directory(everywhere, monkeypatch):
    monkeypatch.delenv("COBRA_CONFIG")
    nested = everywhere["cwd"].parent / "a" / "b"
    nested.mkdir(parents=True)
    config = config_module.load(cwd=nested)
    assert config.get("company.name") == "cwd"
    assert config.located.how == "parent directory"


def test_user_directory_then_system(everywhere, monkeypatch):
    monkeypatch.delenv("COBRA_CONFIG")
    everywhere["cwd"].unlink()
    assert config_module.load().get("company.name") == "user"
    everywhere["user"].unlink()
    assert config_module.load().get("company.name") == "system"


def test_no_file_at_all_runs_on_the_embedded_default():
    config = config_module.load()
    assert config.path is None
    assert config.get("company.currency") == "USD"
    assert config.origins["company.currency"] == config_module.EMBEDDED


def test_file_values_lie_over_the_embedded_default(isolated):
    write(isolated / "cobra.toml", '[company]\ncurrency = "CLP"\n')
    config = config_module.load()
    assert config.get("company.currency") == "CLP"
    assert config.origins["company.currency"] == str(isolated / "cobra.toml")
    # Keys the file does not mention keep the default and say so.
    assert config.get("company.timezone") == "UTC"
    assert config.origins["company.timezone"] == config_module.EMBEDDED


def test_named_config_that_does_not_exist_is_an_error_not_a_fallback(run):
    result = run("--config", "missing.toml", "customers")
    assert result.exit_code == 2
    assert "missing.toml (from --config) does not exist" in result.stderr
    assert "cobra init missing.toml" in result.stderr


def test_starter_file_is_valid_against_the_schema():
    data = config_module.parse_toml(config_module.starter_text(), "starter")
    assert config_module.check(data, "starter") == []


# -- relative paths -----------------------------------------------------------


def test_database_path_is_relative_to_the_config_file(tmp_path, run):
    config_file = write(tmp_path / "project" / "cobra.toml", '[store]\npath = "data/c.sqlite"\n')
    (tmp_path / "project" / "data").mkdir()
    result = run("--config", str(config_file), "db", "path")
    assert result.stdout.strip() == str(tmp_path / "project" / "data" / "c.sqlite")


def test_db_option_is_relative_to_the_working_directory(tmp_path, isolated, run):
    config_file = write(tmp_path / "project" / "cobra.toml", '[store]\npath = "c.sqlite"\n')
    result = run("--config", str(config_file), "--db", "mine.sqlite", "db", "path")
    assert result.stdout.strip() == str(isolated / "mine.sqlite")


def test_db_from_environment_is_reported_as_its_source(isolated, run, monkeypatch):
    monkeypatch.setenv("COBRA_DB", "env.sqlite")
    result = run("config", "show", "--format", "json")
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["store.path"]["value"] == "env.sqlite"
    assert rows["store.path"]["source"] == "COBRA_DB"


# -- bad input: clear message, exit 2, nothing changed -----------------------


def test_invalid_toml_names_line_and_column(isolated, run):
    write(isolated / "cobra.toml", '[company]\nname = "unterminated\n')
    before = (isolated / "cobra.toml").read_bytes()
    result = run("customers")
    assert result.exit_code == 2
    assert "cobra.toml: not valid TOML" in result.stderr
    assert "line 2, column" in result.stderr
    assert "Traceback" not in result.stderr
    assert (isolated / "cobra.toml").read_bytes() == before
    assert not (paths.user_data_dir() / "cobra.sqlite").exists()


def test_unknown_key_gets_a_did_you_mean(isolated, run):
    write(isolated / "cobra.toml", '[company]\ncurency = "EUR"\n')
    result = run("config", "check")
    assert result.exit_code == 2
    assert "cobra.toml: company.curency: unknown key; did you mean company.currency?" in (
        result.stderr
    )


def test_unknown_table_gets_a_did_you_mean(isolated, run):
    write(isolated / "cobra.toml", "[stor]\nbusy_timeout_ms = 1\n")
    result = run("config", "check")
    assert result.exit_code == 2
    assert "stor: unknown key; did you mean store?" in result.stderr


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('[store]\nbusy_timeout_ms = "soon"\n', "store.busy_timeout_ms", "expected an integer, got a string"),
        ("[store]\nbusy_timeout_ms = true\n", "store.busy_timeout_ms", "expected an integer, got a boolean"),
        ("[store]\nbusy_timeout_ms = -5\n", "store.busy_timeout_ms", "must be at least 0"),
        ('[company]\ncurrency = "EUROS"\n', "company.currency", "'EUROS' is not an ISO 4217 currency code"),
        ('[company]\ntimezone = "Mars/Olympus"\n', "company.timezone", "'Mars/Olympus' is not an IANA time zone"),
        ('[log]\nlevel = "loud"\n', "log.level", "must be one of debug, info, warning, error"),
        ("company = 3\n", "company", "expected a table"),
    ],
)
def test_wrong_types_are_named_with_file_and_key(isolated, run, text, key, message):
    write(isolated / "cobra.toml", text)
    result = run("config", "check")
    assert result.exit_code == 2
    assert f"{isolated / 'cobra.toml'}: {key}: {message}" in result.stderr


def test_every_problem_is_listed_at_once(isolated, run):
    write(isolated / "cobra.toml", '[company]\ncurency = "EUR"\n[store]\nbusy_timeout_ms = "x"\n')
    result = run("config", "check")
    assert "2 problems in the configuration" in result.stderr


def test_any_command_refuses_a_config_with_problems(isolated, run):
    write(isolated / "cobra.toml", '[company]\ncurency = "EUR"\n')
    result = run("customers")
    assert result.exit_code == 2
    assert "company.curency: unknown key" in result.stderr
    assert not (paths.user_data_dir() / "cobra.sqlite").exists()


def test_missing_secret_is_named_and_never_printed(isolated, run, monkeypatch):
    write(isolated / "cobra.toml", '[channels.email]\nbackend = "smtp"\npassword_env = "SMTP_PW"\n')
    monkeypatch.delenv("SMTP_PW", raising=False)
    result = run("config", "check")
    assert result.exit_code == 2
    assert "channels.email.password_env: refers to the environment variable SMTP_PW, " \
        "which is not set" in result.stderr


def test_secret_resolution_raises_a_named_error(isolated, monkeypatch):
    write(isolated / "cobra.toml", '[channels.email]\nbackend = "smtp"\npassword_env = "SMTP_PW"\n')
    config = config_module.load()
    with pytest.raises(config_module.MissingSecret, match="SMTP_PW, which is not set"):
        config.secret("channels.email.password_env")
    monkeypatch.setenv("SMTP_PW", "hunter2-very-secret")
    assert config.secret("channels.email.password_env") == "hunter2-very-secret"


def test_config_show_redacts_secrets(isolated, run, monkeypatch):
    write(isolated / "cobra.toml", '[channels.email]\nbackend = "smtp"\npassword_env = "SMTP_PW"\n')
    monkeypatch.setenv("SMTP_PW", "hunter2-very-secret")
    result = run("config", "show", "--format", "json")
    assert result.exit_code == 0
    assert "hunter2" not in result.stdout
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["channels.email.password_env"]["value"] == "$SMTP_PW (set)"
    assert rows["channels.email.password_env"]["source"] == str(isolated / "cobra.toml")


def test_config_check_passes_a_clean_file(isolated, run):
    write(isolated / "cobra.toml", config_module.starter_text())
    result = run("config", "check")
    assert result.exit_code == 0
    assert "no problems" in result.stderr


def test_config_path_prints_the_file_in_use(isolated, run):
    write(isolated / "cobra.toml", "")
    result = run("config", "path")
    assert result.stdout.strip() == str(isolated / "cobra.toml")


def test_config_path_without_a_file_explains_where_it_looked(run):
    result = run("config", "path")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "embedded default" in result.stderr
    assert str(paths.SYSTEM_CONFIG) in result.stderr


def test_load_raises_config_error_for_bad_utf8(isolated):
    (isolated / "cobra.toml").write_bytes(b'[company]\nname = "Caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        config_module.load()
