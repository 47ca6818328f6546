"""Running the same work in several threads at once, each with its own database session."""

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def in_parallel(work: Callable[[], T], count: int) -> list[T]:
    """Call ``work`` from ``count`` threads released at the same instant; answers what
    each returned. An exception in any thread fails the caller, after all have ended."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    failures: list[BaseException] = []

    def thread_body() -> None:
        try:
            barrier.wait()
            results.append(work())
        except BaseException as error:  # re-raised below, in the caller's thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=thread_body) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results
