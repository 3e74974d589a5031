"""Custom visibility (one uncached forward with an explicit mask and positions) and the Quiet-STaR
mixing head of Cognate (agent_forge/model/cognate.py), on the real tiny model."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

import agent_forge.model  # noqa: F401  (registers the Auto classes)
from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.model.cognate_layers import build_attention_mask

VOCAB = 256


def make_model(seed: int = 0, **overrides) -> CognateForCausalLM:
    # initializer_range 0.1 mixes halting steps 1/2/3 (see tests/model/test_cognate.py).
    values = dict(sliding_window=8, initializer_range=0.1, hidden_size=64, intermediate_size=128)
    torch.manual_seed(seed)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=VOCAB, **(values | overrides))).eval()


@pytest.fixture(scope="module")
def model() -> CognateForCausalLM:
    return make_model()


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(0, VOCAB, (2, 20), generator=torch.Generator().manual_seed(1))


def causal(t: int, window: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    return build_attention_mask(t, 0, window, None, torch.device("cpu")), torch.arange(t)[None]


@pytest.mark.parametrize("flags", [{}, dict(use_memory=False), dict(use_act=False)])
def test_causal_visibility_equals_the_normal_forward(flags, ids):
    m = make_model(**flags)
    vis, pos = causal(ids.shape[1], None)  # the model applies its own window
    with torch.no_grad():
        plain = m(ids, use_cache=False)
        custom = m(ids, visibility=vis, position_ids=pos)
    if m.config.use_act:
        assert plain.act_token_steps.unique().numel() > 1
    torch.testing.assert_close(custom.logits, plain.logits, rtol=1e-5, atol=1e-5)
    assert torch.equal(custom.act_token_steps, plain.act_token_steps)


def test_a_hidden_key_has_no_influence(model, ids):
    """Key 9 is hidden from queries 10..12: perturbing it leaves their logits unchanged (through
    attention over layers and ACT steps, and through memory); query 13, which sees it, changes."""
    vis, pos = causal(ids.shape[1], None)
    vis = vis.clone()
    vis[0, 0, 10:13, 9] = False
    changed = ids.clone()
    changed[:, 9] = (changed[:, 9] + 11) % VOCAB
    with torch.no_grad():
        a = model(ids, visibility=vis, position_ids=pos).logits
        b = model(changed, visibility=vis, position_ids=pos).logits
    torch.testing.assert_close(a[:, 10:13], b[:, 10:13], rtol=0, atol=1e-5)
    assert not torch.allclose(a[:, 13], b[:, 13])
    assert not torch.allclose(a[:, 9], b[:, 9])


def test_memory_follows_visibility_and_positions():
    """With visibility the memory weight of key k for query q is
    visible(q, k) * (1 - decay) * decay**(pos_q - pos_k)."""
    torch.manual_seed(0)
    m = make_model(memory_decay=0.8).model.memory
    y = torch.randn(1, 5, 64)
    vis = torch.tensor(
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 0, 1, 1, 0], [1, 1, 0, 0, 1]],
        dtype=torch.bool,
    )[None, None]
    pos = torch.tensor([[0, 1, 1, 2, 3]])
    u = m.in_proj(y)[0]
    mem = []
    for q in range(5):
        keys = [k for k in range(5) if vis[0, 0, q, k]]
        mem.append(sum(0.2 * 0.8 ** int(pos[0, q] - pos[0, k]) * u[k] for k in keys))
    read = m.out_proj(torch.stack(mem))[None]
    g = torch.sigmoid(m.gate(torch.cat([y, read], -1)))
    torch.testing.assert_close(m(y, None, None, 0, vis, pos), g * y + (1 - g) * read)


def test_visibility_rejects_a_cache_and_missing_positions(model, ids):
    vis, pos = causal(ids.shape[1], None)
    with pytest.raises(ValueError, match="uncached"):
        model(ids, visibility=vis, position_ids=pos, use_cache=True)
    with pytest.raises(ValueError, match="position_ids"):
        model(ids, visibility=vis)
    with pytest.raises(ValueError, match="see itself"):
        model(ids, visibility=vis & ~torch.eye(ids.shape[1], dtype=torch.bool), position_ids=pos)


def test_output_hidden_states_are_what_the_lm_head_reads(model, ids):
    with torch.no_grad():
        out = model(ids, use_cache=False, output_hidden_states=True)
    (h,) = out.hidden_states
    torch.testing.assert_close(model.lm_head(h), out.logits)


def test_thought_head_starts_at_w_005_and_round_trips(ids, tmp_path):
    m = make_model(thought_mixing=True)
    h = torch.randn(3, 7, 64)
    torch.testing.assert_close(m.thought_head(h, h.flip(0)), torch.full((3, 7), 0.05))
    with torch.no_grad():
        m.thought_head.out.weight.normal_()  # so the round trip checks a non-initial value
    m.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.config.thought_mixing
    sd_a, sd_b = m.state_dict(), loaded.state_dict()
    assert sd_a.keys() == sd_b.keys() and any(k.startswith("thought_head.") for k in sd_a)
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)


def test_old_checkpoint_loads_into_a_thought_mixing_model(model, ids):
    m = make_model(thought_mixing=True)
    missing, unexpected = m.load_state_dict(model.state_dict(), strict=False)
    assert (
        set(missing)
        == {f"thought_head.{n}" for n in ("fc.weight", "fc.bias", "out.weight", "out.bias")}
        and not unexpected
    )
    m.thought_head.reset_parameters()
    with torch.no_grad():
        assert torch.equal(m(ids).logits, model(ids).logits)
    with torch.no_grad():
        assert float(m.thought_head(torch.ones(64), torch.ones(64))) == pytest.approx(0.05)
