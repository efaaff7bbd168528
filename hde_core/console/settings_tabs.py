"""The secondary tabs of the "Channels and settings" page: departments and mailboxes,
custom fields, notification templates, prices and opt-outs.

Like the pages, these only render and call :mod:`hde_core.services`; every rule (who may
save, what is valid, what is masked) is in the services.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from hde_core.bootstrap import App
from hde_core.console import ConsoleUser, formatter, tr
from hde_core.console.notices import flash, flash_error, show
from hde_core.console.widgets import optional_select, page_number
from hde_core.console.words import template_category
from hde_core.domain.roles import Permission
from hde_core.domain.tickets import NotificationKind
from hde_core.errors import HdeError
from hde_core.services import pricing
from hde_core.services.delivery import export_bytes
from hde_core.services.rendering import RenderedEmail
from hde_core.services.settings import (
    delete_custom_field,
    list_custom_fields,
    list_departments,
    list_notification_templates,
    list_opt_outs,
    preview_notification,
    save_custom_field,
    save_department,
    save_notification_template,
)

PAGE_SIZE = 50


def when(value: datetime | None) -> str:
    return f"{value.astimezone():%Y-%m-%d %H:%M}" if value else "—"


def departments(app: App, user: ConsoleUser, lang: str) -> None:
    """Departments and their sender mailboxes (R5); the SMTP URL is write-only."""
    is_admin = user.can(Permission.MANAGE_CHANNELS)
    depts = list_departments(app)
    if depts:
        st.dataframe(
            [
                {
                    tr("channels_page.col.department"): d.name,
                    tr("channels_page.col.mailbox"): d.mailbox,
                    tr("channels_page.col.smtp"): d.smtp_url
                    or (tr("channels_page.old_key") if d.smtp_url_old_key else "—"),
                    tr("mailin.col_imap"): d.imap_url
                    or (tr("channels_page.old_key") if d.imap_url_old_key else "—"),
                    tr("channels_page.col.channels"): ", ".join(d.channels),
                }
                for d in depts
            ],
            hide_index=True,
            key="dp_table",
        )
    else:
        st.info(tr("channels_page.no_departments"))
    show("dp")
    if is_admin:
        names = [d.name for d in depts]
        chosen = optional_select(
            tr("channels_page.pick_department"),
            names,
            tr("channels_page.new_department"),
            key="dp_pick",
        )
        dept = next((d for d in depts if d.name == chosen), None)
        dsuffix = dept.name if dept else "new"
        if dept is None:
            st.text_input(tr("channels_page.col.department"), key="dp_name_new")
        st.text_input(
            tr("channels_page.col.mailbox"),
            value=dept.mailbox if dept else "",
            key=f"dp_mailbox_{dsuffix}",
            placeholder="support@company.com",
        )
        st.text_input(
            tr("channels_page.col.smtp"),
            type="password",
            key=f"dp_smtp_{dsuffix}",
            placeholder=(dept.smtp_url if dept else "")
            or (tr("channels_page.old_key") if dept and dept.smtp_url_old_key else "")
            or "smtp://user:password@smtp.company.com:587",
            help=tr("channels_page.help.smtp"),
        )
        st.text_input(
            tr("mailin.col_imap"),
            type="password",
            key=f"dp_imap_{dsuffix}",
            placeholder=(dept.imap_url if dept else "")
            or (tr("channels_page.old_key") if dept and dept.imap_url_old_key else "")
            or "imaps://user:password@imap.company.com:993/INBOX",
            help=tr("mailin.help_imap"),
        )

        def _save_department(dsuffix: str = dsuffix) -> None:
            state = st.session_state
            form = {
                "name": state.get("dp_name_new", "") if dsuffix == "new" else dsuffix,
                "mailbox": state.get(f"dp_mailbox_{dsuffix}", ""),
                "smtp_url": state.get(f"dp_smtp_{dsuffix}", ""),
                "imap_url": state.get(f"dp_imap_{dsuffix}", ""),
            }
            state[f"dp_smtp_{dsuffix}"] = ""
            state[f"dp_imap_{dsuffix}"] = ""
            try:
                saved = save_department(app, form, user.login)
            except HdeError as exc:
                flash_error("dp", exc, lang)
                return
            head = tr("channels_page.department_saved", name=saved.name)
            imap = ""
            if saved.imap_ok is not None:
                imap = tr(
                    "mailin.imap_ok" if saved.imap_ok else "mailin.imap_failed",
                    detail=saved.imap_detail,
                )
            if saved.smtp_ok is None:
                flash("dp", "success" if saved.imap_ok is not False else "warning", head, imap)
            elif saved.smtp_ok:
                flash(
                    "dp",
                    "success" if saved.imap_ok is not False else "warning",
                    head,
                    tr("channels_page.smtp_ok", detail=saved.smtp_detail),
                    imap,
                )
            else:
                flash(
                    "dp",
                    "warning",
                    head,
                    tr("channels_page.smtp_failed", detail=saved.smtp_detail),
                    imap,
                )
            if dsuffix == "new":
                state["dp_pick"] = saved.name
                state["dp_name_new"] = ""

        st.button(tr("channels_page.save"), key=f"dp_save_{dsuffix}", on_click=_save_department)


def custom_fields(app: App, user: ConsoleUser, lang: str) -> None:
    """Custom fields of the ticket form (R4)."""
    is_lead = user.can(Permission.CHANNEL_SETTINGS)
    fields = list_custom_fields(app)
    if fields:
        st.dataframe(
            [
                {
                    tr("channels_page.col.field_key"): f.key,
                    tr("channels_page.col.field_label"): f.label,
                    tr("channels_page.col.required"): "✓" if f.required else "",
                }
                for f in fields
            ],
            hide_index=True,
            key="cf_table",
        )
    else:
        st.info(tr("channels_page.no_fields"))
    show("cf")
    if is_lead:
        keys = [f.key for f in fields]
        fkey = optional_select(
            tr("channels_page.pick_field"),
            keys,
            tr("channels_page.new_field"),
            key="cf_pick",
        )
        current = next((f for f in fields if f.key == fkey), None)
        fsuffix = current.key if current else "new"
        if current is None:
            st.text_input(
                tr("channels_page.col.field_key"),
                key="cf_key_new",
                help=tr("channels_page.help.field_key"),
            )
        st.text_input(
            tr("channels_page.col.field_label"),
            value=current.label if current else "",
            key=f"cf_label_{fsuffix}",
        )
        st.checkbox(
            tr("channels_page.col.required"),
            value=current.required if current else False,
            key=f"cf_required_{fsuffix}",
        )

        def _save_field(fsuffix: str = fsuffix) -> None:
            state = st.session_state
            key = state.get("cf_key_new", "") if fsuffix == "new" else fsuffix
            try:
                save_custom_field(
                    app,
                    {
                        "key": key,
                        "label": state.get(f"cf_label_{fsuffix}", ""),
                        "required": state.get(f"cf_required_{fsuffix}", False),
                    },
                    user.login,
                )
            except HdeError as exc:
                flash_error("cf", exc, lang)
                return
            flash("cf", "success", tr("channels_page.field_saved", field=key))
            if fsuffix == "new":
                state["cf_pick"] = key
                state["cf_key_new"] = ""

        def _delete_field(fsuffix: str = fsuffix) -> None:
            try:
                delete_custom_field(app, fsuffix, user.login)
            except HdeError as exc:
                flash_error("cf", exc, lang)
                return
            flash("cf", "success", tr("channels_page.field_deleted", field=fsuffix))
            st.session_state["cf_pick"] = ""

        b1, b2 = st.columns([1, 4])
        b1.button(tr("channels_page.save"), key=f"cf_save_{fsuffix}", on_click=_save_field)
        if current is not None:
            b2.button(
                tr("channels_page.delete"), key=f"cf_delete_{fsuffix}", on_click=_delete_field
            )


def notifications(app: App, user: ConsoleUser, lang: str) -> None:
    """The two notification emails (R6, R7), with a live preview on a sample ticket."""
    edits_templates = user.can(Permission.MANAGE_TEMPLATES)
    st.caption(tr("channels_page.notifications_help"))
    show("nf")
    existing = {n.kind: n for n in list_notification_templates(app)}
    kind_value = st.selectbox(
        tr("channels_page.notification_kind"),
        [k.value for k in NotificationKind],
        format_func=formatter("channels_page.notification"),
        key="nf_kind",
    )
    current_tpl = existing.get(kind_value)
    if current_tpl is None:
        st.info(tr("channels_page.notification_missing"))
    else:
        st.caption(tr("channels_page.updated_at", at=when(current_tpl.updated_at)))
    st.checkbox(
        tr("channels_page.field_label.enabled"),
        value=current_tpl.enabled if current_tpl else True,
        key=f"nf_enabled_{kind_value}",
        disabled=not edits_templates,
    )
    subject = st.text_input(
        tr("home.col.subject"),
        value=current_tpl.subject if current_tpl else "",
        key=f"nf_subject_{kind_value}",
        disabled=not edits_templates,
    )
    body = st.text_area(
        tr("channels_page.body"),
        value=current_tpl.body if current_tpl else "",
        key=f"nf_body_{kind_value}",
        height=160,
        disabled=not edits_templates,
    )
    st.caption(tr("channels_page.preview"))
    rendered = preview_notification(app, subject, body, lang) if subject and body else None
    if isinstance(rendered, RenderedEmail):
        st.markdown(f"**{rendered.subject}**")
        st.text(rendered.text)
    elif rendered:
        st.error(rendered)
    if edits_templates:

        def _save_notification(kind_value: str = kind_value) -> None:
            state = st.session_state
            try:
                changed = save_notification_template(
                    app,
                    {
                        "kind": kind_value,
                        "enabled": state.get(f"nf_enabled_{kind_value}", True),
                        "subject": state.get(f"nf_subject_{kind_value}", ""),
                        "body": state.get(f"nf_body_{kind_value}", ""),
                    },
                    user.login,
                )
            except HdeError as exc:
                flash_error("nf", exc, lang)
                return
            flash(
                "nf",
                "success" if changed else "info",
                tr("channels_page.notification_saved")
                if changed
                else tr("channels_page.unchanged"),
            )

        st.button(
            tr("channels_page.save"), key=f"nf_save_{kind_value}", on_click=_save_notification
        )


def prices(app: App, user: ConsoleUser, lang: str) -> None:
    """The price table of template messages (R13)."""
    is_lead = user.can(Permission.CHANNEL_SETTINGS)
    st.caption(tr("channels_page.prices_help"))
    show("pr")
    prices = pricing.list_prices(app)
    if prices:
        st.dataframe(
            [
                {
                    tr("channels_page.col.category"): template_category(p["category"]),
                    tr("channels_page.col.country"): p["country"],
                    tr("channels_page.col.price"): p["price"],
                    tr("channels_page.col.currency"): p["currency"],
                }
                for p in prices
            ],
            hide_index=True,
            key="pr_table",
        )
    else:
        st.info(tr("cli.templates.prices.none"))
    if is_lead:
        p_cols = st.columns(4)
        p_cols[0].selectbox(
            tr("channels_page.col.category"),
            pricing.CATEGORIES,
            format_func={c: template_category(c) for c in pricing.CATEGORIES}.__getitem__,
            key="pr_category",
        )
        p_cols[1].text_input(
            tr("channels_page.col.country"),
            value="*",
            key="pr_country",
            help=tr("channels_page.help.country"),
        )
        p_cols[2].text_input(tr("channels_page.col.price"), key="pr_price", placeholder="0.0125")
        p_cols[3].text_input(tr("channels_page.col.currency"), value="USD", key="pr_currency")

        def _save_price() -> None:
            state = st.session_state
            try:
                pricing.set_price(
                    app,
                    state.get("pr_category", "marketing"),
                    state.get("pr_price", ""),
                    user.login,
                    country=state.get("pr_country", "*"),
                    currency=state.get("pr_currency", "USD"),
                )
            except HdeError as exc:
                flash_error("pr", exc, lang)
                return
            flash(
                "pr",
                "success",
                tr(
                    "cli.templates.prices.saved",
                    category=template_category(state.get("pr_category", "")),
                    country=state.get("pr_country"),
                ),
            )

        def _delete_price() -> None:
            state = st.session_state
            try:
                gone = pricing.delete_price(
                    app,
                    state.get("pr_category", ""),
                    user.login,
                    country=state.get("pr_country", "*"),
                )
            except HdeError as exc:
                flash_error("pr", exc, lang)
                return
            key = "cli.templates.prices.deleted" if gone else "cli.templates.prices.not_found"
            flash(
                "pr",
                "success" if gone else "warning",
                tr(
                    key,
                    category=template_category(state.get("pr_category", "")),
                    country=state.get("pr_country"),
                ),
            )

        b1, b2 = st.columns([1, 4])
        b1.button(tr("channels_page.save"), key="pr_save", on_click=_save_price)
        b2.button(tr("channels_page.delete"), key="pr_delete", on_click=_delete_price)


def opt_outs(app: App, channel_names: list[str]) -> None:
    """Who must not be messaged (R15), paginated, exportable."""
    st.caption(tr("channels_page.opt_outs_help"))
    o1, o2 = st.columns([1, 2])
    oo_channel = optional_select(
        tr("campaigns_page.filter.channel"),
        channel_names,
        tr("campaigns_page.filter.all"),
        key="oo_channel",
        where=o1,
    )
    oo_search = o2.text_input(tr("campaigns_page.filter.search"), key="oo_search")
    total = list_opt_outs(app, oo_channel or None, oo_search, limit=0).total
    pages = max(1, -(-total // PAGE_SIZE))
    oo_page = page_number(tr("campaigns_page.page", pages=pages), pages, "oo_page")
    found = list_opt_outs(
        app, oo_channel or None, oo_search, limit=PAGE_SIZE, offset=(oo_page - 1) * PAGE_SIZE
    )
    header = [
        tr("campaigns_page.col.channel"),
        tr("campaigns_page.col.recipient"),
        tr("campaigns_page.col.contact"),
        tr("channels_page.col.opted_out_at"),
        tr("channels_page.col.reason"),
    ]
    if found.rows:
        st.caption(tr("campaigns_page.shown", shown=len(found.rows), total=found.total))
        st.dataframe(
            [
                dict(
                    zip(
                        header,
                        (r.channel, r.address, r.contact, when(r.opted_out_at), r.reason),
                        strict=True,
                    )
                )
                for r in found.rows
            ],
            hide_index=True,
            key="oo_table",
        )
        everything = list_opt_outs(app, oo_channel or None, oo_search, limit=None).rows
        st.download_button(
            tr("campaigns_page.download"),
            export_bytes(
                header,
                (
                    (r.channel, r.address, r.contact, r.opted_out_at.isoformat(), r.reason)
                    for r in everything
                ),
            ),
            file_name="opt-outs.csv",
            key="oo_export",
        )
    else:
        st.info(tr("channels_page.no_opt_outs"))
