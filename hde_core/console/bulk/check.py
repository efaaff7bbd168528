"""Steps 6–9 of the bulk wizard: check every row (reasons, table, report file), the cost,
then the confirmation that launches the campaign."""

from __future__ import annotations

import streamlit as st

from hde_core.console import tr
from hde_core.console.bulk import Wizard, downloads
from hde_core.console.bulk.message import Message
from hde_core.console.words import template_category
from hde_core.domain.roles import Permission
from hde_core.errors import HdeError
from hde_core.services import bulk, bulk_runs


def check(
    w: Wizard,
    upload: bulk.Upload,
    facts: bulk.ListFacts,
    mapping: dict[str, str],
    picked: list[str],
    message: Message,
) -> tuple[bulk.Draft, bulk.Check] | None:
    """6. Check the list against the draft (on a click); None until it is checked as it is."""
    S = st.session_state
    st.subheader(tr("bulk.step.check"))
    missing = []
    if not picked:
        missing.append(tr("bulk.check.need_channel"))
    if not message.subject.strip() or not message.body.strip():
        missing.append(tr("bulk.check.need_message"))
    if message.template is not None and not all(message.params.values()):
        missing.append(tr("bulk.check.need_params"))
    if missing:
        st.info(tr("bulk.check.missing", what="; ".join(missing)))
        return None
    draft = bulk.make_draft(
        upload,
        mapping,
        picked,
        message.subject,
        message.body,
        department=message.department,
        priority=message.priority,
        template=message.template.ref if message.template else None,
        params=message.params,
    )
    if st.button(tr("bulk.check.button"), key="bulk_check", type="primary"):
        try:
            with st.spinner(tr("bulk.check.running", rows=facts.rows)):
                bulk.remember_mapping(w.app, upload, mapping, w.user.login)
                bulk.check(w.app, draft)
        except HdeError as exc:
            S.pop("bulk_checked", None)
            st.error(exc.message(w.lang))
            return None
        S["bulk_checked"] = draft.fingerprint
        S["bulk_page"] = 1
        st.toast(tr("bulk.check.mapping_saved"))
    checked = S.get("bulk_checked")
    if checked is None:
        return None
    if checked != draft.fingerprint:
        st.info(tr("bulk.check.changed"))
        return None
    try:
        with st.spinner(tr("bulk.check.running", rows=facts.rows)):
            found = bulk.check(w.app, draft)  # kept by the core for a few minutes
    except HdeError as exc:
        st.error(exc.message(w.lang))
        return None
    return draft, found


def _first_page() -> None:
    st.session_state["bulk_page"] = 1


def report(w: Wizard, found: bulk.Check, upload: bulk.Upload) -> None:
    """7. What will and will not be sent, every row's verdict by pages, the report file."""
    S = st.session_state
    lang = w.lang
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
    downloads(
        "bulk_report",
        lambda fmt: bulk.validation_report(w.app, draft, fmt, lang),
        lambda fmt: bulk.report_file_name(upload, fmt),
    )


def cost(w: Wizard, found: bulk.Check) -> None:
    """8. What the WhatsApp templates will cost, by category and country."""
    st.subheader(tr("bulk.step.cost"))
    estimate = found.estimate
    if not found.template_messages:
        st.success(bulk.cost_note(found, w.lang))
        return
    totals = ", ".join(f"{bulk.money(v)} {c}" for c, v in sorted(estimate.totals.items())) or "—"
    cols = st.columns(2)
    cols[0].metric(tr("bulk.cost.messages"), estimate.messages)
    cols[1].metric(tr("bulk.cost.total"), totals)
    st.dataframe(
        [
            {
                tr("bulk.cost.col.category"): template_category(line.category),
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


def confirm(w: Wizard, found: bulk.Check, draft: bulk.Draft) -> None:
    """9. Launch, once, after saying what will happen (team leads and admins)."""
    S = st.session_state
    user = w.user
    st.subheader(tr("bulk.step.confirm"))
    if not user.can(Permission.BULK_SEND):
        st.warning(tr("bulk.confirm.forbidden", role=tr(f"role.{user.role.value}")))
        return
    eligible = found.summary["eligible"]
    if not eligible:
        st.warning(tr("bulk.confirm.nothing"))
        return
    key = bulk_runs.launch_key(w.app, found.key)
    if S.get("bulk_launched") == key:
        job = bulk_runs.launch_job(key)
        if job is not None and job.result is not None:
            result = job.result  # a relaunch: "0 new, 4580 already queued"
            st.success(
                tr(
                    "bulk.launch.counts",
                    new=result.tickets_created,
                    already=result.already_queued,
                    campaign=key,
                )
            )
        elif job is not None and job.running:
            st.info(tr("bulk.launch.running", campaign=key))
        elif job is None:
            st.success(tr("bulk.confirm.launched", campaign=key))
        return
    before = bulk_runs.previous_run(w.app, found)
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
            S["bulk_launched"] = bulk_runs.start_launch(w.app, draft, user.login, name)
        except HdeError as exc:
            st.error(exc.message(w.lang))
            return
        st.rerun()
