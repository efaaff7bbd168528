"""Deliver now: a single ticket's messages go to their providers at once, through the same
claim → send → record path the dispatcher (:mod:`hde_core.dispatch.worker`) runs in a loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from hde_core.bootstrap import App
from hde_core.dispatch.claim import claim, new_worker_id
from hde_core.dispatch.record import record_outcomes
from hde_core.dispatch.send import deliver_claimed
from hde_core.services.tickets import TicketRequest, TicketResult, create_ticket, refresh

T = TypeVar("T")


def initiate_ticket(app: App, req: TicketRequest, actor: str, deliver: bool = True) -> TicketResult:
    """Create the ticket (the service writes it and its outbox rows) and hand its messages
    to the provider at once; the answer carries their statuses after delivery."""
    result = create_ticket(app, req, actor)
    if deliver and result.messages:
        deliver_now(app, [m.id for m in result.messages])
    return refresh(app, result)


def deliver_now(app: App, message_ids: Sequence[int], rounds: int = 3) -> None:
    """Hand these messages to their providers at once (those that are due).

    Runs a few rounds so that a content message released by its template
    ("template then send") goes out in the same call. A single ticket does not wait
    for the channel's rate limit: it borrows from the shared bucket, and the
    dispatcher's next claims on that channel wait for the debt instead.
    """
    worker_id = new_worker_id()
    for _ in range(rounds):
        claimed = claim(app, worker_id, ids=message_ids, limit=len(message_ids) or 1, borrow=True)
        if not claimed:
            return
        results = _run_to_completion(partial(deliver_claimed, app, claimed))
        record_outcomes(app, results)


def _run_to_completion(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end from synchronous code, whoever the caller is.

    ``asyncio.run`` refuses to start inside a thread whose event loop is running (an
    async caller, some Streamlit set-ups): then the coroutine runs on its own loop in a
    fresh thread, and this thread waits for its result.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hde-deliver-now") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
