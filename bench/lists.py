"""Validating a 1,000,000-row contact list: email channel, and WhatsApp Business with
200,000 known identities in the database.

The list is a realistic messy export (``bench.listgen``: cp1251, ``;``, every way of writing
phones, ~2 % invalid phones and emails, ~1 % duplicates). The product path — ``load_list`` +
``validate_list``, exactly what ``hde validate`` runs — is measured in a fresh process (its
own peak RSS); the naive baseline runs in the same benchmark: pandas reads the file, then
each row is normalised with ``phonenumbers.parse``/``is_valid_number``/``format_number`` or
``email_validator.validate_email`` (the reference normalisers), checked against a dict of the
channel's identities and decided by ``evaluate``. Every row's verdict (code, action,
recipient) must be the same in both; mismatches are printed.

Targets: ≤ 10 s wall, ≥ 10× the baseline, peak RSS ≤ 1.5 GB, 0 mismatches.
``make bench BENCH_ARGS="lists --rows=100000"`` for a quicker run.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import Figure
from bench.listgen import generate

OUT = Path(__file__).resolve().parent / "out" / "lists"
ROWS = 1_000_000
IDENTITIES = 200_000
REQUIRED = "Номер заказа"
ENCODING, DELIMITER = "cp1251", ";"
SECRET = "bench-secret-key-0123456789abcdef"


def _settings(url: str) -> Any:
    from hde_core.config import Settings

    return Settings(database_url=url, secret_key=SECRET, data_dir=OUT, lang="en")


def _prepare_db(url: str, numbers: list[str], emails: list[str]) -> None:
    from sqlalchemy import insert

    from hde_core.bootstrap import bootstrap
    from hde_core.db.migrate import upgrade
    from hde_core.db.models import Channel, Contact, ContactIdentity, WaTemplate
    from hde_core.db.session import Database

    db = Database(url)
    upgrade(db)
    db.dispose()
    app = bootstrap(_settings(url))
    now = app.clock.now()
    rnd = random.Random(3)
    with app.db.transaction() as s:
        email = Channel(name="email", kind="email", provider="smtp", settings={})
        wab = Channel(
            name="wab",
            kind="wa_business",
            provider="meta_cloud",
            settings={},
            rules_ack_at=now,
            rules_ack_by="lead",
        )
        s.add_all([email, wab])
        s.flush()
        template = WaTemplate(
            channel_id=wab.id, name="hello", language="ru", category="UTILITY", status="APPROVED"
        )
        s.add(template)
        s.flush()
        wab.default_template_id = template.id
        channel_ids = {"email": email.id, "wab": wab.id}
    known = list(dict.fromkeys(numbers))
    rnd.shuffle(known)
    known = known[: IDENTITIES * 3 // 4]
    while len(known) < IDENTITIES:  # clients who wrote but are not in this list
        known.append("+79" + "".join(rnd.choices("0123456789", k=9)))
    known = list(dict.fromkeys(known))[:IDENTITIES]
    mail = list(dict.fromkeys(emails))[: IDENTITIES // 10]
    rows = [("wab", a) for a in known] + [("email", a) for a in mail]
    with app.db.engine.begin() as conn:
        conn.execute(insert(Contact), [{"id": i + 1, "name": ""} for i in range(len(rows))])
        batch = []
        for i, (channel, address) in enumerate(rows):
            last = now - timedelta(hours=rnd.choice([1, 5, 20, 30, 24 * 7, 24 * 60]))
            batch.append(
                {
                    "contact_id": i + 1,
                    "channel_id": channel_ids[channel],
                    "address": address,
                    "first_inbound_at": last - timedelta(days=30),
                    "last_inbound_at": last,
                    "opted_out_at": now if rnd.random() < 0.03 else None,
                }
            )
        conn.execute(insert(ContactIdentity), batch)
    app.close()


def _child(argv: list[str]) -> None:
    """The product path in a fresh process: load + validate; verdicts to a file."""
    import resource

    import numpy as np

    from hde_core.bootstrap import bootstrap
    from hde_core.services.lists import load_list, validate_list

    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--list", type=Path)
    parser.add_argument("--channel")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    app = bootstrap(_settings(args.db))
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    loaded = load_list(app, args.list)
    t1 = time.perf_counter()
    result = validate_list(app, loaded, args.channel, required_fields=[REQUIRED])
    t2 = time.perf_counter()
    chosen = int(result.chosen[0]) if len(result) else 0
    np.savez(
        args.out,
        reason=result.reason_codes,
        action=result.action_codes,
        recipient=np.array(result.recipients[chosen].values.to_pylist(), dtype=object),
    )
    print(
        json.dumps(
            {
                "read_s": t1 - t0,
                "validate_s": t2 - t1,
                "wall_s": t2 - t0,
                "cpu_s": time.process_time() - cpu0,
                "rows": len(result),
                "eligible": result.eligible,
                "summary": result.summary(),
                "encoding": loaded.encoding,
                "delimiter": loaded.delimiter,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def _naive(
    url: str, path: Path, channel_name: str
) -> tuple[list[tuple[str, str | None, str | None]], float]:
    """pandas, then one reference normalisation, one dict lookup and one evaluate() per row."""
    import pandas as pd
    from sqlalchemy import select

    from hde_core.bootstrap import bootstrap
    from hde_core.db.models import Channel, ContactIdentity
    from hde_core.domain.addresses import normalise_email, normalise_phone
    from hde_core.domain.eligibility import RecipientState, evaluate
    from hde_core.services.channels import channel_state

    app = bootstrap(_settings(url))
    now = app.clock.now()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    frame = pd.read_csv(path, sep=DELIMITER, encoding=ENCODING, dtype=str, keep_default_na=False)
    with app.db.reader() as s:
        channel = s.scalar(select(Channel).where(Channel.name == channel_name))
        state = channel_state(s, channel)
        identities = {
            i.address: i
            for i in s.scalars(
                select(ContactIdentity).where(ContactIdentity.channel_id == channel.id)
            )
        }
    email = channel.kind == "email"
    column = frame["E-mail"] if email else frame["Телефон"]
    seen: set[str] = set()
    out: list[tuple[str, str | None, str | None]] = []
    for value, order in zip(column, frame[REQUIRED], strict=True):
        n = normalise_email(value) if email else normalise_phone(value, "RU")
        identity = identities.get(n.value) if n.value else None
        duplicate = n.value in seen if n.value else False
        if n.value:
            seen.add(n.value)
        verdict = evaluate(
            state,
            RecipientState(
                address=n.status,
                has_written=bool(identity and identity.first_inbound_at),
                opted_out=bool(identity and identity.opted_out_at),
                last_inbound_at=identity.last_inbound_at if identity else None,
                missing_field=REQUIRED if not order.strip() else None,
                duplicate=duplicate,
            ),
            now,
        )
        out.append(
            (verdict.reason.value, verdict.action.value if verdict.action else None, n.value)
        )
    seconds = time.perf_counter() - t0
    print(f"    baseline CPU time {time.process_time() - cpu0:.1f} s", flush=True)
    app.close()
    return out, seconds


def _compare(naive: list[tuple[str, str | None, str | None]], npz: Path) -> int:
    import numpy as np

    from hde_core.lists.engine import ACTIONS, REASONS

    data = np.load(npz, allow_pickle=True)
    reasons = [REASONS[i].value for i in data["reason"]]
    actions = [ACTIONS[i].value if i >= 0 else None for i in data["action"]]
    recipients = list(data["recipient"])
    mismatches = 0
    for i, expected in enumerate(naive):
        got = (reasons[i], actions[i], recipients[i])
        if got != expected:
            mismatches += 1
            if mismatches <= 20:
                print(f"    MISMATCH row {i + 1}: product {got} != baseline {expected}", flush=True)
    if len(naive) != len(reasons):
        print(f"    MISMATCH: {len(reasons)} rows vs baseline {len(naive)}", flush=True)
        mismatches += abs(len(naive) - len(reasons)) or 1
    return mismatches


def run(argv: list[str]) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="bench lists")
    parser.add_argument("--rows", type=int, default=ROWS)
    args, _ = parser.parse_known_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"list_{args.rows}.csv"
    t0 = time.perf_counter()
    made = generate(path, args.rows, seed=1, encoding=ENCODING, delimiter=DELIMITER)
    print(
        f"  generated {args.rows:,} rows ({path.stat().st_size / 2**20:.0f} MB, {ENCODING}, "
        f"'{DELIMITER}') in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    db_path = OUT / "lists.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    t0 = time.perf_counter()
    _prepare_db(url, made.numbers, made.emails)
    print(
        f"  seeded {IDENTITIES:,} WhatsApp Business identities in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    figures: list[Figure] = []
    for channel, label in (
        ("email", "email channel"),
        ("wab", "WhatsApp Business, 200k identities"),
    ):
        npz = OUT / f"verdicts_{channel}.npz"
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "bench.lists", "--child", "--db", url, "--list", str(path),
             "--channel", channel, "--out", str(npz)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        process_s = time.perf_counter() - started
        if child.returncode != 0:
            print(child.stderr, flush=True)
            raise SystemExit(f"the product run failed for {channel}")
        fast = json.loads(child.stdout.strip().splitlines()[-1])
        naive, naive_s = _naive(url, path, channel)
        mismatches = _compare(naive, npz)
        wall = fast["wall_s"]
        speedup = naive_s / wall
        ok = wall <= 10 and speedup >= 10 and fast["rss_mb"] <= 1536 and mismatches == 0
        print(
            f"  {label}: {wall:.2f} s (read {fast['read_s']:.2f} s, validate {fast['validate_s']:.2f} s; "
            f"CPU {fast['cpu_s']:.2f} s; process incl. start {process_s:.1f} s), "
            f"{args.rows / wall:,.0f} rows/s; "
            f"baseline {naive_s:.1f} s ({args.rows / naive_s:,.0f} rows/s); {speedup:.1f}×; "
            f"peak RSS {fast['rss_mb']:,.0f} MB; {mismatches} mismatching rows; "
            f"summary {json.dumps(fast['summary'])}",
            flush=True,
        )
        figures.append(
            Figure(
                "lists",
                f"validate {args.rows:,} rows, {label}",
                wall,
                "s",
                baseline=naive_s,
                target="≤ 10 s, ≥ 10×, ≤ 1536 MB, 0 mismatches",
                ok=ok,
                peak_rss_mb=fast["rss_mb"],
                note=f"{args.rows / wall:,.0f} rows/s vs {args.rows / naive_s:,.0f}; "
                f"CPU {fast['cpu_s']:.1f} s; {mismatches} mismatching rows",
                lower_is_better=True,
            )
        )
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        for f in run(sys.argv[1:]):
            print(f.row())
