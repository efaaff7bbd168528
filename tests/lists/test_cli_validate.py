"""`hde validate`: SPEC §4 JSON, reports, exit codes, one-line errors with nothing written,
a progress bar only on a terminal. Most cases call the CLI's ``main`` in this process (the
same code path, without paying for a Python start each); the real-process tests check exit
codes, stderr and the terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from hde_core.bootstrap import bootstrap
from hde_core.clock import Clock
from hde_core.db.models import ListMapping
from tests.conftest import make_settings
from tests.fixtures.lists.hostile import dimension_bomb_xlsx, repeated_headers_csv
from tests.lists.helpers import EXPECTED, FIXTURES, ORDER, mixed_setup
from tests.staff import seed_staff

ROOT = Path(__file__).resolve().parents[2]
MIXED = str(FIXTURES / "mixed_cp1251_semicolon.csv")


class Run:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def hde(monkeypatch, capsys):  # type: ignore[no-untyped-def]
    """``hde ARGS`` in this process, with ``env`` as its environment."""
    from hde_core.entrypoints.cli import main

    def run(env, *args):  # type: ignore[no-untyped-def]
        for key, value in env.items():
            if key.startswith("HDE_"):
                monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return run


def hde_process(env, *args, **kw):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "hde_core", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


@pytest.fixture
def env(cli_env, sqlite_url, data_dir):  # type: ignore[no-untyped-def]
    app = bootstrap(make_settings(sqlite_url, data_dir), clock=Clock())
    mixed_setup(app, app.clock)
    seed_staff(app)
    app.close()
    return cli_env


def mappings(sqlite_url, data_dir):  # type: ignore[no-untyped-def]
    app = bootstrap(make_settings(sqlite_url, data_dir))
    with app.db.reader() as s:
        rows = [(r.mapping, r.updated_by) for r in s.scalars(select(ListMapping))]
    app.close()
    return rows


@pytest.mark.parametrize("channel", sorted(EXPECTED))
def test_json_summary_is_spec_shape_with_the_expected_counts(hde, env, channel):
    run = hde(env, "validate", MIXED, "--channel", channel, "--require", ORDER, "--json")
    assert run.returncode == 1, run.stderr  # some rows cannot be sent
    assert run.stderr == ""  # piped: no progress bar
    summary = json.loads(run.stdout)
    expected = Counter(EXPECTED[channel])
    assert list(summary) == ["rows", "eligible", "actions", "reasons"]
    assert summary["rows"] == 9
    assert summary["eligible"] == sum(n for c, n in expected.items() if c.startswith("eligible"))
    assert summary["actions"] == {
        a: expected[f"eligible:{a}"] for a in ("send", "template_then_hold", "template_then_send")
    }
    assert {k: v for k, v in summary["reasons"].items() if v} == {
        c: n for c, n in expected.items() if not c.startswith("eligible")
    }


def test_every_reason_code_appears_across_the_channels(hde, env):
    seen = set()
    for channel in EXPECTED:
        summary = json.loads(
            hde(env, "validate", MIXED, "--channel", channel, "--require", ORDER, "--json").stdout
        )
        seen |= {c for c, n in summary["reasons"].items() if n}
        seen |= {"eligible"} if summary["eligible"] else set()
    assert seen == {
        "eligible", "missing_email", "invalid_email", "missing_phone", "invalid_phone",
        "no_prior_contact", "opted_out", "initiation_disabled", "no_default_template",
        "missing_field", "duplicate", "channel_unavailable",
    }  # fmt: skip


def test_summary_and_reports_in_both_formats(hde, env, tmp_path):
    for suffix in ("csv", "xlsx"):
        out = tmp_path / f"report.{suffix}"
        run = hde(env, "validate", MIXED, "--channel", "wab,email", "--report", str(out))
        assert run.returncode == 1, run.stderr
        assert out.exists()
    lines = run.stdout.splitlines()
    assert lines[0] == 'mixed_cp1251_semicolon.csv: 9 row(s), encoding cp1251, delimiter ";".'
    assert lines[1].startswith('Columns: email → "E-mail", phone → "Телефон", name → "ФИО"')
    assert "Can be sent: 5 of 9." in lines
    assert any(line.startswith("  duplicate: 1 — ") for line in lines)
    assert lines[-1] == f"Report written: {out}"
    text = (tmp_path / "report.csv").read_text(encoding="utf-8-sig")
    assert len(text.splitlines()) == 11  # header + 9 rows, one of them with a line break


def test_everything_eligible_exits_zero(hde, env, tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("email\nann@example.ru\nbob@example.ru\n", encoding="utf-8")
    run = hde(env, "validate", str(path), "--channel", "email", "--json")
    assert (run.returncode, json.loads(run.stdout)["eligible"]) == (0, 2)


def _long_line(tmp_path: Path) -> str:
    path = tmp_path / "long.csv"
    path.write_bytes(b"email\na@example.ru\n" + b"x" * (10 * 1024 * 1024) + b"\n")
    return str(path)


def _bomb(tmp_path: Path) -> str:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(dimension_bomb_xlsx())
    return str(path)


def _headers(tmp_path: Path) -> str:
    path = tmp_path / "x.csv"
    path.write_bytes(repeated_headers_csv())
    return str(path)


def _big(tmp_path: Path) -> str:
    path = tmp_path / "big.csv"
    path.write_bytes(b"email\n" + b"a@example.ru\n" * 100_000)
    return str(path)


@pytest.mark.parametrize(
    ("make", "extra", "expected"),
    [
        (lambda p: str(FIXTURES / "binary.png"), [], "is not a CSV or XLSX contact list"),
        (lambda p: str(FIXTURES / "empty.csv"), [], "is empty"),
        (lambda p: str(FIXTURES / "header_only.csv"), [], "has a header but no rows"),
        (lambda p: str(FIXTURES / "no_recipient_column.csv"), [], "has no column with email"),
        (lambda p: str(FIXTURES / "undetectable.csv"), [], "cannot be recognised"),
        (lambda p: str(FIXTURES / "old_excel.xls"), [], "old Excel .xls file"),
        (_long_line, [], "Line 3 of long.csv is longer than 1 MB"),
        (_bomb, [], "bomb.xlsx has at least 16,384 columns"),
        (_headers, [], "x.csv has at least 30,000 columns"),
        (_big, ["--upload-limit"], "over the upload limit of 1 MB"),
        (lambda p: str(p / "nope.csv"), [], "does not exist"),
        (lambda p: MIXED, ["--channel-name", "nope"], "There is no channel 'nope'"),
        (lambda p: MIXED, ["--map", "fax=ФИО"], "'fax' is not a column role"),
        (lambda p: MIXED, ["--map", "email=Почта"], 'has no column "Почта"'),
        (lambda p: MIXED, ["--map", "email"], "is not ROLE=COLUMN"),
        (lambda p: MIXED, ["--report-path", "report.txt"], "must end in .csv or .xlsx"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    hde, env, tmp_path, sqlite_url, data_dir, make, extra, expected
):
    source = make(tmp_path)
    channel = "email"
    report = tmp_path / "out.csv"
    args = []
    run_env = dict(env)
    if extra[:1] == ["--upload-limit"]:
        run_env["HDE_UPLOAD_LIMIT_MB"] = "1"
    elif extra[:1] == ["--channel-name"]:
        channel = extra[1]
    elif extra[:1] == ["--report-path"]:
        report = tmp_path / extra[1]
    else:
        args = extra
    run = hde(run_env, "validate", source, "--channel", channel, "--report", str(report), *args)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == ""
    assert expected in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr
    assert not report.exists() and not list(tmp_path.glob(".hde-report-*"))
    assert mappings(sqlite_url, data_dir) == []


def test_map_option_saves_the_mapping_for_the_shape(hde, env, tmp_path, sqlite_url, data_dir):
    path = tmp_path / "crm.csv"
    path.write_text("Контакт;Куда писать\nАнна;ann@example.ru\n", encoding="utf-8")
    first = hde(
        env,
        "--actor",
        "lead",
        "validate",
        str(path),
        "--channel",
        "email",
        "--map",
        "email=Куда писать",
    )
    assert first.returncode == 0, first.stderr
    assert "This column mapping is saved" in first.stdout
    assert mappings(sqlite_url, data_dir) == [({"email": "Куда писать", "name": "Контакт"}, "lead")]
    second = hde(env, "validate", str(path), "--channel", "email")
    assert second.returncode == 0 and "(the mapping saved for lists of this shape)" in second.stdout


@pytest.mark.process
def test_progress_bar_on_a_terminal_only(env):
    master, slave = pty.openpty()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "hde_core", "validate", MIXED, "--channel", "email", "--json"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=120,
        )
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert run.returncode == 1
    assert "Checking the list" in shown.decode()
    assert json.loads(run.stdout)["rows"] == 9


@pytest.mark.process
def test_real_process_exit_codes_and_clean_stderr(env, tmp_path):
    ok = hde_process(env, "validate", MIXED, "--channel", "wab", "--json")
    assert ok.returncode == 1 and ok.stderr == ""  # piped: no progress bar
    assert json.loads(ok.stdout)["rows"] == 9
    bad = hde_process(env, "validate", str(FIXTURES / "binary.png"), "--channel", "wab")
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
