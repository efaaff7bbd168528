"""Realistic messy contact lists, as team leads export them from Excel, 1C, amoCRM, Bitrix24.

Cyrillic names; phones written every way people write them (``8 (912) …``, ``+7 912 …``,
``7912…``, with ``тел.`` or an extension, landlines, Kazakhstan and neighbours), about 2 %
invalid phones (too short, Excel's ``7.91235E+10``, words), about 2 % invalid emails, about
1 % duplicates (the same person again, written differently), some blanks. Deterministic for
a seed. ``python -m bench.listgen OUT.csv --rows N [--encoding cp1251] [--delimiter ';']``.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LAST = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
]
FIRST = [
    "Александр",
    "Дмитрий",
    "Максим",
    "Сергей",
    "Андрей",
    "Алексей",
    "Артём",
    "Илья",
    "Кирилл",
    "Михаил",
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Татьяна",
    "Ирина",
    "Светлана",
    "Юлия",
    "Дарья",
]
MIDDLE = [
    "Александрович",
    "Дмитриевич",
    "Сергеевич",
    "Андреевич",
    "Алексеевич",
    "Игоревич",
    "Олегович",
    "Владимирович",
    "Ивановна",
    "Петровна",
    "Сергеевна",
    "Андреевна",
]
CITIES = [
    "Москва",
    "Санкт-Петербург",
    "Новосибирск",
    "Екатеринбург",
    "Казань",
    "Нижний Новгород",
    "Челябинск",
    "Самара",
    "Омск",
    "Ростов-на-Дону",
    "Уфа",
    "Красноярск",
    "Пермь",
    "Воронеж",
    "Алматы",
    "Минск",
]
DOMAINS = [
    "mail.ru",
    "yandex.ru",
    "gmail.com",
    "bk.ru",
    "inbox.ru",
    "list.ru",
    "rambler.ru",
    "ya.ru",
    "company.ru",
    "Yandex.RU",
    "outlook.com",
    "пример.рф",
]
_LATIN = [
    "a",
    "b",
    "v",
    "g",
    "d",
    "e",
    "e",
    "zh",
    "z",
    "i",
    "y",
    "k",
    "l",
    "m",
    "n",
    "o",
    "p",
    "r",
    "s",
    "t",
    "u",
    "f",
    "h",
    "ts",
    "ch",
    "sh",
    "sch",
    "",
    "y",
    "",
    "e",
    "yu",
    "ya",
]
TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", _LATIN, strict=True))
HEADER = ["ФИО", "Телефон", "E-mail", "Город", "Номер заказа"]


@dataclass
class GeneratedList:
    path: Path
    rows: int
    #: E.164 numbers that appear (validly) in the list, for seeding known identities.
    numbers: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


def _translit(word: str) -> str:
    return "".join(TRANSLIT.get(c, c) for c in word.lower())


def _national(rnd: random.Random) -> str:
    kind = rnd.random()
    if kind < 0.90:
        return "9" + "".join(rnd.choices("0123456789", k=9))  # mobile
    if kind < 0.96:
        return rnd.choice(["495", "499", "812", "343", "383"]) + "".join(
            rnd.choices("0123456789", k=7)
        )
    return (
        "7" + rnd.choice(["01", "05", "07", "47", "77"]) + "".join(rnd.choices("0123456789", k=7))
    )  # KZ


def _write(national: str, rnd: random.Random) -> str:
    n = national
    style = rnd.random()
    if style < 0.22:
        return f"+7 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}"
    if style < 0.40:
        return f"8{n}"
    if style < 0.55:
        return f"8 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}"
    if style < 0.68:
        return f"+7{n}"
    if style < 0.78:
        return f"7{n}"
    if style < 0.84:
        return f"+7 {n[:3]} {n[3:6]} {n[6:8]} {n[8:]}"
    if style < 0.89:
        return f"8-{n[:3]}-{n[3:6]}-{n[6:8]}-{n[8:]}"
    if style < 0.92:
        return n
    if style < 0.95:
        return f"8\u00a0{n[:3]}\u00a0{n[3:6]}\u00a0{n[6:]}"
    if style < 0.98:
        return (
            rnd.choice(["тел. ", "моб. ", "т.", "Тел: "]) + f"8 {n[:3]} {n[3:6]}-{n[6:8]}-{n[8:]}"
        )
    return f"+7 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]} доб. {rnd.randrange(10, 999)}"


def _foreign(rnd: random.Random) -> str:
    return rnd.choice(
        [
            f"+375 29 {rnd.randrange(100, 999)}-{rnd.randrange(10, 99)}-{rnd.randrange(10, 99)}",
            f"+380 67 {rnd.randrange(100, 999)} {rnd.randrange(10, 99)} {rnd.randrange(10, 99)}",
            f"+998 90 {rnd.randrange(100, 999)} {rnd.randrange(10, 99)} {rnd.randrange(10, 99)}",
            f"+49 151 {rnd.randrange(1000000, 9999999)}",
        ]
    )


def _bad_phone(rnd: random.Random) -> str:
    return rnd.choice(
        [
            f"7.91{rnd.randrange(100, 999)}E+10",
            f"8912{rnd.randrange(1000, 9999)}",
            "нет",
            "не звонить",
            f"+7 (000) {rnd.randrange(100, 999)}-00-00",
            f"89{rnd.randrange(10**10, 10**11)}",
            "-",
        ]
    )


def _email(last: str, first: str, rnd: random.Random) -> str:
    first_l, last_l = _translit(first), _translit(last)
    local = rnd.choice(
        [
            f"{first_l}.{last_l}{rnd.randrange(1, 10**5)}",
            f"{last_l}{rnd.randrange(1, 10**6)}",
            f"{first_l[0]}.{last_l}{rnd.randrange(1960, 2005)}{rnd.randrange(100)}",
            f"{last_l}_{first_l}{rnd.randrange(1, 10**5)}",
            f"{first_l}{rnd.randrange(10**6, 10**8)}",
        ]
    )
    domain = "пример.рф" if rnd.random() < 0.01 else rnd.choice(DOMAINS[:-1])  # IDN: rare
    email = f"{local}@{domain}"
    style = rnd.random()
    if style < 0.04:
        email = email.upper()
    elif style < 0.08:
        email = f" {email} "
    return email


def _bad_email(rnd: random.Random) -> str:
    return rnd.choice(
        [
            "ivan.petrov@",
            "ivan..petrov@mail.ru",
            "ivan petrov@mail.ru",
            "ivanpetrov.mail.ru",
            "@mail.ru",
            "ivan@mail",
            "нет",
        ]
    )


def rows(count: int, seed: int = 1) -> Iterator[tuple[list[str], str | None, str | None]]:
    """(row, E.164 of the phone if valid, normalised-ish email) — the last two for seeding."""
    rnd = random.Random(seed)
    earlier: list[tuple[str, str, str]] = []
    for _ in range(count):
        last, first = rnd.choice(LAST), rnd.choice(FIRST)
        name = f"{last} {first} {rnd.choice(MIDDLE)}" if rnd.random() < 0.7 else f"{first} {last}"
        city = rnd.choice(CITIES) if rnd.random() < 0.8 else ""
        order = f"З-{rnd.randrange(10**5, 10**6)}" if rnd.random() < 0.97 else ""
        if earlier and rnd.random() < 0.01:  # the same person again, written differently
            national, email, name = rnd.choice(earlier)
            yield [name, _write(national, rnd), email.upper(), city, order], "+7" + national, None
            continue
        national = _national(rnd)
        p = rnd.random()
        e164: str | None = None
        if p < 0.02:
            phone = _bad_phone(rnd)
        elif p < 0.04:
            phone = ""
        elif p < 0.05:
            phone = _foreign(rnd)
        else:
            phone = _write(national, rnd)
            e164 = "+7" + national
        e = rnd.random()
        email = _bad_email(rnd) if e < 0.02 else "" if e < 0.04 else _email(last, first, rnd)
        if len(earlier) < 10_000 and e164 and rnd.random() < 0.02:
            earlier.append((national, email, name))
        yield [name, phone, email, city, order], e164, email or None


def generate(
    path: Path, count: int, *, seed: int = 1, encoding: str = "utf-8", delimiter: str = ";"
) -> GeneratedList:
    out = GeneratedList(path, count)
    with path.open("w", encoding=encoding, newline="", errors="replace") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(HEADER)
        for row, e164, email in rows(count, seed):
            writer.writerow(row)
            if e164:
                out.numbers.append(e164)
            if email:
                out.emails.append(email.strip().lower())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--delimiter", default=";")
    args = parser.parse_args()
    made = generate(
        args.out, args.rows, seed=args.seed, encoding=args.encoding, delimiter=args.delimiter
    )
    print(f"{made.rows:,} rows written to {made.path}")


if __name__ == "__main__":
    main()
