"""A throwaway Dovecot IMAP server for the tests: its own config, users, mail and port.

Debian's ``dovecot-imapd`` (``.ci/run`` installs it). The test that needs it fails
under ``CI=true`` when it is missing and skips with a message elsewhere.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CI

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 0
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    user = {user}
  }}
  unix_listener stats-writer {{
    user = {user}
  }}
}}
"""


@dataclass(frozen=True)
class Dovecot:
    host: str
    port: int
    login: str
    password: str
    root: Path

    def url(self, folder: str = "INBOX") -> str:
        return f"imap://{self.login}:{self.password}@{self.host}:{self.port}/{folder}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _account() -> tuple[str, str]:
    """Who the instance runs as: Debian's ``dovecot`` user under root, else ourselves."""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("dovecot")
            return "dovecot", "dovecot"
        except KeyError:
            pass
    me = pwd.getpwuid(os.geteuid())
    import grp

    return me.pw_name, grp.getgrgid(me.pw_gid).gr_name


def start_dovecot(root: Path) -> tuple[Dovecot, subprocess.Popen[bytes]]:
    if not os.path.exists(DOVECOT):
        message = "Dovecot is not installed (apt-get install -y dovecot-imapd)"
        if CI:
            pytest.fail(message + " — mandatory under CI=true")
        pytest.skip(message)
    user, group = _account()
    port = _free_port()
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "passwd").write_text("desk:{PLAIN}desk-secret-1::::::\n", encoding="utf-8")
    config = root / "dovecot.conf"
    config.write_text(CONFIG.format(root=root, port=port, user=user, group=group))
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            shutil.chown(path, user, group)
    proc = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            log = (
                (root / "dovecot.log").read_text(errors="replace")
                if (root / "dovecot.log").exists()
                else ""
            )
            raise RuntimeError(f"dovecot exited: {out}\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("dovecot did not answer in 20 s")
    return Dovecot("127.0.0.1", port, "desk", "desk-secret-1", root), proc


def stop_dovecot(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
