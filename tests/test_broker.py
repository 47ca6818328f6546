"""The brokers: the embedded default's never shows a worker a message half written; the
Redis one publishes through one client per pool, and still delivers."""

import os
from queue import Empty

import pytest
from django.conf import settings
from kombu import Connection

from config import broker


@pytest.fixture
def channel(tmp_path):
    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder, "store_processed": False}
    with Connection(
        "filesystem://", transport="config.broker:FilesystemTransport", transport_options=options
    ) as connection:
        yield connection.default_channel


def test_a_message_is_invisible_to_workers_until_it_is_written_whole(channel, monkeypatch):
    looked_while_writing = []
    rename = os.replace

    def rename_after_a_worker_looked(partial, final):
        with open(partial, "rb") as written:
            assert written.read()  # the whole message, before anyone may see it
        with pytest.raises(Empty):
            channel._get("runs.now")  # a worker looking now finds no message
        looked_while_writing.append(final)
        rename(partial, final)

    monkeypatch.setattr(broker.os, "replace", rename_after_a_worker_looked)

    channel._put("runs.now", {"body": "hello"})

    assert len(looked_while_writing) == 1
    assert channel._get("runs.now") == {"body": "hello"}
    with pytest.raises(Empty):
        channel._get("runs.now")


def test_each_message_comes_out_of_its_own_queue_once(channel):
    for number in range(3):
        channel._put("runs.due", {"number": number})
    channel._put("runs.now", {"number": "kick"})

    assert sorted(channel._get("runs.due")["number"] for _ in range(3)) == [0, 1, 2]
    assert channel._get("runs.now") == {"number": "kick"}
    for queue in ("runs.due", "runs.now"):
        with pytest.raises(Empty):
            channel._get(queue)


def test_the_redis_channel_publishes_through_one_client():
    with Connection(
        settings.CELERY_BROKER_URL, transport="config.broker:RedisTransport"
    ) as connection:
        channel = connection.default_channel
        channel._purge("bench.test")
        clients = set()
        for number in range(3):
            with channel.conn_or_acquire() as client:
                clients.add(id(client))
            channel._put("bench.test", {"number": number})

        assert len(clients) == 1
        assert [channel._get("bench.test")["number"] for _ in range(3)] == [0, 1, 2]
        assert channel._create_client(asynchronous=True) is not channel._create_client()
