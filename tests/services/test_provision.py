"""`hde provision`: idempotent, updates what changed, refuses bad files whole."""

import pytest
from sqlalchemy import func, select

from hde_core.db.models import AuditEvent, Channel, CustomField, Department
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import ProvisionInvalid, provision
from tests.services.helpers import provision_text


def count(app, model):
    with app.db.reader() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_second_run_changes_nothing(app, tmp_path):
    path = provision_text(tmp_path, "smtp://127.0.0.1:2525")
    first = provision(app, path, actor=SYSTEM)
    assert first.changed == 7
    second = provision(app, path, actor=SYSTEM)
    assert (second.changed, second.unchanged) == (0, 7)
    assert count(app, Department) == 2


def test_changed_value_is_updated(app, tmp_path):
    path = provision_text(tmp_path, "smtp://127.0.0.1:2525")
    provision(app, path, actor=SYSTEM)
    path.write_text(path.read_text().replace("it@company.com", "helpdesk@company.com"))
    report = provision(app, path, actor=SYSTEM)
    assert report.changes == ["department 'IT': updated"]
    with app.db.reader() as s:
        assert (
            s.scalar(select(Department.mailbox).where(Department.name == "IT"))
            == "helpdesk@company.com"
        )


def test_smtp_url_is_stored_encrypted(app, tmp_path):
    provision(app, provision_text(tmp_path, "smtp://user:s3cret-pass@127.0.0.1:2525"), actor=SYSTEM)
    with app.db.reader() as s:
        stored = s.scalar(select(Department.smtp_url_enc).where(Department.name == "IT"))
    assert "s3cret-pass" not in stored
    assert app.secrets.decrypt(stored) == "smtp://user:s3cret-pass@127.0.0.1:2525"


def test_unknown_key_and_bad_value_are_refused_with_line_and_nothing_applied(app, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[departments]]\nname = "IT"\nmailbox = "it@company.com"\n\n'
        '[[channels]]\nname = "email"\nkind = "emial"\ncolour = "red"\n',
        encoding="utf-8",
    )
    with pytest.raises(ProvisionInvalid) as info:
        provision(app, path, actor=SYSTEM)
    problems = {(p.line, p.key) for p in info.value.problems}
    assert (7, "channels.0.kind") in problems
    assert (8, "channels.0.colour") in problems
    assert count(app, Department) == 0
    assert count(app, AuditEvent) == 0


def test_toml_syntax_error_is_reported(app, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[[departments]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ProvisionInvalid) as info:
        provision(app, path, actor=SYSTEM)
    assert "line 1" in info.value.problems[0].message


def test_secrets_from_environment(app, tmp_path, monkeypatch):
    path = tmp_path / "env.toml"
    path.write_text(
        '[[channels]]\nname = "tg"\nkind = "telegram"\n[channels.credentials]\ntoken = "${TG_TOKEN}"\n',
        encoding="utf-8",
    )
    with pytest.raises(ProvisionInvalid) as info:
        provision(app, path, actor=SYSTEM)
    assert "TG_TOKEN is not set" in str(info.value.problems[0])
    monkeypatch.setenv("TG_TOKEN", "123:ABC")
    provision(app, path, actor=SYSTEM)
    with app.db.reader() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "tg"))
    assert "123:ABC" not in (channel.credentials_enc or "")
    assert app.secrets.decrypt_json(channel.credentials_enc) == {"token": "123:ABC"}


def test_required_flag_round_trips(app, tmp_path):
    provision(app, provision_text(tmp_path, "smtp://127.0.0.1:2525"), actor=SYSTEM)
    with app.db.reader() as s:
        assert dict(s.execute(select(CustomField.key, CustomField.required)).all()) == {
            "order_id": True,
            "city": False,
        }


def test_dry_run_changes_nothing(app, tmp_path):
    report = provision(app, provision_text(tmp_path, "smtp://127.0.0.1:2525"), SYSTEM, dry_run=True)
    assert report.changed == 7
    assert count(app, Department) == 0


def test_addresses_from_environment(app, tmp_path, monkeypatch):
    monkeypatch.setenv("SIM_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("SINK_PORT", "2626")
    path = tmp_path / "env.toml"
    path.write_text(
        '[[departments]]\nname = "IT"\nmailbox = "it@company.com"\nsmtp_url = "smtp://127.0.0.1:${SINK_PORT}"\n\n'
        '[[channels]]\nname = "tg"\nkind = "telegram"\napi_base = "${SIM_URL}/sim/telegram"\n',
        encoding="utf-8",
    )
    provision(app, path, actor=SYSTEM)
    with app.db.reader() as s:
        assert s.scalar(select(Channel.api_base)) == "http://127.0.0.1:9999/sim/telegram"
        assert (
            app.secrets.decrypt(s.scalar(select(Department.smtp_url_enc)))
            == "smtp://127.0.0.1:2626"
        )


def test_settings_made_elsewhere_survive_a_reprovision(app, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[[channels]]\nname = "tg"\nkind = "telegram"\n[channels.settings]\nsender = "Bot"\n'
    )
    provision(app, path, actor=SYSTEM)
    with app.db.transaction() as s:
        channel = s.scalar(select(Channel))
        channel.settings = {
            **channel.settings,
            "default_template_params": {"1": "{{ contact.name }}"},
        }
    assert provision(app, path, actor=SYSTEM).changed == 0
    with app.db.reader() as s:
        assert s.scalar(select(Channel)).settings == {
            "sender": "Bot",
            "default_template_params": {"1": "{{ contact.name }}"},
        }
