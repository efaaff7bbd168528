"""Channels and settings: channels of every kind (credentials write-only, status checked on
save), R10/R11/R12 settings, departments and mailboxes, custom fields, notification
templates, the price table and the opt-out list. Every rule lives in hde_core.services."""

from __future__ import annotations

import streamlit as st

from hde_core.console import current_lang, formatter, get_app, page, settings_tabs, tr, words
from hde_core.console.notices import flash, flash_error, show
from hde_core.console.widgets import blank_as, optional_select
from hde_core.domain.channels import PROVIDERS_BY_KIND, ChannelKind, Provider
from hde_core.domain.retry import MAX_ATTEMPTS
from hde_core.domain.roles import Permission
from hde_core.errors import HdeError
from hde_core.services.channel_settings import set_initiation
from hde_core.services.settings import (
    CREDENTIAL_FIELDS,
    ChannelView,
    default_rate,
    list_channels,
    list_departments,
    recheck_channel,
    save_channel,
)
from hde_core.services.templates import template_rows
from hde_core.services.wa_settings import get_wa_settings, update_wa_settings

user = page("nav.channels", Permission.VIEW)
app = get_app()
lang = current_lang()
is_admin = user.can(Permission.MANAGE_CHANNELS)
is_lead = user.can(Permission.CHANNEL_SETTINGS)

_when = settings_tabs.when


def status_words(v: ChannelView) -> str:
    if not v.enabled:
        return tr("channels_page.off")
    if v.status == "error":
        return tr("channel_status.error") + ": " + (v.error or "?")
    return tr(f"channel_status.{v.status}")


tabs = st.tabs(
    [
        tr("channels_page.tab.channels"),
        tr("channels_page.tab.departments"),
        tr("channels_page.tab.fields"),
        tr("channels_page.tab.notifications"),
        tr("channels_page.tab.prices"),
        tr("channels_page.tab.opt_outs"),
    ]
)

# == channels =====================================================================================
with tabs[0]:
    views = list_channels(app)
    by_name = {v.name: v for v in views}
    if views:
        st.dataframe(
            [
                {
                    tr("home.col.name"): v.name,
                    tr("home.col.kind"): tr(f"channels_page.kind.{v.kind}"),
                    tr("home.col.provider"): words.provider(v.provider),
                    tr("home.col.status"): status_words(v),
                    tr("channels_page.col.checked"): _when(v.checked_at),
                    tr("channels_page.col.rate"): tr(
                        "words.rate", rate=v.rate_per_sec, burst=v.burst
                    ),
                    tr("home.col.sandbox"): "✓" if v.sandbox else "",
                }
                for v in views
            ],
            hide_index=True,
            key="ch_table",
        )
    else:
        st.info(tr("channels_page.no_channels"))
    show("ch")

    options = ([""] if is_admin else []) + list(by_name)
    picked = (
        st.selectbox(
            tr("channels_page.pick"),
            options,
            format_func=blank_as(tr("channels_page.new_channel")),
            key="ch_pick",
        )
        if options
        else None
    )
    view = by_name.get(picked or "")
    suffix = view.name if view else "new"  # the new channel's widgets also carry the provider

    if view is not None:
        st.markdown(f"### {view.name}")
        if view.status == "connected" and view.enabled:
            st.success(
                tr("channels_page.status.connected", at=_when(view.checked_at)),
                icon=":material/check_circle:",
            )
        elif view.status == "error" and view.enabled:
            st.error(
                tr(
                    "channels_page.status.error", error=view.error or "?", at=_when(view.checked_at)
                ),
                icon=":material/error:",
            )
        elif view.status == "unreachable" and view.enabled:
            st.warning(
                tr(
                    "channels_page.status.unreachable",
                    error=view.error or "?",
                    at=_when(view.checked_at),
                ),
                icon=":material/cloud_off:",
            )
        elif view.enabled:
            st.info(tr("channels_page.status.unknown"))
        else:
            st.info(tr("channels_page.status.disabled"))
        if view.paused_until:
            st.caption(tr("channels_page.paused_until", at=_when(view.paused_until)))
        if is_lead and view.enabled:

            def _recheck(name: str = view.name) -> None:
                try:
                    result = recheck_channel(app, name, user.login)
                except HdeError as exc:
                    flash_error("ch", exc, lang)
                    return
                if result.ok:
                    flash(
                        "ch",
                        "success",
                        tr("cli.channel.connected", name=name, detail=result.detail),
                    )
                else:
                    flash("ch", "error", tr("cli.channel.error", name=name, detail=result.detail))

            st.button(tr("channels_page.check_now"), key=f"ch_check_{suffix}", on_click=_recheck)

    # -- the channel form (admin) -------------------------------------------------------------
    if is_admin and picked is not None:
        st.markdown("#### " + (tr("channels_page.edit") if view else tr("channels_page.create")))
        if view is None:
            kind = ChannelKind(
                st.selectbox(
                    tr("channels_page.field_label.kind"),
                    [k.value for k in ChannelKind],
                    format_func=formatter("channels_page.kind"),
                    key="ch_kind",
                )
            )
            provider = Provider(
                st.selectbox(
                    tr("channels_page.field_label.provider"),
                    [p.value for p in PROVIDERS_BY_KIND[kind]],
                    format_func={p.value: words.provider(p.value) for p in Provider}.__getitem__,
                    key=f"ch_provider_{kind.value}",
                )
            )
            st.text_input(
                tr("channels_page.field_label.name"),
                key="ch_name_new",
                help=tr("channels_page.help.name"),
            )
            rate, burst = default_rate(provider)
            suffix = f"new_{provider.value}"
        else:
            kind, provider = ChannelKind(view.kind), Provider(view.provider)
            st.caption(
                tr(
                    "channels_page.kind_provider",
                    kind=tr(f"channels_page.kind.{kind.value}"),
                    provider=words.provider(provider.value),
                )
            )
            rate, burst = view.rate_per_sec, view.burst
        st.text_input(
            tr("channels_page.field_label.api_base"),
            value=(view.api_base or "") if view else "",
            key=f"ch_api_base_{suffix}",
            help=tr("channels_page.help.api_base"),
        )
        creds = CREDENTIAL_FIELDS[provider]
        st.caption(tr("channels_page.secrets_note"))
        c_cols = st.columns(2)
        # saved under another HDE_SECRET_KEY: stored, but to be entered again (not "not set")
        unset = tr(
            "channels_page.old_key"
            if view and view.credentials_old_key
            else "channels_page.not_set"
        )
        for i, cred in enumerate(creds):
            stored = view.credentials.get(cred, "") if view else ""
            c_cols[i % 2].text_input(
                words.credential(cred),
                type="password",
                key=f"ch_cred_{suffix}_{cred}",
                placeholder=stored or unset,
                help=tr("channels_page.help.keep") if stored else None,
            )
        if kind != ChannelKind.EMAIL:
            old_secret = view is not None and view.webhook_secret_old_key
            st.text_input(
                words.credential("webhook_secret"),
                type="password",
                key=f"ch_secret_{suffix}",
                placeholder=(view.webhook_secret if view else "")
                or tr("channels_page.old_key" if old_secret else "channels_page.not_set"),
                help=tr("channels_page.help.webhook_secret"),
            )
        departments = [d.name for d in list_departments(app)]
        current_dept = view.department if view else None
        optional_select(
            tr("channels_page.field_label.department"),
            departments,
            tr("channels_page.none"),
            key=f"ch_department_{suffix}",
            current=current_dept,
        )
        r_cols = st.columns(3)
        r_cols[0].number_input(
            tr("channels_page.field_label.rate_per_sec"),
            min_value=0.01,
            max_value=10_000.0,
            value=float(rate),
            key=f"ch_rate_{suffix}",
        )
        r_cols[1].number_input(
            tr("channels_page.field_label.burst"),
            min_value=1,
            max_value=100_000,
            value=int(burst),
            key=f"ch_burst_{suffix}",
        )
        r_cols[2].number_input(
            tr("channels_page.field_label.max_attempts"),
            min_value=1,
            max_value=100,
            value=int(view.max_attempts if view else MAX_ATTEMPTS),
            key=f"ch_attempts_{suffix}",
        )
        b_cols = st.columns(2)
        b_cols[0].checkbox(
            tr("channels_page.field_label.enabled"),
            value=view.enabled if view else True,
            key=f"ch_enabled_{suffix}",
        )
        b_cols[1].checkbox(
            tr("channels_page.field_label.sandbox"),
            value=view.sandbox if view else False,
            key=f"ch_sandbox_{suffix}",
        )

        def _save(
            suffix: str = suffix,
            kind: ChannelKind = kind,
            provider: Provider = provider,
            creds: tuple[str, ...] = creds,
        ) -> None:
            state = st.session_state
            new = suffix.startswith("new_")
            name = state.get("ch_name_new", "") if new else suffix
            form = {
                "name": name,
                "kind": kind.value,
                "provider": provider.value,
                "api_base": state.get(f"ch_api_base_{suffix}", ""),
                "credentials": {c: state.get(f"ch_cred_{suffix}_{c}", "") for c in creds},
                "webhook_secret": state.get(f"ch_secret_{suffix}", ""),
                "department": state.get(f"ch_department_{suffix}") or None,
                "rate_per_sec": state.get(f"ch_rate_{suffix}"),
                "burst": state.get(f"ch_burst_{suffix}"),
                "max_attempts": state.get(f"ch_attempts_{suffix}"),
                "enabled": state.get(f"ch_enabled_{suffix}", True),
                "sandbox": state.get(f"ch_sandbox_{suffix}", False),
            }
            # Typed secrets leave the browser's form at once: they are never shown again.
            for c in creds:
                state[f"ch_cred_{suffix}_{c}"] = ""
            if f"ch_secret_{suffix}" in state:
                state[f"ch_secret_{suffix}"] = ""
            try:
                with st.spinner(tr("channels_page.checking")):
                    saved = save_channel(app, form, user.login)
            except HdeError as exc:
                flash_error("ch", exc, lang)
                return
            head = tr(
                "channels_page.saved_new" if saved.created else "channels_page.saved",
                name=saved.name,
            )
            if saved.check is None:
                flash("ch", "info", head, tr("channels_page.status.disabled"))
            elif saved.check.ok:
                flash(
                    "ch",
                    "success",
                    head,
                    tr("cli.channel.connected", name=saved.name, detail=saved.check.detail),
                )
            else:
                flash(
                    "ch",
                    "error",
                    head,
                    tr("cli.channel.error", name=saved.name, detail=saved.check.detail),
                )
            if new:
                state["ch_pick"] = saved.name
                state["ch_name_new"] = ""

        st.button(tr("channels_page.save"), type="primary", key=f"ch_save_{suffix}", on_click=_save)
    elif view is not None:
        st.caption(tr("channels_page.read_only_channel"))
        st.dataframe(
            [
                {
                    tr("channels_page.col.credential"): words.credential(k),
                    tr("channels_page.col.value"): v
                    or (tr("channels_page.old_key") if view.credentials_old_key else "—"),
                }
                for k, v in view.credentials.items()
            ],
            hide_index=True,
            key=f"ch_creds_{suffix}",
        )

    # -- R10: unofficial WhatsApp ------------------------------------------------------------
    if view is not None and view.kind == ChannelKind.WHATSAPP:
        st.markdown("#### " + tr("channels_page.r10.title"))
        if view.initiation_enabled and view.risk_ack_at:
            st.warning(
                tr("channels_page.r10.on", by=view.risk_ack_by or "?", at=_when(view.risk_ack_at))
            )
        else:
            st.info(tr("channels_page.r10.off"))
        if is_lead:
            enable = st.toggle(
                tr("channels_page.r10.enable"),
                value=view.initiation_enabled,
                key=f"ch_r10_enable_{suffix}",
            )
            if enable and not view.initiation_enabled:
                st.checkbox(tr("channels_page.r10.ack"), key=f"ch_r10_ack_{suffix}")

            def _apply_r10(name: str = view.name, suffix: str = suffix) -> None:
                state = st.session_state
                try:
                    set_initiation(
                        app,
                        name,
                        bool(state.get(f"ch_r10_enable_{suffix}")),
                        user.login,
                        acknowledge_risk=bool(state.get(f"ch_r10_ack_{suffix}")),
                    )
                except HdeError as exc:
                    flash_error("ch", exc, lang)
                else:
                    flash("ch", "success", tr("channels_page.r10.saved", name=name))

            st.button(tr("channels_page.apply"), key=f"ch_r10_apply_{suffix}", on_click=_apply_r10)

    # -- R11/R12: WhatsApp Business ------------------------------------------------------------
    if view is not None and view.kind == ChannelKind.WA_BUSINESS:
        st.markdown("#### " + tr("channels_page.r11.title"))
        ws = get_wa_settings(app, view.name)
        lines = [
            tr(
                "cli.templates.settings.rules_ok",
                by=ws.rules_acknowledged_by,
                at=_when(ws.rules_acknowledged_at),
            )
            if ws.rules_acknowledged_at
            else tr("words.wa.rules_missing"),
            tr(
                "words.wa.default",
                template=ws.default_template,
                status=words.template_status(ws.default_template_status or ""),
                category=words.template_category(ws.default_template_category or ""),
            )
            if ws.default_template
            else tr("words.wa.no_default"),
            tr("cli.templates.settings.after_template_send")
            if ws.send_after_template
            else tr("cli.templates.settings.after_template_hold"),
            tr("channels_page.r11.synced", at=_when(ws.templates_synced_at)),
        ]
        (st.success if ws.ready else st.warning)(
            tr("cli.templates.settings.ready") if ws.ready else tr("words.wa.not_ready")
        )
        st.markdown("\n".join(f"- {line}" for line in lines))
        if ws.preview:
            st.caption(tr("channels_page.r11.preview"))
            st.code(ws.preview, language=None)
        if is_lead:
            approved = template_rows(app, view.name, approved_only=True)
            refs = [f"{r['name']}:{r['language']}" for r in approved]
            params_of = {f"{r['name']}:{r['language']}": r["params"] for r in approved}
            st.checkbox(
                tr("channels_page.r11.rules"),
                value=ws.rules_acknowledged_at is not None,
                key=f"ch_r11_rules_{suffix}",
                help=tr("channels_page.r11.rules_help"),
            )
            choice = optional_select(
                tr("channels_page.r11.default"),
                refs,
                tr("channels_page.none"),
                key=f"ch_r11_default_{suffix}",
                current=ws.default_template,
            )
            if not refs:
                st.caption(tr("channels_page.r11.no_approved"))
            for name in params_of.get(choice or "", []):
                st.text_input(
                    tr("channels_page.r11.param", name=name),
                    value=ws.default_template_params.get(name, ""),
                    key=f"ch_r11_param_{suffix}_{choice}_{name}",
                    placeholder="{{ contact.name }}",
                )
            st.radio(
                tr("channels_page.r12.mode_label"),
                ["hold", "send"],
                index=1 if ws.send_after_template else 0,
                format_func=formatter("channels_page.r12.mode"),
                key=f"ch_r12_mode_{suffix}",
            )

            def _save_wa(
                name: str = view.name,
                suffix: str = suffix,
                was_ack: bool = ws.rules_acknowledged_at is not None,
                params_of: dict[str, list[str]] = params_of,
            ) -> None:
                state = st.session_state
                ack = bool(state.get(f"ch_r11_rules_{suffix}"))
                ref = state.get(f"ch_r11_default_{suffix}") or ""
                params = {
                    p: state.get(f"ch_r11_param_{suffix}_{ref}_{p}", "")
                    for p in params_of.get(ref, [])
                }
                try:
                    result = update_wa_settings(
                        app,
                        name,
                        user.login,
                        acknowledge_rules=None if ack == was_ack else ack,
                        default_template=ref,
                        params=params or None,
                        send_after_template=state.get(f"ch_r12_mode_{suffix}") == "send",
                    )
                except HdeError as exc:
                    flash_error("ch", exc, lang)
                    return
                if result.changes:
                    flash(
                        "ch",
                        "success",
                        tr("channels_page.r11.saved", name=name),
                        *(f"- {c}" for c in result.changes),
                    )
                else:
                    flash("ch", "info", tr("channels_page.unchanged"))

            st.button(
                tr("channels_page.save_settings"), key=f"ch_r11_save_{suffix}", on_click=_save_wa
            )

# == the other tabs ===================================================================================
with tabs[1]:
    settings_tabs.departments(app, user, lang)
with tabs[2]:
    settings_tabs.custom_fields(app, user, lang)
with tabs[3]:
    settings_tabs.notifications(app, user, lang)
with tabs[4]:
    settings_tabs.prices(app, user, lang)
with tabs[5]:
    settings_tabs.opt_outs(app, [v.name for v in views])
