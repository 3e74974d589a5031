"""Grokfast filter, Muon/AdamW split, schedule, step order and autocast.

Module under test: agent_forge/training/optim.py.
"""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.training import (
    GrokfastEMA,
    OptimConfig,
    autocast_context,
    bf16_autocast_supported,
    build_grokfast,
    build_optimizer,
    lr_scale,
    optimizer_step,
    split_params,
)

VOCAB = 512


def make_cognate(seed: int = 0, **overrides) -> CognateForCausalLM:
    torch.manual_seed(seed)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=VOCAB, **overrides))


def token_batch(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (4, 32), generator=torch.Generator().manual_seed(seed))


def filter_sequence(grads: list[float], alpha: float, lamb: float) -> list[float]:
    """Feed scalar gradients one step at a time through the filter; return the filtered ones."""
    p = nn.Parameter(torch.zeros(1))
    gf = GrokfastEMA([p], alpha=alpha, lamb=lamb)
    out = []
    for g in grads:
        p.grad = torch.tensor([g])
        gf.apply()
        out.append(p.grad.item())
    return out


# --- Grokfast ---------------------------------------------------------------------------------


def test_grokfast_hand_worked_binary_values():
    # alpha 0.5, lamb 2. EMA starts at the first gradient (as the reference gradfilter_ema):
    # g=2:  ema=2                 -> 2 + 2*2    = 6
    # g=4:  ema=0.5*2 + 0.5*4 = 3 -> 4 + 2*3    = 10
    # g=-4: ema=0.5*3 - 0.5*4     -> -4 + 2*(-0.5) = -5
    assert filter_sequence([2.0, 4.0, -4.0], alpha=0.5, lamb=2.0) == [6.0, 10.0, -5.0]


def test_grokfast_spec_values_constant_then_alternating():
    # alpha 0.98, lamb 0.3 (Phase 1). Constant g=1 keeps ema=1: 1.3, 1.3.
    # g=-1: ema = 0.98*1 + 0.02*(-1) = 0.96      -> -1 + 0.3*0.96   = -0.712
    # g=+1: ema = 0.98*0.96 + 0.02*1 = 0.9608    ->  1 + 0.3*0.9608 =  1.28824
    # g=-1: ema = 0.98*0.9608 - 0.02 = 0.921584  -> -1 + 0.3*0.921584 = -0.7235248
    out = filter_sequence([1.0, 1.0, -1.0, 1.0, -1.0], alpha=0.98, lamb=0.3)
    torch.testing.assert_close(
        torch.tensor(out), torch.tensor([1.3, 1.3, -0.712, 1.28824, -0.7235248])
    )


def test_grokfast_skips_missing_grads_and_filters_tied_weights_once():
    emb = nn.Embedding(4, 3)
    head = nn.Linear(3, 4, bias=False)
    head.weight = emb.weight  # tied: must be amplified once, not twice
    model = nn.ModuleDict({"emb": emb, "head": head, "unused": nn.Linear(3, 3)})
    gf = GrokfastEMA(model, alpha=0.9, lamb=0.5)
    assert len(gf.params) == 3  # emb.weight, unused.weight, unused.bias
    emb.weight.grad = torch.ones(4, 3)
    gf.apply()
    torch.testing.assert_close(emb.weight.grad, torch.full((4, 3), 1.5))
    assert gf.ema[1] is None and gf.ema[2] is None  # no grad yet: no EMA, no change


def test_grokfast_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    grads = [torch.randn(5, 3) for _ in range(4)]
    a, b = nn.Parameter(torch.zeros(5, 3)), nn.Parameter(torch.zeros(5, 3))
    gf_a = GrokfastEMA([a])
    for g in grads[:3]:
        a.grad = g.clone()
        gf_a.apply()
    gf_b = GrokfastEMA([b], alpha=0.5, lamb=9.0)  # hyperparameters come from the state
    gf_b.load_state_dict(copy.deepcopy(gf_a.state_dict()))
    a.grad, b.grad = grads[3].clone(), grads[3].clone()
    gf_a.apply()
    gf_b.apply()
    torch.testing.assert_close(b.grad, a.grad, rtol=0, atol=0)
    with pytest.raises(ValueError, match="does not fit"):
        GrokfastEMA([nn.Parameter(torch.zeros(2))]).load_state_dict(gf_a.state_dict())


# --- Parameter split ------------------------------------------------------------------------


def test_split_params_on_cognate_puts_every_parameter_in_exactly_one_optimiser():
    model = make_cognate()
    muon, adamw = split_params(model)
    every = list(model.parameters())  # tied lm_head/embedding appears once
    ids_muon, ids_adamw = [id(p) for p in muon], [id(p) for p in adamw]
    assert len(set(ids_muon)) == len(muon) and len(set(ids_adamw)) == len(adamw)
    assert not set(ids_muon) & set(ids_adamw)
    assert set(ids_muon) | set(ids_adamw) == {id(p) for p in every}

    embed = model.model.embed_tokens.weight
    assert model.lm_head.weight is embed and ids_adamw.count(id(embed)) == 1
    assert all(p.ndim == 2 for p in muon)
    assert all(id(p) in set(ids_adamw) for p in every if p.ndim == 1)
    # Muon = every hidden nn.Linear weight; the 1x128 halting head is a vector, so AdamW.
    halt = model.model.halt_head.weight
    expected = {
        id(m.weight)
        for m in model.modules()
        if isinstance(m, nn.Linear) and m.weight is not embed and m.weight is not halt
    }
    assert set(ids_muon) == expected and id(halt) in set(ids_adamw)
    assert len(muon) == 4 * 7 + 3  # q k v o gate up down per layer + memory in/out/gate

    opt = build_optimizer(model, OptimConfig())
    grouped = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in every)
    assert isinstance(opt.optimizers["muon"], torch.optim.Muon)
    assert opt.optimizers["muon"].param_groups[0]["adjust_lr_fn"] == "match_rms_adamw"
    assert [id(p) for p in opt.optimizers["muon"].param_groups[0]["params"]] == ids_muon
    no_decay = [g for g in opt.optimizers["adamw"].param_groups if g["weight_decay"] == 0.0]
    assert all(p.ndim == 1 for g in no_decay for p in g["params"])


class UntiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.hidden = nn.Linear(8, 8)
        self.out = nn.Linear(8, 10, bias=False)

    def get_output_embeddings(self) -> nn.Module:
        return self.out


def test_split_params_untied_head_exclude_patterns_and_frozen():
    model = UntiedLM()
    muon, adamw = split_params(model)
    assert [id(p) for p in muon] == [id(model.hidden.weight)]
    assert id(model.out.weight) in {id(p) for p in adamw}
    muon, adamw = split_params(model, exclude=(r"^hidden\.",))
    assert muon == [] and len(adamw) == 4
    model.emb.weight.requires_grad_(False)
    assert len(split_params(model)[1]) == 2  # frozen parameters go to neither optimiser
    opt = build_optimizer(model, OptimConfig(muon_exclude=(r"hidden",)))
    assert list(opt.optimizers) == ["adamw"]  # no Muon when nothing qualifies


# --- Muon on non-square matrices, training, resume --------------------------------------------


def test_muon_on_non_square_matrices_reduces_a_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 48, bias=False), nn.Tanh(), nn.Linear(48, 16, bias=False))
    x = torch.randn(64, 16)
    y = torch.tanh(x @ torch.randn(16, 16) / 4)
    cfg = OptimConfig(muon_lr=2e-2, warmup_steps=0, total_steps=40, weight_decay=0.0)
    opt = build_optimizer(model, cfg)
    assert {tuple(p.shape) for p in opt.optimizers["muon"].param_groups[0]["params"]} == {
        (48, 16),
        (16, 48),
    }
    gf = build_grokfast(model, cfg)
    losses = []
    for step in range(40):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer_step(model, opt, gf, cfg, step)
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_tiny_cognate_training_loss_falls_with_hybrid_optimiser_and_grokfast():
    model = make_cognate(num_hidden_layers=2)
    cfg = OptimConfig(warmup_steps=5, total_steps=30)
    opt, gf = build_optimizer(model, cfg), build_grokfast(model, cfg)
    ids = token_batch()
    losses = []
    for step in range(30):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        info = optimizer_step(model, opt, gf, cfg, step)
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]  # ~6.3 -> ~3.6 memorising one batch
    assert info["lr"] == pytest.approx(cfg.muon_lr * lr_scale(29, 5, 30, cfg.min_lr_ratio))


def run_steps(model, opt, gf, cfg, steps: range) -> list[float]:
    ids, losses = token_batch(), []
    for step in steps:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer_step(model, opt, gf, cfg, step)
        losses.append(loss.item())
    return losses


def test_resume_from_state_dicts_continues_bit_exactly():
    cfg = OptimConfig(warmup_steps=2, total_steps=6)
    model = make_cognate(num_hidden_layers=1)
    opt, gf = build_optimizer(model, cfg), build_grokfast(model, cfg)
    run_steps(model, opt, gf, cfg, range(3))
    saved = copy.deepcopy((model.state_dict(), opt.state_dict(), gf.state_dict()))
    straight = run_steps(model, opt, gf, cfg, range(3, 6))

    resumed_model = make_cognate(seed=123, num_hidden_layers=1)
    resumed_model.load_state_dict(saved[0])
    opt2, gf2 = build_optimizer(resumed_model, cfg), build_grokfast(resumed_model, cfg)
    opt2.load_state_dict(saved[1])
    gf2.load_state_dict(saved[2])
    resumed = run_steps(resumed_model, opt2, gf2, cfg, range(3, 6))
    assert resumed == straight
    for a, b in zip(model.parameters(), resumed_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# --- Step order, schedule, config, autocast ----------------------------------------------------


def test_optimizer_step_order_norm_clip_and_lr_for_both_optimisers():
    model = UntiedLM()
    cfg = OptimConfig(muon_lr=2e-3, adamw_lr=1e-3, warmup_steps=4, total_steps=8, grad_clip=1e-3)
    opt, gf = build_optimizer(model, cfg), build_grokfast(model, cfg)
    model.out(model.hidden(model.emb(torch.tensor([1, 2, 3])))).square().sum().backward()
    raw = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item()
    seen: list[float] = []
    opt.step = lambda: seen.append(
        torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item()
    )
    info = optimizer_step(model, opt, gf, cfg, step=0)
    # Grokfast first (first filtered grad = 1.3 g), the norm before clipping, then the clip.
    assert info["grad_norm"] == pytest.approx(1.3 * raw, rel=1e-5)
    assert seen == [pytest.approx(1e-3, rel=1e-4)]
    assert all(p.grad is None for p in model.parameters())  # zero_grad(set_to_none=True)
    assert opt.optimizers["muon"].param_groups[0]["lr"] == pytest.approx(2e-3 / 4)
    assert all(g["lr"] == pytest.approx(1e-3 / 4) for g in opt.optimizers["adamw"].param_groups)
    assert info["lr"] == pytest.approx(2e-3 / 4) and info["lr_scale"] == 0.25


def test_lr_scale_warmup_peak_and_cosine_end():
    values = [lr_scale(s, 10, 110, 0.1) for s in (0, 4, 9, 10, 60, 110, 500)]
    assert values == pytest.approx([0.1, 0.5, 1.0, 1.0, 0.55, 0.1, 0.1])
    assert lr_scale(0, 0, 10, 0.0) == 1.0  # no warmup: start at the peak
    assert lr_scale(10, 0, 10, 0.0) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="warmup_steps=20"):
        lr_scale(0, 20, 10, 0.1)


def test_config_defaults_and_validation():
    cfg = OptimConfig()
    assert (cfg.muon_lr, cfg.grokfast_alpha, cfg.grokfast_lambda) == (1e-3, 0.98, 0.3)
    assert cfg.muon_adjust_lr == "match_rms_adamw" and cfg.grad_clip == 1.0
    with pytest.raises(ValidationError, match="warmup_steps"):
        OptimConfig(warmup_steps=11, total_steps=10)
    with pytest.raises(ValidationError):
        OptimConfig(grokfast_alpha=1.0)
    with pytest.raises(ValidationError):
        OptimConfig(learning_rate=1e-3)  # extra keys are refused


def test_autocast_context_gives_bf16_matmuls_on_cpu():
    cpu = torch.device("cpu")
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    expected = torch.bfloat16 if bf16_autocast_supported(cpu) else torch.float32
    with autocast_context(cpu):
        assert (a @ b).dtype == expected
    with autocast_context(cpu, enabled=False):
        assert (a @ b).dtype == torch.float32
    with autocast_context(torch.device("meta")):  # no bf16 path: a no-op context
        assert (a @ b).dtype == torch.float32
