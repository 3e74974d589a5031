"""The one training loop on the real tiny Cognate model: it learns, it is deterministic, a job
killed after a checkpoint resumes to the weights of one that never stopped (stateful hooks and
several stages included), hooks signal, trainable subsets and a frozen reference work."""

from __future__ import annotations

import copy

import pytest
import torch

from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.runtime.train import ListReporter
from agent_forge.training import OptimConfig
from agent_forge.training.lm_loop import windows
from agent_forge.training.loop import Hook, LoopConfig, Stage, lm_loss, train
from agent_forge.training.optim import GroupedAdamW, hybrid
from agent_forge.training.train_state import model_weights

VOCAB = 64


def _model(seed: int = 0) -> CognateForCausalLM:
    torch.manual_seed(seed)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=VOCAB, act_max_steps=1))


@pytest.fixture(scope="module")
def stream() -> torch.Tensor:
    """A learnable stream: a repeating pattern with a little noise."""
    g = torch.Generator().manual_seed(0)
    base = torch.arange(3000) % 7 + 3
    noise = torch.randint(0, VOCAB, (3000,), generator=g)
    keep = torch.rand(3000, generator=g) < 0.9
    return torch.where(keep, base, noise)


class Counter(Hook):
    """Stateful: counts steps; signals `at` -> signal."""

    name = "counter"

    def __init__(self, at: dict[int, str] | None = None):
        self.count, self.at, self.heard = 0, at or {}, []

    def after_step(self, loop, metrics):
        self.count += 1
        metrics["counter"] = self.count
        return self.at.get(loop.step)

    def on_signal(self, signal, loop):
        self.heard.append(signal)

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = state["count"]


def _stages(stream: torch.Tensor, hook: Hook, steps: tuple[int, int] = (4, 4)) -> list[Stage]:
    optim = OptimConfig(warmup_steps=1, total_steps=steps[0], grokfast_enabled=True)
    return [
        Stage("a", steps[0], windows(stream, 2, 16, 0), lm_loss, hybrid(optim), hooks=[hook]),
        Stage(
            "b",
            steps[1],
            windows(stream, 2, 16, 1),
            lm_loss,
            lambda m: GroupedAdamW(m, 1e-3, {"lm_head": 1e-2}),
            hooks=[hook],
        ),
    ]


CFG = LoopConfig(eval_every=2, checkpoint_every=3, report_every=1, precision="fp32")


def test_the_loop_learns(stream):
    model = _model()
    optim = OptimConfig(muon_lr=3e-3, adamw_lr=3e-3, warmup_steps=2, total_steps=30)
    stage = Stage("lm", 30, windows(stream, 8, 32, 0), lm_loss, hybrid(optim))
    rep = ListReporter()
    train(model, [stage], LoopConfig(checkpoint_every=100, precision="fp32"), rep.report)
    losses = [s["train/loss"] for m in rep.metrics for s in m["steps"]]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def test_two_identical_runs_agree(stream):
    outs = []
    for _ in range(2):
        model, rep = _model(), ListReporter()
        train(model, _stages(stream, Counter()), CFG, rep.report)
        outs.append(model_weights(rep.latest_state().state))
    assert all(torch.equal(outs[0][k], outs[1][k]) for k in outs[0])


@pytest.mark.parametrize("kill_at", [1, 2])  # 1: mid stage a; 2: the checkpoint ending stage a
def test_a_killed_job_resumes_to_the_uninterrupted_weights(stream, kill_at):
    model, whole = _model(), ListReporter()
    hook = Counter()
    train(model, _stages(stream, hook), CFG, whole.report)

    class Dies(ListReporter):
        n = 0

        def report(self, metrics, state=None, extra=None):
            super().report(metrics, state, extra)
            if state is not None:
                self.n += 1
                if self.n == kill_at:
                    raise RuntimeError("killed")

    dies = Dies()
    with pytest.raises(RuntimeError, match="killed"):
        train(_model(), _stages(stream, Counter()), CFG, dies.report)
    latest = dies.latest_state()
    resumed, again = ListReporter(), Counter()
    out = train(
        _model(), _stages(stream, again), CFG, resumed.report, resume=(latest.state, latest.extra)
    )
    assert out.resumed_at == tuple(latest.extra["resume_at"])
    a, b = (model_weights(r.latest_state().state) for r in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert again.count == hook.count == 8  # the hook's state came back with the checkpoint
    first = [(s["stage"], s["step"]) for m in whole.metrics for s in m["steps"]]
    after = [(s["stage"], s["step"]) for m in resumed.metrics for s in m["steps"]]
    assert first[-len(after) :] == after


def test_signals_advance_stop_and_others(stream):
    hook = Counter(at={1: "switch", 2: "advance"})
    out = train(_model(), _stages(stream, hook), CFG, ListReporter().report)
    # the hook sits in both stages: each hears "switch" at its step 1 and ends at its step 2
    assert [(s.name, s.steps_run, s.ended_by) for s in out.stages] == [
        ("a", 3, "advance"),
        ("b", 3, "advance"),
    ]
    assert hook.heard == ["switch", "switch"]

    stopper = Counter(at={0: "stop"})
    out = train(_model(), _stages(stream, stopper), CFG, ListReporter().report)
    assert [(s.name, s.steps_run, s.ended_by) for s in out.stages] == [("a", 1, "stop")]


def test_a_trainable_subset_trains_alone(stream):
    model = _model()
    before = copy.deepcopy(model.state_dict())
    stage = Stage(
        "head",
        3,
        windows(stream, 2, 16, 0),
        lm_loss,
        lambda m: GroupedAdamW(m, 1e-2),
        trainable=lambda n: n.startswith("model.norm"),
    )
    train(model, [stage], CFG, ListReporter().report)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("model.norm") for k in changed)


def test_the_reference_model_reaches_the_loss(stream):
    model, ref = _model(), _model(seed=1).eval().requires_grad_(False)

    def kl_to_reference(m, batch, loop):
        with torch.no_grad():
            target = torch.log_softmax(loop.reference(input_ids=batch).logits, -1)
        logp = torch.log_softmax(m(input_ids=batch).logits, -1)
        kl = torch.nn.functional.kl_div(logp, target, log_target=True, reduction="batchmean")
        return kl, {"kl": float(kl.detach())}

    stage = Stage(
        "kl", 12, windows(stream, 4, 16, 0), kl_to_reference, lambda m: GroupedAdamW(m, 3e-3)
    )
    rep = ListReporter()
    train(
        model,
        [stage],
        LoopConfig(checkpoint_every=100, precision="fp32"),
        rep.report,
        reference=ref,
    )
    kls = [s["train/kl"] for m in rep.metrics for s in m["steps"]]
    assert kls[-1] < kls[0]


def test_no_stages_is_an_error():
    with pytest.raises(ValueError, match="at least one stage"):
        train(_model(), [], CFG, ListReporter().report)
