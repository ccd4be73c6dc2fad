"""The shared training loop: resume, identity checks, interruption, early stop, time limit."""

import pytest
import torch

from tomopy_dlalign.common.trainer import FitConfig, fit


def _problem(seed=0):
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1
    torch.manual_seed(seed)
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)

    def plan(epoch, gen):
        order = torch.randperm(64, generator=gen)
        return [order[a:a + 8] for a in range(0, 64, 8)]

    def loss(idx, gen):
        return ((net(x[idx])[:, 0] - y[idx]) ** 2).mean()

    def validate():
        return float(((net(x)[:, 0] - y) ** 2).mean())

    return net, opt, sched, plan, loss, validate


def test_fit_lowers_the_loss_and_records_one_entry_per_epoch():
    net, opt, sched, plan, loss, validate = _problem()
    state = fit(net, opt, sched, plan, loss, FitConfig(epochs=4), validate=validate)
    assert [h["epoch"] for h in state.history] == [1, 2, 3, 4]
    assert state.history[-1]["val_loss"] < 0.1 * state.history[0]["train_loss"]


def test_a_run_resumed_mid_epoch_ends_where_a_straight_run_ends(tmp_path):
    net, opt, sched, plan, loss, validate = _problem()
    straight = fit(net, opt, sched, plan, loss, FitConfig(epochs=3), validate=validate)
    w_straight = net.weight.detach().clone()

    net, opt, sched, plan, loss, validate = _problem()
    calls = {"n": 0}

    def interrupting(idx, gen):
        calls["n"] += 1
        if calls["n"] == 13:  # second epoch, fifth batch
            raise KeyboardInterrupt
        return loss(idx, gen)

    cfg = FitConfig(epochs=3, checkpoint=tmp_path / "run.ckpt", save_every=2)
    with pytest.raises(KeyboardInterrupt):
        fit(net, opt, sched, plan, interrupting, cfg, validate=validate)
    assert (tmp_path / "run.ckpt").exists()
    net, opt, sched, plan, loss, validate = _problem(seed=1)  # other initial weights
    resumed = fit(net, opt, sched, plan, loss, cfg, validate=validate)
    assert torch.allclose(net.weight, w_straight, atol=1e-6)
    assert [h["val_loss"] for h in resumed.history] == pytest.approx(
        [h["val_loss"] for h in straight.history], rel=1e-5)


def test_a_checkpoint_of_another_run_is_refused_by_name(tmp_path):
    net, opt, sched, plan, loss, _ = _problem()
    ckpt = tmp_path / "run.ckpt"
    fit(net, opt, sched, plan, loss, FitConfig(epochs=1, checkpoint=ckpt,
                                               identity={"batch_size": 8}))
    with pytest.raises(ValueError, match="batch_size=16 differs"):
        fit(net, opt, sched, plan, loss, FitConfig(epochs=2, checkpoint=ckpt,
                                                   identity={"batch_size": 16}))


def test_patience_stops_when_validation_stalls_and_on_best_sees_each_new_low():
    net, opt, sched, plan, loss, _ = _problem()
    lows = []
    state = fit(net, opt, sched, plan, loss, FitConfig(epochs=20, patience=2),
                validate=lambda: 1.0, on_best=lambda s: lows.append(s.epoch))
    assert lows == [1] and state.epoch == 3 and state.stopped_early


def test_time_limit_stops_after_the_first_batch_and_keeps_the_checkpoint(tmp_path):
    net, opt, sched, plan, loss, _ = _problem()
    cfg = FitConfig(epochs=5, checkpoint=tmp_path / "t.ckpt", max_minutes=0.0)
    state = fit(net, opt, sched, plan, loss, cfg)
    assert state.epoch == 1 and state.stopped_early and (tmp_path / "t.ckpt").exists()


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"epochs": 2, "scheduler_step": "often"}])
def test_bad_loop_settings_are_refused(bad):
    with pytest.raises(ValueError):
        FitConfig(**bad)


def test_a_file_that_is_not_a_checkpoint_of_the_loop_is_refused_by_name(tmp_path):
    net, opt, sched, plan, loss, _ = _problem()
    foreign = tmp_path / "old.ckpt"
    torch.save({"model": net.state_dict(), "epoch": 3}, foreign)
    with pytest.raises(ValueError, match="not a checkpoint of this training loop"):
        fit(net, opt, sched, plan, loss, FitConfig(epochs=1, checkpoint=foreign))
    foreign.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot be read"):
        fit(net, opt, sched, plan, loss, FitConfig(epochs=1, checkpoint=foreign))


def test_checkpoints_and_log_lines_come_every_n_epochs_and_after_the_last(tmp_path,
                                                                           monkeypatch, caplog):
    import logging

    from tomopy_dlalign.common import trainer

    saved = []
    monkeypatch.setattr(trainer._Checkpoint, "save",
                        lambda self, state: saved.append(state.epoch))
    net, opt, sched, plan, loss, _ = _problem()
    cfg = FitConfig(epochs=7, checkpoint=tmp_path / "run.ckpt", save_every=1000,
                    checkpoint_every=3, log_every=2, desc="many")
    with caplog.at_level(logging.INFO, logger="tomopy_dlalign.common.trainer"):
        fit(net, opt, sched, plan, loss, cfg)
    assert saved == [3, 6, 7]
    logged = [int(r.getMessage().split("epoch ")[1].split("/")[0]) for r in caplog.records
              if r.getMessage().startswith("many: epoch")]
    assert logged == [2, 4, 6, 7]


@pytest.mark.parametrize("name", ["log_every", "checkpoint_every"])
def test_a_cadence_below_one_is_refused_by_name(name):
    with pytest.raises(ValueError, match=f"{name} must be at least 1"):
        FitConfig(epochs=2, **{name: 0})
