"""Settings as the console edits them (SPEC §6, R10–R15), one module per subject:
:mod:`.channels`, :mod:`.departments`, :mod:`.fields` (custom fields),
:mod:`.notifications` (notification templates, WhatsApp template previews),
:mod:`.optouts`, and :mod:`.problems` (why a form cannot be saved).

Validation is provisioning's own: every save goes through the same pydantic specs as
a provisioning file, refused for the same reasons — here one plain-words problem per
field (:class:`SettingsInvalid`). Secrets are write-only: stored encrypted, listed
masked, an empty field keeps the stored value, the audit names which secrets changed,
never their values. Each function checks its actor (:mod:`hde_core.services.authz`):
channels and departments ``manage_channels``, custom fields ``channel_settings``,
notification templates ``manage_templates``.
"""

from hde_core.services.settings.channels import (
    CHANNEL_FORM_FIELDS,
    CREDENTIAL_FIELDS,
    ChannelView,
    SavedChannel,
    default_rate,
    list_channels,
    recheck_channel,
    save_channel,
)
from hde_core.services.settings.departments import (
    DepartmentView,
    SavedDepartment,
    check_smtp,
    list_departments,
    save_department,
)
from hde_core.services.settings.fields import (
    FieldView,
    delete_custom_field,
    list_custom_fields,
    save_custom_field,
)
from hde_core.services.settings.notifications import (
    NotificationView,
    list_notification_templates,
    preview_notification,
    preview_template,
    sample_context,
    save_notification_template,
    template_sync_times,
)
from hde_core.services.settings.optouts import OptOutPage, OptOutRow, list_opt_outs
from hde_core.services.settings.problems import FieldProblem, SettingsInvalid

__all__ = [
    "CHANNEL_FORM_FIELDS",
    "CREDENTIAL_FIELDS",
    "ChannelView",
    "DepartmentView",
    "FieldProblem",
    "FieldView",
    "NotificationView",
    "OptOutPage",
    "OptOutRow",
    "SavedChannel",
    "SavedDepartment",
    "SettingsInvalid",
    "check_smtp",
    "default_rate",
    "delete_custom_field",
    "list_channels",
    "list_custom_fields",
    "list_departments",
    "list_notification_templates",
    "list_opt_outs",
    "preview_notification",
    "preview_template",
    "recheck_channel",
    "sample_context",
    "save_channel",
    "save_custom_field",
    "save_department",
    "save_notification_template",
    "template_sync_times",
]
