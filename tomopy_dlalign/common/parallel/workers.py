"""CPU worker threads for the reconstruction loops.

PyTorch's intra-op threads (OpenMP) split every operation into equal shares up front and
meet at its end, so on a machine shared with other jobs one descheduled thread holds all
of them up: with two such threads on two busy cores, ``fbp`` and ``mlem`` took two to
three and a half times as long as with one (benchmarks/RESULTS.md, issue #18). The loops
of this package instead cut their work into independent pieces (angle blocks, pixel-row
blocks, row blocks of a matrix product, blocks of a matrix being built) that the calling
thread and a few helper threads take one at a time until none is left, each running
PyTorch on a single thread. PyTorch and NumPy release the GIL while they compute; a
helper that gets no processor delays at most the piece it holds, and the caller alone
still finishes the rest at the speed of one thread. Around such a loop,
:func:`cpu_threads` keeps the caller's own PyTorch operations (transposes, element-wise
steps) on one thread as well. ``torch.get_num_threads()`` threads in all take part (so
``OMP_NUM_THREADS`` and ``torch.set_num_threads`` still set the parallelism); pieces of a
call made inside a piece are computed there, one after the other.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

from .threads import piece_threads

T = TypeVar("T")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()
_local = threading.local()


def _forget_pool() -> None:
    # a forked child has none of the parent's threads: it starts a pool of its own
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _start_helper() -> None:
    torch.set_num_threads(1)  # for this thread only: other threads keep their setting
    _local.in_piece = True


def count() -> int:
    """Threads that take pieces: ``torch.get_num_threads()`` as the caller had it, or
    every available CPU after an automatic thread choice
    (:func:`~tomopy_dlalign.common.parallel.threads.piece_threads`: helpers that take work as they
    are free lose little to a core that others keep busy); 1 inside a piece."""
    if getattr(_local, "in_piece", False):
        return 1
    base = getattr(_local, "threads", None) or max(1, torch.get_num_threads())
    return max(base, piece_threads() or 0)


@contextmanager
def cpu_threads() -> Iterator[None]:
    """Run this thread's PyTorch operations on one thread (no OpenMP team to wait for)
    while :func:`map_pieces` inside still spreads its pieces over :func:`count` threads."""
    if getattr(_local, "threads", None) is not None or getattr(_local, "in_piece", False):
        yield
        return
    threads = _local.threads = max(1, torch.get_num_threads())
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        _local.threads = None


def _helpers(n: int) -> ThreadPoolExecutor:
    """The pool of helper threads, with at least ``n`` of them."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            _pool = ThreadPoolExecutor(n, thread_name_prefix="tomopy_dlalign",
                                       initializer=_start_helper)
            _pool_size = n
        return _pool


def map_pieces(fn: Callable[[T], R], pieces: Iterable[T]) -> list[R]:
    """``[fn(p) for p in pieces]``, the pieces shared between this thread and
    ``count() - 1`` helpers, each taking the next piece as soon as it is free."""
    items = list(pieces)
    n = min(count(), len(items))
    if n <= 1:
        return [fn(p) for p in items]
    results: list = [None] * len(items)
    order = iter(range(len(items)))
    take = threading.Lock()

    def drain() -> None:
        while True:
            with take:
                i = next(order, None)
            if i is None:
                return
            results[i] = fn(items[i])

    helpers = [_helpers(n - 1).submit(drain) for _ in range(n - 1)]
    with cpu_threads():
        _local.in_piece = True
        try:
            drain()
        finally:
            _local.in_piece = False
            for h in helpers:
                if not h.cancel():  # a helper busy elsewhere never started this one
                    h.result()  # the pieces still in its hands; re-raises its error
    return results
