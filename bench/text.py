"""Per-message cost of the text layer: encode, choose, split, decode, pack.

Run: ``python bench/text.py`` (prints microseconds per call, best of 5 runs).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from smppd.text import gsm7
from smppd.text.charset import choose_encoding, decode
from smppd.text.policy import TextPolicy
from smppd.text.segment import segment

GSM_160 = ("Your code is 123456. Valid for 10 minutes. Do not share it with anyone! " * 3)[:160]
GSM_459 = ("Sale on now: 50% off all items {today only} at our store. €5 delivery. " * 7)[:459]
UCS2_70 = ("Привет! Ваш код 123456. 😀 " * 3)[:70]
TYPO_160 = ("It’s “here” — don’t miss it… " * 6)[:160]
TURKISH_160 = ("Çalışma saatleri değişti, lütfen kontrol edin. " * 4)[:160]

SEPTETS_160 = gsm7.DEFAULT.encode(GSM_160)
PACKED_160 = gsm7.pack(SEPTETS_160)
TRANSLIT = TextPolicy(transliterate=True)
NATIONAL = TextPolicy(national_languages=("turkish",))


def _ref() -> int:
    return 1


CASES: list[tuple[str, Callable[[], object]]] = [
    ("gsm7 encode, 160 chars", lambda: gsm7.DEFAULT.encode(GSM_160)),
    ("gsm7 decode, 160 septets", lambda: gsm7.DEFAULT.decode(SEPTETS_160)),
    ("charset.decode dcs 0, 160 septets", lambda: decode(SEPTETS_160, 0)),
    ("choose_encoding, 160 GSM chars", lambda: choose_encoding(GSM_160)),
    ("segment, 160 GSM chars (1 part)", lambda: segment(GSM_160)),
    ("segment, 459 GSM chars (4 parts)", lambda: segment(GSM_459, next_reference=_ref)),
    ("segment, 70 UCS-2 chars (2 parts)", lambda: segment(UCS2_70, next_reference=_ref)),
    (
        "segment, 160 typographic, transliterated",
        lambda: segment(TYPO_160, TRANSLIT, next_reference=_ref),
    ),
    (
        "segment, 160 Turkish, national tables",
        lambda: segment(TURKISH_160, NATIONAL, next_reference=_ref),
    ),
    ("pack 160 septets", lambda: gsm7.pack(SEPTETS_160)),
    ("unpack 160 septets", lambda: gsm7.unpack(PACKED_160, 160)),
]


def main() -> None:
    for name, call in CASES:
        number = 2000
        best = min(timeit.repeat(call, number=number, repeat=5)) / number
        print(f"{name:45s} {best * 1e6:8.2f} µs")


if __name__ == "__main__":
    main()
