"""The conversation after the first message (SPEC §9, issue 17).

- :mod:`.attach` — a client's message finds its ticket (reply context, then the contact's
  latest open ticket on the channel, else a new ticket "from the client").
- :mod:`.assign` — who answers a campaign's replies; moving a ticket's status.
- :mod:`.reply` — an agent's answer, through the outbox like every message.
- :mod:`.queries` — the tickets list and a ticket's thread, for the faces.
- :mod:`.analytics` — replies per campaign and channel, the funnel, who replied.
"""
