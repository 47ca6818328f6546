"""kombu's transports as the product uses them: the filesystem one writing each message
whole, the Redis one keeping its publishing client.

The embedded default's broker: kombu's filesystem transport creates a message's file in
the queue folder and then writes into it, while a worker moves away and reads any file
it finds there: a worker that finds the file between the two reads an empty message, and
the JSON error ends it (and with it the embedded default). Here a message is written
under a name no worker picks up and then renamed into place, which is atomic: a worker
sees it whole or not at all. ``settings.CELERY_BROKER_TRANSPORT`` names this transport
for ``filesystem://``.

Redis: kombu's channel builds a new ``redis.Redis`` for every message it publishes, and
redis-py copies about 170 response callbacks into each: some 0.4 ms of CPU on every
trigger's kick. The client only wraps the channel's pool, so here it is built once per
pool. (The worker's own consuming client, the asynchronous one, is left as it is.)
"""

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, redis
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class FilesystemChannel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # The name kombu gives a message (its order is the folder's sort order).
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.partial"  # ends otherwise than ".<queue>.msg": not a message
        try:
            with open(partial, "wb") as message:
                message.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as error:
            raise ChannelError(f"Cannot add file {final!r} to directory") from error


class FilesystemTransport(filesystem.Transport):
    Channel = FilesystemChannel


class RedisChannel(redis.Channel):
    _publishing_client: tuple[Any, Any] | None = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        if self._publishing_client is None or self._publishing_client[0] is not pool:
            self._publishing_client = (pool, super()._create_client())
        return self._publishing_client[1]


class RedisTransport(redis.Transport):
    Channel = RedisChannel
