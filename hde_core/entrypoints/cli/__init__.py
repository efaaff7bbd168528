"""The ``hde`` command line (SPEC §4). Also ``python -m hde_core``.

Exit codes: 0 success; 1 the work ran but something was refused (the summary
says what); 2 bad usage or unreadable input (one clear line, no traceback,
nothing written); 3 an internal error (details in the log with ``HDE_DEBUG=1``).
"""

from __future__ import annotations

import logging
import os
import sys

import click

from hde_core.bootstrap import configure_logging
from hde_core.entrypoints import demo, mailin, webhooks
from hde_core.entrypoints.cli import (
    admin,
    campaigns,
    channels,
    conversation,
    lists,
    templates,
    tickets,
)
from hde_core.entrypoints.cli.common import CliState
from hde_core.errors import HdeError
from hde_core.i18n import t

log = logging.getLogger("hde")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--actor", envvar="HDE_ACTOR", help="Who is acting, for the audit trail (default: OS user)."
)
@click.version_option(package_name="hde-outreach", message="hde %(version)s")
@click.pass_context
def cli(ctx: click.Context, actor: str | None) -> None:
    """HDE Outreach: write to clients first, over email and messengers."""
    ctx.obj = CliState(actor)
    ctx.call_on_close(ctx.obj.close)


#: Command modules, registered explicitly (each adds its commands to ``cli``).
for module in (
    admin,
    tickets,
    conversation,
    demo,
    webhooks,
    mailin,
    templates,
    lists,
    campaigns,
    channels,
):
    module.register(cli)


def main(argv: list[str] | None = None) -> None:
    debug = os.environ.get("HDE_DEBUG", "") not in ("", "0")
    configure_logging(logging.DEBUG if debug else logging.WARNING)
    try:
        rv = cli.main(args=argv, prog_name="hde", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo(t("cli.aborted"), err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except HdeError as exc:
        click.echo(exc.message(), err=True)
        for line in getattr(exc, "problems", []) or []:
            click.echo(f"  - {line}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - one line for people, the traceback for the log
        if debug:
            log.exception("internal error")
        click.echo(t("cli.internal_error", error=f"{type(exc).__name__}: {exc}"), err=True)
        sys.exit(3)
    sys.exit(rv if isinstance(rv, int) else 0)
