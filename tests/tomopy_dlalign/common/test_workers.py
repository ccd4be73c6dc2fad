"""The worker threads that reconstruction loops share their pieces with."""

import multiprocessing
import threading

import pytest
import torch

from tomopy_dlalign.common.parallel import workers


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_results_come_back_in_order_from_several_threads(two_threads):
    names = workers.map_pieces(lambda i: (i, threading.current_thread().name), range(64))
    assert [i for i, _ in names] == list(range(64))


def test_a_piece_runs_torch_on_one_thread_and_the_caller_keeps_its_setting(two_threads):
    inside = workers.map_pieces(lambda _: torch.get_num_threads(), range(8))
    assert set(inside) == {1}
    assert torch.get_num_threads() == 2


def test_a_call_inside_a_piece_runs_its_pieces_in_place(two_threads):
    def outer(i):
        me = threading.current_thread()
        return workers.map_pieces(lambda j: (i * 10 + j, threading.current_thread() is me),
                                  range(3))

    out = workers.map_pieces(outer, range(4))
    assert [v for part in out for v, _ in part] == [i * 10 + j for i in range(4)
                                                    for j in range(3)]
    assert all(same for part in out for _, same in part)


def test_an_error_in_a_piece_reaches_the_caller(two_threads):
    def fail(i):
        if i == 5:
            raise ValueError("piece 5")
        return i

    with pytest.raises(ValueError, match="piece 5"):
        workers.map_pieces(fail, range(10))


def test_cpu_threads_keeps_the_callers_operations_on_one_thread(two_threads):
    with workers.cpu_threads():
        assert torch.get_num_threads() == 1 and workers.count() == 2
    assert torch.get_num_threads() == 2


def _square_sum(queue):
    queue.put(sum(workers.map_pieces(lambda i: i * i, range(10))))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fork")
def test_a_forked_child_starts_its_own_helpers(two_threads):
    workers.map_pieces(lambda i: i, range(8))  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_square_sum, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and queue.get(timeout=5) == 285
