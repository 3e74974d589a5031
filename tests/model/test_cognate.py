"""Invariants of the Cognate model (agent_forge/model/cognate.py), on the real tiny model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig, AutoModelForCausalLM, DynamicCache

import agent_forge.model  # noqa: F401  (registers the Auto classes)
from agent_forge.model import (
    CognateConfig,
    CognateForCausalLM,
    cognate_consumer_gpu_config,
    cognate_tiny_config,
)
from agent_forge.model.cognate_layers import CognateBlock, CognateMemory

VOCAB = 256


def make_model(seed: int = 0, **overrides) -> CognateForCausalLM:
    # initializer_range 0.1: outputs vary by position and halting steps mix 1, 2 and 3, so the
    # frozen-K/V and skipped-step paths are exercised (at 0.02 every token halts at step 2).
    values = dict(sliding_window=8, initializer_range=0.1) | overrides
    torch.manual_seed(seed)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=VOCAB, **values)).eval()


@pytest.fixture(scope="module")
def model() -> CognateForCausalLM:
    return make_model()


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(0, VOCAB, (2, 24), generator=torch.Generator().manual_seed(1))


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_tiny_preset_has_1_to_3m_parameters():
    assert 1_000_000 <= n_params(CognateForCausalLM(cognate_tiny_config())) <= 3_000_000


@pytest.mark.parametrize("vocab", [8000, 12000, 16000])
def test_consumer_gpu_preset_is_25m_within_10_percent(vocab):
    with torch.device("meta"):
        m = CognateForCausalLM(cognate_consumer_gpu_config(vocab_size=vocab))
    assert 22_500_000 <= n_params(m) <= 27_500_000
    cfg = m.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (512, 8, 8)
    assert (cfg.memory_dim, cfg.memory_decay, cfg.sliding_window) == (256, 0.99, 1024)


def test_every_weight_matrix_is_linear_and_embeddings_are_tied(model):
    assert model.lm_head.weight is model.model.embed_tokens.weight
    for name, p in model.named_parameters():
        if p.dim() == 2 and name != "model.embed_tokens.weight":
            owner = model.get_submodule(name.rsplit(".", 1)[0])
            assert isinstance(owner, torch.nn.Linear), name


def test_config_rejects_bad_values():
    with pytest.raises(StrictDataclassClassValidationError, match="num_attention_heads"):
        CognateConfig(hidden_size=130, num_attention_heads=4)
    with pytest.raises(StrictDataclassClassValidationError, match="act_threshold"):
        CognateConfig(act_threshold=1.5)


def test_causal_with_sliding_window_act_and_memory(model, ids):
    t = 11
    changed = ids.clone()
    changed[:, t + 1 :] = (changed[:, t + 1 :] + 7) % VOCAB
    with torch.no_grad():
        a, b = model(ids, use_cache=False), model(changed, use_cache=False)
    assert a.act_token_steps.unique().numel() > 1  # halting really differs between tokens
    torch.testing.assert_close(a.logits[:, : t + 1], b.logits[:, : t + 1], rtol=0, atol=0)
    torch.testing.assert_close(a.act_token_steps[:, : t + 1], b.act_token_steps[:, : t + 1])
    assert not torch.allclose(a.logits[:, t + 1 :], b.logits[:, t + 1 :])


def test_identical_calls_give_identical_outputs(model, ids):
    with torch.no_grad():
        a, b = model(ids), model(ids)
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(a.ponder_cost, b.ponder_cost) and a.act_steps == b.act_steps


def test_loss_is_lm_loss_plus_weighted_ponder_cost(model, ids):
    with torch.no_grad():
        out = model(ids, labels=ids)
    lm = F.cross_entropy(out.logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    expected = lm + model.config.ponder_weight * out.ponder_cost
    torch.testing.assert_close(out.loss, expected)
    n, r = out.act_token_steps.float(), out.ponder_cost
    assert n.mean() <= r <= n.mean() + 1  # ponder = N + R with 0 < R <= 1


def test_every_parameter_gets_a_gradient_after_one_step(ids):
    m = make_model().train()
    m(ids, labels=ids).loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert m.model.halt_head.weight.grad.abs().sum() > 0


def test_save_pretrained_then_auto_load_is_bit_exact(model, ids, tmp_path):
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "cognate"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, CognateForCausalLM)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    sd_a, sd_b = model.state_dict(), loaded.state_dict()
    assert sd_a.keys() == sd_b.keys()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_greedy_generate_with_cache_equals_without(model, ids):
    prompt = ids[:, :6]
    kw = dict(max_new_tokens=16, do_sample=False, pad_token_id=0)
    with torch.no_grad():
        cached = model.generate(prompt, **kw)
        uncached = model.generate(prompt, use_cache=False, **kw)
    assert cached.shape == (2, 22)
    assert torch.equal(cached, uncached)
    assert cached[:, 6:].unique().numel() >= 8  # a non-trivial continuation


def test_incremental_decoding_matches_full_forward_and_skips_steps(model, ids):
    cache, steps = DynamicCache(), []
    with torch.no_grad():
        full = model(ids, use_cache=False).logits
        parts = [model(ids[:, :10], cache=cache).logits]
        for i in range(10, ids.shape[1]):
            out = model(ids[:, i : i + 1], cache=cache)
            parts.append(out.logits)
            steps.append(out.act_steps)
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-4, atol=1e-4)
    assert min(steps) < model.config.act_max_steps  # skipped steps were filled from the last one
    assert cache.get_seq_length() == ids.shape[1]
    assert all(layer.get_seq_length() == ids.shape[1] for layer in cache.layers)


def count_block_calls(m: CognateForCausalLM, ids: torch.Tensor) -> tuple[int, int]:
    calls = []
    hooks = [b.register_forward_hook(lambda *_: calls.append(1)) for b in m.model.layers]
    with torch.no_grad():
        out = m(ids)
    for h in hooks:
        h.remove()
    return out.act_steps, len(calls)


def test_act_halting_skips_work_at_inference(ids):
    m = make_model()
    n_layers = m.config.num_hidden_layers
    steps, calls = count_block_calls(m, ids)
    assert steps == m.config.act_max_steps and calls == steps * n_layers
    with torch.no_grad():
        m.model.halt_head.bias.fill_(10.0)  # p ~ 1: every token halts after the first step
    steps, calls = count_block_calls(m, ids)
    assert (steps, calls) == (1, n_layers)
    assert isinstance(m.model.layers[0], CognateBlock)


def test_memory_matches_sequential_recurrence():
    torch.manual_seed(0)
    cfg = cognate_tiny_config(vocab_size=VOCAB, memory_decay=0.9)
    mem = CognateMemory(cfg)
    y = torch.randn(2, 7, cfg.hidden_size)
    m, ms = torch.zeros(2, cfg.memory_dim), []
    for t in range(7):  # m_t = decay * m_{t-1} + (1 - decay) * W_in y_t
        m = 0.9 * m + 0.1 * mem.in_proj(y[:, t])
        ms.append(m)
    read = mem.out_proj(torch.stack(ms, 1))
    g = torch.sigmoid(mem.gate(torch.cat([y, read], -1)))
    torch.testing.assert_close(mem(y, None, None, 0), g * y + (1 - g) * read)


@pytest.mark.parametrize("flags", [dict(use_act=False), dict(use_memory=False)])
def test_ablations_run_and_decode_consistently(flags, ids):
    m = make_model(**flags)
    with torch.no_grad():
        out = m(ids)
        kw = dict(max_new_tokens=12, do_sample=False, pad_token_id=0)
        cached, uncached = (
            m.generate(ids[:, :6], **kw),
            m.generate(ids[:, :6], use_cache=False, **kw),
        )
    assert torch.equal(cached, uncached)
    if not m.config.use_act:
        assert out.act_steps == 1 and float(out.ponder_cost) == 0.0
        assert m.model.halt_head is None


def test_left_padded_batch_generates_like_each_sequence_alone(model):
    a = torch.randint(1, VOCAB, (1, 8), generator=torch.Generator().manual_seed(2))
    b = torch.randint(1, VOCAB, (1, 5), generator=torch.Generator().manual_seed(3))
    batch = torch.cat([a, torch.cat([torch.zeros(1, 3, dtype=torch.long), b], 1)])
    mask = (torch.arange(8)[None] >= torch.tensor([[0], [3]])).long()
    kw = dict(max_new_tokens=12, do_sample=False, pad_token_id=0)
    with torch.no_grad():
        both = model.generate(batch, attention_mask=mask, **kw)
        alone_a, alone_b = model.generate(a, **kw), model.generate(b, **kw)
    assert torch.equal(both[0], alone_a[0]) and torch.equal(both[1, 3:], alone_b[0])


def test_growing_cache_layer_equals_concatenation_across_crop_and_reorder():
    from transformers.cache_utils import DynamicLayer

    from agent_forge.model.cognate_layers import GrowingLayer

    g = torch.Generator().manual_seed(0)
    grow, ref = GrowingLayer(), DynamicLayer()
    for step, t in enumerate([5, 1, 1, 12, 1, 30, 1]):
        k, v = torch.randn(2, 3, t, 4, generator=g), torch.randn(2, 3, t, 4, generator=g)
        gk, gv = grow.update(k, v)
        rk, rv = ref.update(k, v)
        torch.testing.assert_close(gk, rk, rtol=0, atol=0)
        torch.testing.assert_close(gv, rv, rtol=0, atol=0)
        if step == 3:  # what generate() may do between steps: crop, then select rows
            grow.crop(-2)
            ref.crop(-2)
            idx = torch.tensor([1, 0])
            grow.batch_select_indices(idx)
            ref.batch_select_indices(idx)
    assert grow.get_seq_length() == ref.get_seq_length() == 5 + 1 + 1 + 12 - 2 + 1 + 30 + 1
