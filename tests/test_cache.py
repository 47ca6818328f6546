"""The rate-limit cache on Redis keeps its clients and still counts correctly."""

from django.core.cache import cache


def test_cache_calls_share_one_redis_client_and_count_atomically():
    cache.delete("counter")

    cache.add("counter", 0, 60)
    first_client = cache._cache.get_client(write=True)
    counts = [cache.incr("counter") for _ in range(3)]

    assert counts == [1, 2, 3]
    assert cache._cache.get_client(write=True) is first_client
    assert cache._cache.get_client() is first_client  # one server: reads use it too
