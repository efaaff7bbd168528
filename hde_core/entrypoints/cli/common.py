"""What every command shares: the app, the actor, output in the user's language, JSON."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from hde_core.bootstrap import App, bootstrap
from hde_core.domain.roles import Permission
from hde_core.i18n import t
from hde_core.services.authz import authorize

F = TypeVar("F", bound=Callable[..., Any])


class CliState:
    """Lazily built per invocation, so ``hde --help`` needs no database."""

    def __init__(self, actor: str | None) -> None:
        self.actor = actor or default_actor()
        self._app: App | None = None

    def app(self, check_schema: bool = True) -> App:
        if self._app is None:
            self._app = bootstrap(check_schema=check_schema)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "cli"


pass_state = click.make_pass_decorator(CliState)


def say(key: str, **params: Any) -> None:
    click.echo(t(key, **params))


def warn(key: str, **params: Any) -> None:
    click.echo(t(key, **params), err=True)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def exit_with(code: int) -> None:
    sys.exit(code)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(f)  # type: ignore[return-value]


def needs_app(f: F) -> F:
    """Pass the bootstrapped app (schema checked) as the first argument after the state.

    The command acts as ``--actor`` (``HDE_ACTOR``, default the OS user), who must be an
    existing active console user: anyone else is refused here with one line, exit 2.
    What the actor may change is then checked by each use case (SPEC §6).
    """

    @wraps(f)
    def wrapper(state: CliState, *args: Any, **kwargs: Any) -> Any:
        app = state.app()
        authorize(app, state.actor, Permission.VIEW)
        return f(state, app, *args, **kwargs)

    return pass_state(wrapper)  # type: ignore[return-value]


def needs_app_as_process(f: F) -> F:
    """Like :func:`needs_app` for what runs as the product itself, with no actor to check
    (the worker, polling) or before any user exists (creating the first admin)."""

    @wraps(f)
    def wrapper(state: CliState, *args: Any, **kwargs: Any) -> Any:
        return f(state, state.app(), *args, **kwargs)

    return pass_state(wrapper)  # type: ignore[return-value]
