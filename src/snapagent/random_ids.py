"""Random 128-bit ids in hex without a system call each.

``uuid.uuid4()`` reads 16 bytes from ``os.urandom`` for every id: a system call, which showed
up at several percent of the event loop's time in profiles of busy servers (an id per request).
Ids that only have to be unique - request ids, not secrets - come from a Mersenne Twister
seeded once per process from ``os.urandom`` (and re-seeded in a forked child, so two processes
never share a sequence). For tokens and keys use :mod:`secrets`, never this.

    random_hex_id()      # '5f0c...' (32 lowercase hex digits, like uuid4().hex)
"""

from __future__ import annotations

import os
import random

__all__ = ["random_hex_id"]

_generator = random.Random(os.urandom(32))


def _reseed() -> None:
    _generator.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def random_hex_id() -> str:
    """32 lowercase hex digits from 128 random bits (unique, not unpredictable)."""
    return f"{_generator.getrandbits(128):032x}"
