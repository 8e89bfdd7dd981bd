"""``${credential:NAME}``: secrets from systemd's credentials directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from smppd.config import ConfigError, load_config

DB_URL = "postgresql+psycopg://smppd:s3cret@127.0.0.1:5432/smppd"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "smppd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_credential_is_read_from_the_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "db-url").write_text(DB_URL + "\n", encoding="utf-8")
    path = _config(tmp_path, '[store]\nurl = "${credential:db-url}"\n')
    cfg = load_config(path, env={"CREDENTIALS_DIRECTORY": str(creds)})
    # One trailing newline (as `echo` writes it) is not part of the secret.
    assert cfg.store.url == DB_URL
    assert "s3cret" not in cfg.redacted("store.url")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "smppd.toml:2: store.url: credential db-url: CREDENTIALS_DIRECTORY is not set"),
        (
            {"CREDENTIALS_DIRECTORY": "MISSING"},
            "smppd.toml:2: store.url: credential db-url: no such file in CREDENTIALS_DIRECTORY",
        ),
    ],
)
def test_a_missing_credential_names_the_key_and_the_credential(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    path = _config(tmp_path, '[store]\nurl = "${credential:db-url}"\n')
    env = {k: str(tmp_path / v) for k, v in env.items()}
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    messages = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert len(messages) == 1
    assert messages[0].startswith(expected)
