"""The thread count: CPUs from the affinity mask and the cgroup quota (v2 and v1 files
made here), the other processes' load from made-up /proc/stat counters, the order of the
argument and the environment variables, and torch's count once applied. Nothing is timed."""

from __future__ import annotations

import pytest
import torch

from tomopy_dlalign.common.parallel import threads
from tomopy_dlalign.common.parallel.threads import (
    ENV_VARIABLE,
    RUNTIME_VARIABLES,
    apply_threads,
    available_cpus,
    busy_cpus,
    cgroup_cpu_limit,
    choose_threads,
    default_threads,
)


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A made-up machine: ``cpus(n)`` sets the affinity mask, ``group(line, **files)``
    writes /proc/self/cgroup and files under the group's folder of the cgroup mount."""
    root, proc = tmp_path / "cgroup", tmp_path / "proc_self_cgroup"
    root.mkdir()
    proc.write_text("")
    monkeypatch.setattr(threads, "CGROUP_ROOT", root)
    monkeypatch.setattr(threads, "PROC_CGROUP", proc)

    class Machine:
        def cpus(self, n):
            monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(n)),
                                raising=False)

        def group(self, line, folder=".", **files):
            with proc.open("a") as f:
                f.write(line + "\n")
            where = root / folder
            where.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (where / name.replace("__", ".")).write_text(text + "\n")

    m = Machine()
    m.cpus(4)
    return m


@pytest.fixture(autouse=True)
def no_thread_variables(monkeypatch):
    for name in (ENV_VARIABLE, *RUNTIME_VARIABLES):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def torch_threads(monkeypatch):
    before = torch.get_num_threads()
    # an automatic choice also sets the work-sharing helpers' count: restored too
    monkeypatch.setattr(threads, "_PIECES", threads.piece_threads())
    yield
    torch.set_num_threads(before)


def test_without_a_quota_the_affinity_mask_counts(machine):
    machine.group("0::/", cpu__max="max 100000")
    machine.cpus(3)
    assert cgroup_cpu_limit() is None
    assert available_cpus() == 3


def test_a_v2_quota_of_one_and_a_half_cpus_allows_two_threads(machine):
    machine.group("0::/", cpu__max="150000 100000")
    assert cgroup_cpu_limit() == pytest.approx(1.5)
    assert available_cpus() == 2


def test_the_affinity_mask_caps_a_larger_quota(machine):
    machine.group("0::/", cpu__max="800000 100000")
    machine.cpus(2)
    assert available_cpus() == 2


def test_the_smallest_quota_of_the_group_and_its_ancestors_counts(machine):
    machine.group("0::/batch.slice/job42", folder="batch.slice", cpu__max="300000 100000")
    machine.group("", folder="batch.slice/job42", cpu__max="max 100000")
    machine.group("", folder=".", cpu__max="max 100000")
    assert cgroup_cpu_limit() == pytest.approx(3.0)
    assert available_cpus() == 3


def test_a_container_that_shows_its_group_as_the_root_reads_the_mount(machine):
    # /proc/self/cgroup names the host's path, absent from the container's mount
    machine.group("0::/docker/0123abcd", cpu__max="100000 100000")
    assert available_cpus() == 1


def test_a_v1_cfs_quota_counts_and_minus_one_means_none(machine):
    machine.group("4:cpu,cpuacct:/", folder="cpu,cpuacct",
                  cpu__cfs_quota_us="200000", cpu__cfs_period_us="100000")
    assert cgroup_cpu_limit() == pytest.approx(2.0)
    assert available_cpus() == 2


def test_a_v1_quota_of_minus_one_leaves_the_affinity(machine):
    machine.group("2:cpu:/", folder="cpu", cpu__cfs_quota_us="-1",
                  cpu__cfs_period_us="100000")
    assert cgroup_cpu_limit() is None
    assert available_cpus() == 4


def test_on_a_hybrid_system_the_v1_cpu_quota_and_the_unified_hierarchy_are_both_read(machine):
    machine.group("1:cpu:/", folder="cpu", cpu__cfs_quota_us="250000",
                  cpu__cfs_period_us="100000")
    machine.group("0::/", folder="unified", cpu__max="max 100000")
    assert cgroup_cpu_limit() == pytest.approx(2.5)
    assert available_cpus() == 3


@pytest.mark.parametrize("text", ["", "garbage", "0 100000", "100000", "a b"])
def test_unreadable_quota_files_are_ignored(machine, text):
    machine.group("0::/", cpu__max=text)
    assert available_cpus() == 4


def _counters(*cpus):
    """A /proc/stat with ``(user, idle)`` ticks per CPU."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{i} {u} 0 0 {idle} 0 0 0 0 0 0" for i, (u, idle) in enumerate(cpus)]
    return "\n".join(lines + ["intr 1 2 3", "ctxt 10"]) + "\n"


def test_busy_cpus_sums_the_busy_share_of_the_cpus_in_the_affinity_mask(machine, tmp_path,
                                                                         monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text(_counters((100, 900), (0, 1000), (0, 1000)))
    machine.cpus(2)  # cpu2 is outside the mask: its load is not ours to share

    def sleep(seconds):
        stat.write_text(_counters((150, 950), (10, 1090), (100, 1000)))

    monkeypatch.setattr(threads, "PROC_STAT", stat)
    monkeypatch.setattr(threads.time, "sleep", sleep)
    monkeypatch.setattr(threads, "_own_cpu_seconds", lambda: 0.0)
    assert busy_cpus() == pytest.approx(2 * 60 / 200)


def test_busy_cpus_is_none_without_proc_stat(machine, tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "PROC_STAT", tmp_path / "missing")
    assert busy_cpus(0.01) is None


@pytest.mark.parametrize("cpus, busy, expected", [(2, 0.0, 2), (2, 0.45, 2), (2, 0.55, 1),
                                                  (2, 1.0, 1), (2, 2.0, 1), (16, 1.0, 15),
                                                  (16, 3.6, 12), (4, None, 4)])
def test_the_automatic_count_leaves_out_the_cores_others_keep_busy(machine, monkeypatch,
                                                                   cpus, busy, expected):
    machine.cpus(cpus)
    monkeypatch.setattr(threads, "busy_cpus", lambda seconds=0: busy)
    choice = default_threads()
    assert (choice.threads, choice.source, choice.available, choice.busy) == (
        expected, "automatic", cpus, busy)


def test_the_automatic_count_keeps_within_the_quota(machine, monkeypatch):
    machine.cpus(8)
    machine.group("0::/", cpu__max="200000 100000")
    monkeypatch.setattr(threads, "busy_cpus", lambda seconds=0: 0.0)
    assert default_threads().threads == 2


def test_the_argument_beats_the_variables_and_ours_beats_openmps(machine, monkeypatch):
    monkeypatch.setattr(threads, "busy_cpus", lambda seconds=0: 0.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert (choose_threads().threads, choose_threads().source) == (2, "OMP_NUM_THREADS")
    monkeypatch.setenv(ENV_VARIABLE, "3")
    assert (choose_threads().threads, choose_threads().source) == (3, ENV_VARIABLE)
    assert (choose_threads(1).threads, choose_threads(1).source) == (1, "argument")
    monkeypatch.setenv(ENV_VARIABLE, "auto")
    assert choose_threads().source == "OMP_NUM_THREADS"


def test_mkl_num_threads_counts_after_omp_num_threads_and_lists_give_their_first(machine,
                                                                                monkeypatch):
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    assert (choose_threads().threads, choose_threads().source) == (3, "MKL_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")
    assert (choose_threads().threads, choose_threads().source) == (4, "OMP_NUM_THREADS")


def test_zero_or_nonsense_in_openmps_variables_leaves_the_choice_automatic(machine,
                                                                          monkeypatch):
    monkeypatch.setattr(threads, "busy_cpus", lambda seconds=0: 0.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    monkeypatch.setenv("MKL_NUM_THREADS", "0")
    assert choose_threads(0).source == "automatic"


@pytest.mark.parametrize("text", ["-1", "two", "1.5"])
def test_a_bad_value_of_our_variable_is_refused_naming_it(machine, monkeypatch, text):
    monkeypatch.setenv(ENV_VARIABLE, text)
    with pytest.raises(ValueError, match=f"{ENV_VARIABLE} must be a number of threads"):
        choose_threads()


def test_a_negative_argument_is_refused():
    with pytest.raises(ValueError, match="threads must be a number of threads, 0 or more"):
        choose_threads(-2)


def test_apply_threads_sets_torchs_count(machine, monkeypatch, torch_threads):
    choice = apply_threads(1)
    assert torch.get_num_threads() == 1 and choice.threads == 1
    monkeypatch.setenv(ENV_VARIABLE, "2")
    apply_threads()
    assert torch.get_num_threads() == 2
    monkeypatch.delenv(ENV_VARIABLE)
    machine.cpus(3)
    monkeypatch.setattr(threads, "busy_cpus", lambda seconds=0: 1.0)
    assert apply_threads(0).threads == torch.get_num_threads() == 2


def test_the_choice_says_how_it_was_made():
    assert str(threads.ThreadChoice(1, "automatic", 2, 1.0)) == (
        "1 thread (automatic: 2 CPUs available, 1.00 busy with others)")
    assert "from OMP_NUM_THREADS" in str(threads.ThreadChoice(4, "OMP_NUM_THREADS", 2))
