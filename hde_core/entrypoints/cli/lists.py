"""``hde validate LIST --channel NAME[,NAME…]``: who in a contact list can be reached, and why not.

Thin: reading, mapping and the verdicts live in :mod:`hde_core.services.lists`. A list that
cannot be read stops with one line and exit code 2 before anything is written; otherwise
the summary (or SPEC §4 JSON) is printed, the report written, and the exit code is 1 when
some rows cannot be sent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import CustomField
from hde_core.domain.reasons import Action, Reason
from hde_core.entrypoints.cli.common import CliState, json_option, needs_app, print_json, say, warn
from hde_core.errors import UsageError
from hde_core.i18n import t

if TYPE_CHECKING:  # the list engine (pyarrow, numpy) loads only when a list is validated
    from hde_core.services.lists import LoadedList, ValidationResult


def parse_maps(items: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        role, sep, column = item.partition("=")
        if not sep or not role.strip():
            raise UsageError("lists.error.map_syntax", item=item)
        mapping[role.strip().lower()] = column.strip()
    return mapping


def required_columns(app: App, loaded: LoadedList, extra: tuple[str, ...]) -> list[str]:
    """``--require`` columns, plus required custom fields the list has a column for."""
    required = list(extra)
    by_name = {h.casefold(): h for h in loaded.headers}
    with app.db.reader() as session:
        for custom in session.scalars(select(CustomField).where(CustomField.required.is_(True))):
            column = by_name.get(custom.key.casefold()) or by_name.get(custom.label.casefold())
            if column is None:
                warn("cli.validate.required_absent", field=custom.key)
            elif column not in required:
                required.append(column)
    return required


@contextmanager
def progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=100, label=t("cli.validate.progress"), file=sys.stderr) as bar:

        def tick(done: int, total: int) -> None:
            bar.update(int(100 * done / total) - bar.pos)

        yield tick


def print_summary(loaded: LoadedList, result: ValidationResult) -> None:
    if loaded.format == "xlsx":
        say("cli.validate.read_xlsx", name=loaded.name, rows=loaded.row_count, sheet=loaded.sheet)
    else:
        delimiter = t("cli.validate.tab") if loaded.delimiter == "\t" else f'"{loaded.delimiter}"'
        say(
            "cli.validate.read_csv",
            name=loaded.name,
            rows=loaded.row_count,
            encoding=loaded.encoding,
            delimiter=delimiter,
        )
    if loaded.mapping:
        source = loaded.mapping_source.split("+")[0]
        say(
            "cli.validate.columns",
            mapping=", ".join(f'{t(f"lists.role.{r}")} → "{c}"' for r, c in loaded.mapping.items()),
            source=t(f"cli.validate.source_{source}"),
        )
    else:
        say("cli.validate.columns_none")
    summary = result.summary()
    say("cli.validate.eligible", eligible=summary["eligible"], rows=summary["rows"])
    for action, count in summary["actions"].items():
        if count:
            say("cli.validate.action", action=t(f"action.{Action(action).value}"), count=count)
    refused = summary["rows"] - summary["eligible"]
    if refused:
        say("cli.validate.not_eligible", count=refused)
        for code, count in summary["reasons"].items():
            if count:
                message = t(f"reason.{Reason(code).value}", field="…")
                say("cli.validate.reason", code=code, count=count, message=message)


@click.command()
@click.argument("list_path", metavar="LIST", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--channel",
    "channels",
    required=True,
    metavar="NAME[,NAME…]",
    help="Channel, or an ordered fallback list: the first channel a row is eligible on wins.",
)
@click.option(
    "--report",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write one row per input row (code, reason, action) to OUT.csv or OUT.xlsx.",
)
@click.option("--sheet", default=None, help="XLSX sheet to read (default: the first).")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="ROLE=COLUMN",
    help="Column for email, phone, telegram, viber or name (repeatable); saved for lists of this shape.",
)
@click.option(
    "--require",
    "required",
    multiple=True,
    metavar="COLUMN",
    help="A column every row must fill (template parameter, placeholder; repeatable).",
)
@click.option(
    "--check-deliverability",
    is_flag=True,
    help="Also ask DNS whether each email domain accepts mail (once per domain; slow).",
)
@json_option
@needs_app
def validate(
    state: CliState,
    app: App,
    list_path: Path,
    channels: str,
    report: Path | None,
    sheet: str | None,
    maps: tuple[str, ...],
    required: tuple[str, ...],
    check_deliverability: bool,
    as_json: bool,
) -> int:
    """Check every row of a CSV/XLSX contact list against the channel(s), before sending."""
    from hde_core.lists.report import check_report_path
    from hde_core.services.lists import load_list, save_mapping, validate_list, write_report

    mapping = parse_maps(maps)
    if report is not None:
        check_report_path(report)
    loaded = load_list(app, list_path, sheet=sheet, mapping=mapping or None)
    required_fields = required_columns(app, loaded, required)
    with progress_bar() as tick:
        result = validate_list(
            app,
            loaded,
            channels,
            required_fields=required_fields,
            check_deliverability=check_deliverability,
            progress=tick,
        )
    if mapping:
        save_mapping(app, loaded, loaded.mapping, state.actor)
    if report is not None:
        write_report(result, report)
    if as_json:
        print_json(result.summary())
    else:
        print_summary(loaded, result)
        if mapping:
            say("cli.validate.mapping_saved")
        if report is not None:
            say("cli.validate.report", path=str(report))
    return 0 if result.eligible == result.rows else 1


def register(cli: click.Group) -> None:
    cli.add_command(validate)
