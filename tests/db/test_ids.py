"""`new_id` (uuid7: time-ordered) and `new_key` (uuid4) as hex, from bulk CSPRNG reads,
unique across threads and forks."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from multiprocessing.connection import Connection

from snapagent.db.base import new_id, new_key


def test_keys_are_uuid4_hex() -> None:
    for _ in range(600):  # more than one bulk read
        value = new_key()
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == value


def test_ids_are_uuid7_hex_in_creation_order() -> None:
    """The first 48 bits are the creation time in milliseconds (an id's place in a primary
    key's B-tree); ids of different milliseconds sort as they were made."""
    before = time.time_ns() // 1_000_000
    values = [new_id() for _ in range(600)]
    after = time.time_ns() // 1_000_000
    for value in values:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert parsed.hex == value
        assert before <= int(value[:12], 16) <= after
    time.sleep(0.002)
    later = new_id()
    assert all(later > value for value in values)
    assert len(set(values)) == len(values)


def test_threads_never_share_an_id() -> None:
    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(into: list[str]) -> None:
        into.extend(new_id() for _ in range(5000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for into in drawn for value in into]
    assert len(set(every)) == len(every) == 40_000


def _child(out: Connection) -> None:
    out.send([new_id() for _ in range(5)])


def test_a_forked_child_does_not_reuse_its_parents_unread_ids() -> None:
    new_id()  # the parent now holds unread ids of its last bulk read
    reader, writer = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child, args=(writer,))
    child.start()
    from_child = reader.recv()
    child.join()
    from_parent = [new_id() for _ in range(300)]
    assert not set(from_child) & set(from_parent)
