"""How reads behave while the online store changes under them, against the real Redis.

A reader pipelines the entities' HMGETs in the generation it last saw between two reads of
the views' meta hashes (featurestore/online/reader.py); these tests move generations, break
connections and plant bad keys around real reads.
"""

from __future__ import annotations

import threading

import pytest

from featurestore.errors import OnlineStoreError
from featurestore.online import reader as reader_module
from featurestore.online.codec import ViewSchema
from featurestore.online.keys import Keyspace, entity_suffix
from featurestore.online.lock import SyncLock
from featurestore.online.reader import ATTEMPTS, OnlineReader
from featurestore.online.state import begin_generation, record_sync
from featurestore.online.resp import hmget_commands
from tests.online_fixtures import TINY_VIEW, online, row, tiny  # noqa: F401

pytestmark = pytest.mark.integration

ALL = [f"{TINY_VIEW}:*"]
CUSTOMERS = [f"c{i}" for i in range(300)]


def entity_rows(customers=CUSTOMERS) -> list[dict]:
    return [{"customer_id": c} for c in customers]


def test_a_reader_follows_a_full_sync_to_the_new_generation(tiny, online):
    tiny.set_rows([row("c1", 20, orders=1), row("c2", 20, orders=2)])
    store = tiny.store()
    store.sync()
    assert store.get_online_features(entity_rows(["c1", "c2"]), ALL).values == [
        [1, 10.5, True, "gold", row("c1", 20)["last_order_at"]],
        [2, 10.5, True, "gold", row("c1", 20)["last_order_at"]],
    ]
    tiny.set_rows([row("c1", 21, orders=9)])
    assert store.sync(full=True).views[0].generation == 2  # generation 1 is deleted
    # The reader still guesses generation 1: its keys are gone, the meta hash says 2.
    result = store.get_online_features(entity_rows(["c1", "c2"]), [f"{TINY_VIEW}:orders"])
    assert result.values == [[9], [None]]
    assert result.statuses == [["present"], ["missing"]]


def test_reads_during_back_to_back_full_syncs_each_see_one_whole_generation(tiny, online):
    """Every generation holds all customers with orders = its round; a read must return all
    of them present and with one value, never a mix of two rounds or a half-deleted one."""
    tiny.set_rows([row(c, 20, orders=0) for c in CUSTOMERS])
    writer, reader = tiny.store(), tiny.store()
    writer.sync()
    rounds, failures = 6, []

    def full_syncs() -> None:
        try:
            for number in range(1, rounds + 1):
                tiny.set_rows([row(c, 20, orders=number) for c in CUSTOMERS])
                writer.sync(full=True)
        except BaseException as error:  # surfaced by the main thread
            failures.append(error)

    thread = threading.Thread(target=full_syncs)
    thread.start()
    seen, wrong = set(), []
    try:
        while thread.is_alive():
            result = reader.get_online_features(entity_rows(), [f"{TINY_VIEW}:orders"])
            statuses, values = {s for (s,) in result.statuses}, {v for (v,) in result.values}
            if statuses != {"present"} or len(values) != 1:
                wrong.append((sorted(statuses), sorted(values, key=str)))
            seen |= values
    finally:
        thread.join()  # never leave it writing under the prefix after the test
    assert not failures, failures
    assert not wrong, f"reads that were not one whole generation: {wrong[:3]}"
    assert reader.get_online_features(entity_rows(), [f"{TINY_VIEW}:orders"]).values == [[rounds]] * len(CUSTOMERS)
    assert len(seen) > 1, "the reads never overlapped a switch; the test proved nothing"


def test_a_generation_number_reused_after_redis_lost_its_data_is_read_only_once_whole(tiny, online, monkeypatch):
    """The reader guesses generation 1. Redis loses everything (the embedded server keeps
    nothing on disk), and the next full sync is writing a new generation 1 when the read
    starts; it publishes while the read's HMGETs run, as another client's commands may come
    between those of a pipeline. The read must not take the half-written rows."""
    customers = CUSTOMERS[:200]
    tiny.set_rows([row(c, 20, orders=0) for c in customers])
    store = tiny.store()
    store.sync()
    assert store.get_online_features(entity_rows(customers), [f"{TINY_VIEW}:orders"]).values == [[0]] * 200
    schema = ViewSchema.from_json(online.meta(TINY_VIEW)["schema"])
    online.delete_all()
    keyspace = Keyspace(online.prefix)
    with SyncLock(online.client, keyspace.lock_key()) as lock:  # the sync writing generation 1
        assert begin_generation(online.client, keyspace, TINY_VIEW, False, lock) == 1

        def write(customer: str) -> None:
            online.client.hset(
                keyspace.entity_base(TINY_VIEW, 1) + entity_suffix(["customer_id"], [customer]),
                mapping={"event_timestamp": "2024-02-21T00:00:00.000000", "orders": "1"},
            )

        for customer in customers[:100]:
            write(customer)
        real_exchange, published = reader_module._exchange, []

        def publish_before_the_last_meta_read(connection, payload, replies):
            if published:
                return real_exchange(connection, payload, replies)
            last_meta = hmget_commands([keyspace.meta_key(TINY_VIEW)], ("generation", "schema"))
            assert payload.endswith(last_meta)
            before = real_exchange(connection, payload[: -len(last_meta)], replies - 1)
            for customer in customers[100:]:
                write(customer)
            record_sync(online.client, keyspace, TINY_VIEW, "full", 1, schema, None, lock)
            published.append(True)
            return before + real_exchange(connection, last_meta, 1)

        monkeypatch.setattr(reader_module, "_exchange", publish_before_the_last_meta_read)
        result = store.get_online_features(entity_rows(customers), [f"{TINY_VIEW}:orders"])
    assert published
    assert result.statuses == [["present"]] * 200 and result.values == [[1]] * 200


def test_a_read_gives_up_when_the_generation_moves_during_every_attempt(tiny, online, monkeypatch):
    tiny.set_rows([row("c1", 20)])
    store = tiny.store()
    store.sync()
    real_round_trip = OnlineReader._round_trip

    def a_full_sync_finishes_meanwhile(self, request):
        replies = real_round_trip(self, request)
        online.client.hincrby(Keyspace(online.prefix).meta_key(TINY_VIEW), "generation", 1)
        return replies

    monkeypatch.setattr(OnlineReader, "_round_trip", a_full_sync_finishes_meanwhile)
    with pytest.raises(OnlineStoreError) as raised:
        store.get_online_features(entity_rows(["c1"]), ALL)
    assert str(raised.value) == (
        f"the generations of {TINY_VIEW} in Redis at {online.url} changed during each of "
        f"{ATTEMPTS} reads in a row; is something running full syncs back to back? Read again once it has finished"
    )


def test_a_connection_closed_while_idle_is_replaced_and_the_read_succeeds(tiny, online):
    tiny.set_rows([row("c1", 20, orders=4)])
    store = tiny.store()
    store.sync()
    reader = store._online_reader(None)
    assert store.get_online_features(entity_rows(["c1"]), [f"{TINY_VIEW}:orders"]).values == [[4]]
    # The pool holds one idle connection: the one CLIENT ID runs on, and the next read takes.
    online.client.client_kill_filter(_id=reader.client.client_id())
    assert store.get_online_features(entity_rows(["c1"]), [f"{TINY_VIEW}:orders"]).values == [[4]]


def test_an_error_reply_in_the_middle_fails_the_read_and_leaves_no_reply_behind(tiny, online):
    tiny.set_rows([row(c, 20, orders=int(c[1:])) for c in CUSTOMERS])
    store = tiny.store()
    store.sync()
    bad_key = Keyspace(online.prefix).entity_base(TINY_VIEW, 1) + entity_suffix(["customer_id"], ["c150"])
    online.client.delete(bad_key)
    online.client.set(bad_key, "not a hash")
    with pytest.raises(OnlineStoreError) as raised:
        store.get_online_features(entity_rows(), ALL)
    assert str(raised.value).startswith(
        f"Redis at {online.url} refused a command while reading online features: WRONGTYPE"
    )
    online.client.delete(bad_key)
    # Had the replies after the error stayed unread, this read would get them instead of its own.
    result = store.get_online_features(entity_rows(["c7", "c299"]), [f"{TINY_VIEW}:orders"])
    assert result.values == [[7], [299]]


def test_threads_sharing_a_store_each_read_their_own_entities(tiny, online):
    """Each thread reads on a connection of its own (reader.py): replies never cross over."""
    tiny.set_rows([row(c, 20, orders=i) for i, c in enumerate(CUSTOMERS[:40])])
    store = tiny.store()
    store.sync()
    wrong, failures = [], []

    def reads(first: int) -> None:
        try:
            for round_ in range(100):
                index = first + round_ % 10
                result = store.get_online_features([{"customer_id": CUSTOMERS[index]}], [f"{TINY_VIEW}:orders"])
                if result.values != [[index]]:
                    wrong.append((index, result.values))
        except BaseException as error:  # surfaced by the main thread
            failures.append(error)

    threads = [threading.Thread(target=reads, args=(first,)) for first in (0, 10, 20, 30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and not wrong, (failures, wrong[:3])
