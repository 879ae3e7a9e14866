"""``[smtp]`` (the invitations' mail server, H7): typed, unknown keys refused with the line, the
password from ``password_file`` (never both), the shipped example's section loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector import config
from collector.planning.mailer import MailError, SmtpSection
from likavillkor.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_has_an_smtp_section_that_loads() -> None:
    cfg = config.load(ROOT / "deploy/collector.example.toml", environ={})
    assert cfg.smtp.port == 587 and cfg.smtp.security == "starttls" and not cfg.smtp.configured


def test_an_unknown_smtp_key_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[smtp]\nhost = "smtp.kommun.se"\nsender = "s@kommun.se"\npasword = "typo"\n')
    with pytest.raises(ConfigError) as err:
        config.load(f, environ={})
    assert err.value.line == 4 and "smtp.pasword" in str(err.value)


def test_a_bad_security_value_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[smtp]\nsecurity = "ssl"\n')
    with pytest.raises(ConfigError, match="starttls, tls or none"):
        config.load(f, environ={})


def test_the_password_comes_from_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("rätt-lösen-123\nignored second line\n", encoding="utf-8")
    f = tmp_path / "c.toml"
    f.write_text(f'[smtp]\nhost = "smtp.kommun.se"\nsender = "s@kommun.se"\npassword_file = "{secret}"\n')
    cfg = config.load(f, environ={})
    assert cfg.smtp.configured and cfg.smtp.secret() == "rätt-lösen-123"
    assert SmtpSection(password="inline").secret() == "inline"


def test_password_and_password_file_together_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[smtp]\npassword = "a"\npassword_file = "/x"\n')
    with pytest.raises(ConfigError, match="not both"):
        config.load(f, environ={})


def test_an_unreadable_password_file_is_a_swedish_message(tmp_path: Path) -> None:
    with pytest.raises(MailError) as err:
        SmtpSection(password_file=str(tmp_path / "missing")).secret()
    assert "Lösenordsfilen" in err.value.message_sv
