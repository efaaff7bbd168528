"""Roles and what each may do (SPEC §6)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # users, channels, credentials (and everything below)
    TEAM_LEAD = "team_lead"  # bulk runs, templates, channel settings, resend uncertain
    AGENT = "agent"  # single tickets, read dashboards
    VIEWER = "viewer"  # read only


class Permission(StrEnum):
    VIEW = "view"
    CREATE_TICKET = "create_ticket"
    #: Answer a client, move a ticket's status, take a ticket (assign it to oneself).
    REPLY_TICKET = "reply_ticket"
    #: Give a ticket to anyone; decide who answers a campaign's replies.
    ASSIGN_TICKETS = "assign_tickets"
    BULK_SEND = "bulk_send"
    MANAGE_TEMPLATES = "manage_templates"
    CHANNEL_SETTINGS = "channel_settings"
    RESEND_UNCERTAIN = "resend_uncertain"
    MANAGE_CHANNELS = "manage_channels"  # create channels, credentials
    MANAGE_USERS = "manage_users"


_AGENT = {Permission.VIEW, Permission.CREATE_TICKET, Permission.REPLY_TICKET}
_LEAD = _AGENT | {
    Permission.ASSIGN_TICKETS,
    Permission.BULK_SEND,
    Permission.MANAGE_TEMPLATES,
    Permission.CHANNEL_SETTINGS,
    Permission.RESEND_UNCERTAIN,
}
_ADMIN = _LEAD | {Permission.MANAGE_CHANNELS, Permission.MANAGE_USERS}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.AGENT: frozenset(_AGENT),
    Role.TEAM_LEAD: frozenset(_LEAD),
    Role.ADMIN: frozenset(_ADMIN),
}


def can(role: Role | str, permission: Permission) -> bool:
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False
