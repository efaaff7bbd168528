"""Bulk outreach: upload a list → preview → columns → channels → message → check (reasons,
table, report) → cost → confirm → live progress → results.

Thin: every count, verdict, page of rows and file comes from :mod:`hde_core.services.bulk`.
The session keeps small things only (the upload's path, the widgets' values, the campaign
key); lists and verdicts stay in the core, so a 100,000-row list never reaches the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import streamlit as st

from hde_core.console import current_lang, formatter, get_app, page, tr
from hde_core.console.nav import existing_pages
from hde_core.domain.channels import ChannelKind
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import MessageStatus
from hde_core.errors import HdeError
from hde_core.services import bulk, bulk_runs, campaigns
from hde_core.services.reference import ticket_form_options

user = page("nav.bulk", Permission.CREATE_TICKET)
app = get_app()
lang = current_lang()
S = st.session_state
CSV_MIME = "text/csv"
CAMPAIGNS_PAGE = "pages/3_campaigns.py"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Values typed in the wizard survive a step being hidden for a moment (Streamlit forgets
#: the value of a widget that is not drawn in a run).
KEPT = ("bulk_channels", "bulk_subject", "bulk_body", "bulk_department", "bulk_priority")
for _key in KEPT:
    if _key in S:
        S[_key] = S[_key]


def _reset() -> None:
    """Start over with a new list (the launched campaign goes on, of course)."""
    round_ = S.get("bulk_round", 0) + 1
    for key in [str(k) for k in S]:
        if key.startswith("bulk_") and not key.startswith("bulk_file_"):
            del S[key]
    S["bulk_round"] = round_


def _insert_placeholder() -> None:
    column = S.get("bulk_column")
    if column:
        S["bulk_body"] = (S.get("bulk_body") or "") + bulk.placeholder_for(column)


def _first_page() -> None:
    S["bulk_page"] = 1


def _file_bytes(make: Callable[[str], Path], fmt: str) -> bytes:
    return make(fmt).read_bytes()


def _downloads(prefix: str, make: Callable[[str], Path], name: Callable[[str], str]) -> None:
    """CSV and XLSX buttons; the file is written by the core only when one is clicked."""
    left, right, _ = st.columns([1, 1, 3])
    for column, fmt, mime in ((left, "csv", CSV_MIME), (right, "xlsx", XLSX_MIME)):
        column.download_button(
            tr(f"bulk.download.{fmt}"),
            data=partial(_file_bytes, make, fmt),
            file_name=name(fmt),
            mime=mime,
            key=f"{prefix}_{fmt}",
            on_click="ignore",
            icon=":material/download:",
        )


def wizard() -> None:
    st.caption(tr("bulk.intro"))
    # -- 1. the list ---------------------------------------------------------------------
    st.subheader(tr("bulk.step.upload"))
    limit = app.settings.upload_limit_mb
    file = st.file_uploader(
        tr("bulk.upload.label"),
        type=["csv", "txt", "tsv", "xlsx", "xls"],  # .xls: the core explains what to do
        max_upload_size=limit,
        key=f"bulk_file_{S.get('bulk_round', 0)}",
        help=tr("bulk.upload.help", limit=limit),
    )
    if file is None:
        for key in ("bulk_upload", "bulk_facts", "bulk_file_id", "bulk_checked"):
            S.pop(key, None)
        return
    if S.get("bulk_file_id") != file.file_id:
        S["bulk_file_id"] = file.file_id
        for key in ("bulk_upload", "bulk_facts", "bulk_checked", "bulk_upload_error"):
            S.pop(key, None)
        try:
            with st.spinner(tr("bulk.upload.reading")):
                stored = bulk.store_upload(app, file.name, file.getvalue())
                inspected = bulk.inspect_upload(app, stored)
        except HdeError as exc:
            S["bulk_upload_error"] = exc.message(lang)
        else:
            S["bulk_upload"], S["bulk_facts"] = stored, inspected
            for role in bulk.ROLES:
                S[f"bulk_map_{role}"] = inspected.mapping.get(role, "")
    if S.get("bulk_upload_error"):
        st.error(S["bulk_upload_error"])
        return
    upload: bulk.Upload = S["bulk_upload"]
    facts: bulk.ListFacts = S["bulk_facts"]

    # -- 2. preview ------------------------------------------------------------------------
    st.subheader(tr("bulk.step.preview"))
    if facts.format == "xlsx":
        st.markdown(tr("bulk.preview.xlsx", name=facts.name, rows=facts.rows, sheet=facts.sheet))
    else:
        delimiter = {"\t": tr("cli.validate.tab")}.get(facts.delimiter or "", facts.delimiter)
        st.markdown(
            tr(
                "bulk.preview.csv",
                name=facts.name,
                rows=facts.rows,
                encoding=facts.encoding,
                delimiter=delimiter,
            )
        )
    st.dataframe(
        bulk.preview_rows(app, upload, facts.mapping),
        hide_index=True,
        key="bulk_preview",
        height=min(38 + 35 * min(facts.rows, bulk.PREVIEW_ROWS), 420),
    )
    if facts.rows > bulk.PREVIEW_ROWS:
        st.caption(tr("bulk.preview.first", shown=bulk.PREVIEW_ROWS, rows=facts.rows))

    # -- 3. columns ------------------------------------------------------------------------
    st.subheader(tr("bulk.step.mapping"))
    st.caption(tr(f"bulk.mapping.source.{facts.mapping_source}"))
    none = tr("bulk.mapping.none")
    options = ["", *facts.headers]
    mapping: dict[str, str] = {}
    for column, role in zip(st.columns(len(bulk.ROLES)), bulk.ROLES, strict=True):
        key = f"bulk_map_{role}"
        if S.get(key) not in options:
            S[key] = ""
        mapping[role] = column.selectbox(
            tr(f"lists.role.{role}"), options, key=key, format_func=lambda v: v or none
        )
    others = [h for h in facts.headers if h not in mapping.values()]
    if others:
        st.caption(tr("bulk.mapping.others", columns=", ".join(others)))

    # -- 4. channels -----------------------------------------------------------------------
    st.subheader(tr("bulk.step.channels"))
    choices = {c.name: c for c in bulk.channel_choices(app)}
    if not choices:
        st.info(tr("home.no_channels"))
        return
    off = tr("bulk.channels.unavailable")
    labels = {
        c.name: f"{c.name} ({c.kind})" + ("" if c.available else f" — {off}")
        for c in choices.values()
    }
    S["bulk_channels"] = [c for c in S.get("bulk_channels", []) if c in choices]
    channels: list[str] = st.multiselect(
        tr("bulk.channels.label"),
        list(choices),
        key="bulk_channels",
        format_func=labels.__getitem__,
        help=tr("bulk.channels.help"),
        placeholder=tr("bulk.channels.placeholder"),
    )
    if len(channels) > 1:
        st.caption(tr("bulk.channels.order", order=" → ".join(channels)))

    # -- 5. message ------------------------------------------------------------------------
    st.subheader(tr("bulk.step.message"))
    subject = st.text_input(tr("ticket.subject") + " *", key="bulk_subject")
    column_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    column_col.selectbox(tr("bulk.message.column"), list(facts.headers), key="bulk_column")
    button_col.button(tr("bulk.message.insert"), on_click=_insert_placeholder, key="bulk_insert")
    body = st.text_area(
        tr("ticket.body") + " *", key="bulk_body", height=140, help=tr("bulk.message.help")
    )
    form = ticket_form_options(app)
    left, right = st.columns(2)
    department = None
    emails = [choices[c] for c in channels if choices[c].kind == ChannelKind.EMAIL]
    if emails:
        own = emails[0]
        by_channel = tr("bulk.message.department_default", department=own.department or "—")
        department = left.selectbox(
            tr("ticket.department"),
            ["", *(d.name for d in form.departments)],
            key="bulk_department",
            format_func=lambda v: v or by_channel,
        )
        mailbox = next(
            (d.mailbox for d in form.departments if d.name == department), own.mailbox or "—"
        )
        left.caption(tr("ticket.sender_mailbox", mailbox=mailbox))
    if S.get("bulk_priority") not in form.priorities:
        S["bulk_priority"] = "normal"
    priority = right.selectbox(
        tr("ticket.priority"),
        form.priorities,
        format_func=formatter("priority"),
        key="bulk_priority",
    )
    wa = bulk.wa_options(app, channels)
    template: bulk.TemplateChoice | None = None
    params: dict[str, str] = {}
    if wa is not None:
        st.markdown(tr("bulk.wa.title", channel=wa.channel))
        by_ref = {tpl.ref: tpl for tpl in wa.templates}
        default_label = (
            tr("bulk.wa.default", ref=wa.default, category=wa.default_category)
            if wa.default
            else tr("bulk.wa.no_default")
        )
        ref = st.selectbox(
            tr("bulk.wa.template"),
            ["", *by_ref],
            key="bulk_template",
            format_func=lambda v: v or default_label,
            help=tr("bulk.wa.help"),
        )
        template = by_ref.get(ref) if ref else None
        if template is not None:
            st.caption(tr("bulk.wa.category", category=template.category))
            for column, name in zip(
                st.columns(max(1, len(template.params))), template.params, strict=False
            ):
                params[name] = column.selectbox(
                    tr("bulk.wa.param", param=name),
                    ["", *facts.headers],
                    key=f"bulk_param_{name}",
                    format_func=lambda v: v or none,
                )
    if subject.strip() and body.strip():
        shown = bulk.preview_message(
            app, upload, mapping, subject, body, template=template, params=params, lang=lang
        )
        with st.container(border=True):
            st.caption(tr("bulk.message.preview"))
            if shown.error:
                st.error(shown.error)
            else:
                st.markdown(f"**{shown.subject}**")
                st.text(shown.body)
                if shown.template is not None:
                    st.caption(tr("bulk.wa.preview"))
                    st.text(shown.template)

    # -- 6. check --------------------------------------------------------------------------
    st.subheader(tr("bulk.step.check"))
    missing = []
    if not channels:
        missing.append(tr("bulk.check.need_channel"))
    if not subject.strip() or not body.strip():
        missing.append(tr("bulk.check.need_message"))
    if template is not None and not all(params.values()):
        missing.append(tr("bulk.check.need_params"))
    if missing:
        st.info(tr("bulk.check.missing", what="; ".join(missing)))
        return
    draft = bulk.make_draft(
        upload,
        mapping,
        channels,
        subject,
        body,
        department=department,
        priority=priority,
        template=template.ref if template else None,
        params=params,
    )
    if st.button(tr("bulk.check.button"), key="bulk_check", type="primary"):
        try:
            with st.spinner(tr("bulk.check.running", rows=facts.rows)):
                bulk.remember_mapping(app, upload, mapping, user.login)
                bulk.check(app, draft)
        except HdeError as exc:
            S.pop("bulk_checked", None)
            st.error(exc.message(lang))
            return
        S["bulk_checked"] = draft.fingerprint
        S["bulk_page"] = 1
        st.toast(tr("bulk.check.mapping_saved"))
    checked = S.get("bulk_checked")
    if checked is None:
        return
    if checked != draft.fingerprint:
        st.info(tr("bulk.check.changed"))
        return
    try:
        with st.spinner(tr("bulk.check.running", rows=facts.rows)):
            found = bulk.check(app, draft)  # kept by the core for a few minutes
    except HdeError as exc:
        st.error(exc.message(lang))
        return
    report(found, upload)
    cost(found)
    confirm(found, draft)


def report(found: bulk.Check, upload: bulk.Upload) -> None:
    summary = found.summary
    cols = st.columns(4)
    cols[0].metric(tr("bulk.report.rows"), summary["rows"])
    cols[1].metric(tr("bulk.report.eligible"), summary["eligible"])
    cols[2].metric(tr("bulk.report.refused"), summary["rows"] - summary["eligible"])
    cols[3].metric(tr("bulk.report.templates"), found.template_messages)
    left, right = st.columns(2)
    with left:
        st.markdown(tr("bulk.report.will_send"))
        actions = bulk.action_lines(found, lang)
        if actions:
            lines = [(a.count, a.text) for a in actions] + [
                (n, tr("bulk.report.via", channel=name))
                for name, n in found.per_channel.items()
                if n
            ]
            st.markdown("\n".join(tr("bulk.report.line", count=n, text=x) for n, x in lines))
        else:
            st.warning(tr("bulk.report.nobody"))
    with right:
        st.markdown(tr("bulk.report.will_not_send"))
        reasons = bulk.reason_lines(found, lang)
        if reasons:
            st.markdown(
                "\n".join(
                    tr("bulk.report.reason_line", count=r.count, text=r.text, code=r.code)
                    for r in reasons
                )
            )
        else:
            st.success(tr("bulk.report.all_ok"))

    labels = {
        bulk.SHOW_ALL: tr("bulk.report.show.all"),
        bulk.SHOW_ELIGIBLE: tr("bulk.report.show.eligible"),
        bulk.SHOW_PROBLEMS: tr("bulk.report.show.problems"),
    } | {line.code: tr(f"reason.{line.code}", field="…") for line in bulk.reason_lines(found, lang)}
    show_col, page_col = st.columns([3, 1])
    options = bulk.show_options(found)
    if S.get("bulk_show") not in options:
        S["bulk_show"] = bulk.SHOW_ALL
    show = show_col.selectbox(
        tr("bulk.report.show.label"),
        options,
        key="bulk_show",
        format_func=labels.__getitem__,
        on_change=_first_page,
    )
    rows = bulk.rows_page(found, show, int(S.get("bulk_page") or 1), lang=lang)
    S["bulk_page"] = rows.page  # clamped to the pages there are
    page_col.number_input(
        tr("bulk.report.page"), min_value=1, max_value=rows.pages, step=1, key="bulk_page"
    )
    st.dataframe(rows.records(), hide_index=True, key="bulk_rows")
    start = (rows.page - 1) * bulk.PAGE_SIZE
    st.caption(
        tr(
            "bulk.report.shown",
            first=min(start + 1, rows.matching),
            last=min(start + bulk.PAGE_SIZE, rows.matching),
            matching=rows.matching,
            page=rows.page,
            pages=rows.pages,
        )
    )
    st.markdown(tr("bulk.report.download"))
    draft = found.draft
    _downloads(
        "bulk_report",
        lambda fmt: bulk.validation_report(app, draft, fmt, lang),
        lambda fmt: bulk.report_file_name(upload, fmt),
    )


def cost(found: bulk.Check) -> None:
    st.subheader(tr("bulk.step.cost"))
    estimate = found.estimate
    if not found.template_messages:
        st.success(tr("bulk.cost.none"))
        return
    totals = ", ".join(f"{bulk.money(v)} {c}" for c, v in sorted(estimate.totals.items())) or "—"
    cols = st.columns(2)
    cols[0].metric(tr("bulk.cost.messages"), estimate.messages)
    cols[1].metric(tr("bulk.cost.total"), totals)
    st.dataframe(
        [
            {
                tr("bulk.cost.col.category"): line.category,
                tr("bulk.cost.col.country"): line.country,
                tr("bulk.cost.col.messages"): line.messages,
                tr("bulk.cost.col.price"): (
                    f"{bulk.money(line.unit_price)} {line.currency}"
                    if line.unit_price is not None
                    else "—"
                ),
                tr("bulk.cost.col.cost"): (
                    f"{bulk.money(line.cost)} {line.currency}" if line.cost is not None else "—"
                ),
            }
            for line in estimate.lines
        ],
        hide_index=True,
        key="bulk_cost",
    )
    if estimate.unpriced:
        st.warning(tr("bulk.cost.unpriced", count=estimate.unpriced))
    st.caption(tr("bulk.cost.help"))


def confirm(found: bulk.Check, draft: bulk.Draft) -> None:
    st.subheader(tr("bulk.step.confirm"))
    if not user.can(Permission.BULK_SEND):
        st.warning(tr("bulk.confirm.forbidden", role=tr(f"role.{user.role.value}")))
        return
    eligible = found.summary["eligible"]
    if not eligible:
        st.warning(tr("bulk.confirm.nothing"))
        return
    key = bulk_runs.launch_key(app, found.key)
    if S.get("bulk_launched") == key:
        st.success(tr("bulk.confirm.launched", campaign=key))
        return
    before = bulk_runs.previous_run(app, found)
    if before is not None:
        st.info(
            tr(
                "bulk.confirm.previous",
                campaign=before.key,
                status=tr(f"cli.campaign.status.{before.status}"),
                by=before.created_by,
                at=f"{before.created_at.astimezone():%Y-%m-%d %H:%M}",
                tickets=before.tickets,
            )
        )
    name = st.text_input(
        tr("bulk.confirm.name"), key="bulk_name", placeholder=draft.upload.name, max_chars=200
    )
    totals = ", ".join(f"{bulk.money(v)} {c}" for c, v in sorted(found.estimate.totals.items()))
    sure = st.checkbox(
        tr(
            "bulk.confirm.sure",
            eligible=eligible,
            templates=found.template_messages,
            cost=totals or "0",
        ),
        key="bulk_sure",
    )
    if st.button(tr("bulk.confirm.button"), key="bulk_launch", type="primary", disabled=not sure):
        try:
            S["bulk_launched"] = bulk_runs.start_launch(app, draft, user.login, name)
        except HdeError as exc:
            st.error(exc.message(lang))
            return
        st.rerun()


def progress_section(key: str) -> None:
    st.subheader(tr("bulk.step.progress"))
    try:
        live = not bulk_runs.progress(app, key).finished
    except HdeError as exc:
        st.warning(exc.message(lang))
        return

    @st.fragment(run_every=1.0 if live else None)
    def panel() -> None:
        state = bulk_runs.progress(app, key)
        draw_progress(state)
        if live and state.finished:
            st.rerun()  # the whole page: stop refreshing, offer the results

    panel()
    st.button(tr("bulk.new_list"), key="bulk_new", on_click=_reset, icon=":material/restart_alt:")


def _control(action: str, key: str) -> None:
    fn = {"pause": campaigns.pause, "resume": campaigns.resume, "cancel": campaigns.cancel}[action]
    try:
        fn(app, key, user.login)
    except HdeError as exc:
        S["bulk_notice"] = exc.message(lang)


def draw_progress(state: bulk_runs.Progress) -> None:
    st.markdown(
        tr(
            "bulk.progress.campaign",
            name=state.name or state.key,
            campaign=state.key,
            status=tr(f"bulk.stage.{state.stage}"),
        )
    )
    if state.error is not None:
        st.error(tr("bulk.progress.failed", error=state.error.message(lang)))
    if state.creating:
        if state.phase == "validate" or not state.to_create:
            st.progress(0.0, text=tr("bulk.progress.validating"))
        else:
            st.progress(
                min(state.created / state.to_create, 1.0),
                text=tr("bulk.progress.creating", done=state.created, total=state.to_create),
            )
    if state.campaign_id is None:
        return
    st.progress(
        state.fraction,
        text=tr("bulk.progress.messages", settled=state.settled, total=state.total),
    )
    statuses = [s.value for s in MessageStatus]
    for row in (statuses[:5], statuses[5:]):
        for column, name in zip(st.columns(len(row)), row, strict=True):
            column.metric(tr(f"status.{name}"), state.counts.get(name, 0))
    notice = S.pop("bulk_notice", None)
    if notice:
        st.error(notice)
    if state.stage == "cancelled":
        st.warning(tr("bulk.progress.cancelled", count=state.counts.get("cancelled", 0)))
    elif state.finished and state.error is None:
        st.success(
            tr(
                "bulk.progress.finished",
                sent=sum(state.counts.get(s, 0) for s in ("sent", "delivered", "read")),
                failed=state.counts.get("failed", 0),
                held=state.counts.get("held", 0),
            )
        )
    if state.counts.get("held"):
        st.info(tr("bulk.progress.held", count=state.counts["held"]))
    if state.interrupted:
        st.warning(tr("bulk.progress.interrupted", tickets=state.tickets, eligible=state.eligible))
    if (
        user.can(Permission.BULK_SEND)
        and state.status in ("running", "paused")
        and not state.finished
    ):
        left, middle, right = st.columns([1, 1, 2])
        if state.status == "paused":
            left.button(
                tr("bulk.progress.resume"),
                key="bulk_resume",
                on_click=_control,
                args=("resume", state.key),
            )
        else:
            left.button(
                tr("bulk.progress.pause"),
                key="bulk_pause",
                on_click=_control,
                args=("pause", state.key),
            )
        sure = right.checkbox(tr("bulk.progress.cancel_sure"), key="bulk_cancel_sure")
        middle.button(
            tr("bulk.progress.cancel"),
            key="bulk_cancel",
            disabled=not sure,
            on_click=_control,
            args=("cancel", state.key),
        )
    # -- 10. results ------------------------------------------------------------------------
    st.markdown(tr("bulk.results.title"))
    _downloads(
        "bulk_results",
        lambda fmt: bulk_runs.results_file(app, state.key, fmt, lang),
        lambda fmt: f"{bulk.safe_file_name(state.key)}-results.{fmt}",
    )
    has_campaigns_page = any(p.path == CAMPAIGNS_PAGE for p in existing_pages())
    if has_campaigns_page and st.button(tr("bulk.results.open_campaign"), key="bulk_open_campaign"):
        S["cp_campaign"] = state.campaign_id  # the campaigns page's own choice widget
        st.switch_page(CAMPAIGNS_PAGE)


wizard()
if S.get("bulk_launched"):
    progress_section(S["bulk_launched"])
