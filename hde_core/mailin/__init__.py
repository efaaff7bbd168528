"""Inbound email: client replies, auto-replies and bounces, read from department mailboxes.

Two ways in, one pipeline (:func:`hde_core.mailin.receive.receive_email`):

- ``hde mail-in`` listens for SMTP or LMTP (the MX forwards mail to it; the sandbox
  sends its simulated replies there), see :mod:`hde_core.mailin.server`;
- ``hde mail-in --imap`` also polls each department mailbox that has an IMAP URL
  (IDLE where the server offers it), see :mod:`hde_core.mailin.imap`.

Both parse the message (:mod:`hde_core.mailin.parse`, stdlib ``email`` with
``policy.default``) into the one event vocabulary of :mod:`hde_core.domain.events`
and hand it to :func:`hde_core.services.webhooks.record_events`, like every webhook.
The package sits beside the dispatcher: above the services, below the faces.
"""
