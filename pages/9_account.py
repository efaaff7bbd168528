"""The signed-in user's own account: change the password (issue 16.1). Every other console
session of the user ends; this one stays."""

from __future__ import annotations

from hde_core.console import current_lang, get_app, page, tr
from hde_core.console.auth import password_form

user = page("nav.account")
password_form(get_app(), user, tr, current_lang())
