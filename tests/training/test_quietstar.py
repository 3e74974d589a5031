"""Quiet-STaR library (agent_forge/training/quietstar.py) on a real tiny Cognate model."""

from __future__ import annotations

import pytest
import torch

from agent_forge.data.special_tokens import END_OF_THOUGHT, SPECIAL_TOKENS, START_OF_THOUGHT
from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.training.quietstar import (
    ThoughtConfig,
    next_token_with_thought,
    quietstar_loss,
    reinforce_loss,
    sample_thoughts,
    score_with_thoughts,
    thought_layout,
    thought_pass,
    thought_validity,
)

VOCAB = 300
SOT, EOT = SPECIAL_TOKENS.index(START_OF_THOUGHT), SPECIAL_TOKENS.index(END_OF_THOUGHT)


def make_model(seed: int = 0, **overrides) -> CognateForCausalLM:
    values = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        memory_dim=16,
        sliding_window=6,
        act_max_steps=2,
        initializer_range=0.1,  # position-dependent outputs, mixed halting steps
        thought_mixing=True,
    )
    torch.manual_seed(seed)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=VOCAB, **(values | overrides))).eval()


def zero_mixing(m: CognateForCausalLM) -> CognateForCausalLM:
    with torch.no_grad():  # w = sigmoid(-1e4) == 0 exactly: the mixed prediction is the base one
        m.thought_head.out.weight.zero_()
        m.thought_head.out.bias.fill_(-1e4)
    return m


@pytest.fixture(scope="module")
def model() -> CognateForCausalLM:
    return make_model()


@pytest.fixture(scope="module")
def cfg() -> ThoughtConfig:
    return ThoughtConfig(
        thought_len=3, n_thoughts=2, n_true=3, start_id=SOT, end_id=EOT, banned_ids=[0, 1, 2]
    )


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(18, VOCAB, (2, 12), generator=torch.Generator().manual_seed(1))


def rand_thoughts(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randint(18, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


def test_layout_mask_is_causal_then_diagonal():
    t, big_l, n = 5, 2, 2
    lay = thought_layout(t, big_l, n)
    n_blocks = 1 + 1 + big_l + 1 + n - 1
    assert lay.position_ids.shape == (t * n_blocks,) and lay.visibility.shape[-1] == t * n_blocks
    vis = lay.visibility[0, 0]
    assert torch.equal(vis[:t, :t], torch.ones(t, t, dtype=torch.bool).tril())
    assert not vis[:t, t:].any()  # the original tokens never see a thought
    for k in range(1, n_blocks):
        for s in range(t):
            q = k * t + s
            assert int(lay.position_ids[q]) == s + k
            seen = {(int(j) // t, int(j) % t) for j in vis[q].nonzero()}
            assert seen == {(0, r) for r in range(s + 1)} | {(kk, s) for kk in range(1, k + 1)}
    windowed = thought_layout(t, big_l, n, sliding_window=3).visibility[0, 0]
    lag = lay.position_ids[:, None] - lay.position_ids[None, :]
    assert torch.equal(windowed, vis & (lag < 3))


def test_base_logits_equal_a_plain_forward(model, ids, cfg):
    p = thought_pass(model, ids, rand_thoughts((2, 12, 3), 0), cfg)
    with torch.no_grad():
        plain = model(ids, use_cache=False).logits
    torch.testing.assert_close(p.base_logits, plain, rtol=1e-5, atol=1e-5)
    assert p.post_logits.shape == (2, 12, 3, VOCAB) and p.mixed_logprobs.shape == (2, 12, 3, VOCAB)
    assert torch.equal(p.target_valid[0, :, 0], torch.arange(12) < 11)
    assert torch.equal(p.target_valid[0, 9], torch.tensor([True, True, False]))


def test_a_thought_only_affects_its_own_position(model, ids, cfg):
    th = rand_thoughts((2, 12, 3), 0)
    other = th.clone()
    other[:, 4] = rand_thoughts((2, 3), 5)
    with torch.no_grad():
        a, b = thought_pass(model, ids, th, cfg), thought_pass(model, ids, other, cfg)
    keep = torch.arange(12) != 4
    torch.testing.assert_close(a.post_logits[:, keep], b.post_logits[:, keep], rtol=0, atol=1e-5)
    torch.testing.assert_close(a.base_logits, b.base_logits, rtol=0, atol=1e-5)
    assert not torch.allclose(a.post_logits[:, 4], b.post_logits[:, 4])


def test_future_tokens_do_not_change_the_prediction_at_end_of_thought(model, ids, cfg):
    t = 5
    changed = ids.clone()
    changed[:, t + 1 :] = (changed[:, t + 1 :] + 13) % (VOCAB - 18) + 18
    th = rand_thoughts((2, 12, 3), 0)
    with torch.no_grad():
        a, b = thought_pass(model, ids, th, cfg), thought_pass(model, changed, th, cfg)
    # positions <= t at <|endofthought|> (x_{t+1} predicted from x_<=t and the thought)
    torch.testing.assert_close(
        a.post_logits[:, : t + 1, 0], b.post_logits[:, : t + 1, 0], rtol=0, atol=1e-5
    )
    torch.testing.assert_close(a.mix_weight[:, : t + 1, 0], b.mix_weight[:, : t + 1, 0])
    assert not torch.allclose(a.post_logits[:, t + 1, 0], b.post_logits[:, t + 1, 0])
    assert not torch.allclose(a.post_logits[:, t, 1], b.post_logits[:, t, 1])  # sees x_{t+1}


def test_gradients_reach_the_model_and_the_mixing_head(ids, cfg):
    m = make_model().train()
    ref = make_model(seed=1, thought_mixing=False)
    with torch.no_grad():
        ref_logits = ref(ids).logits
    loss, stats = quietstar_loss(
        m, ids, cfg, ref_logits=ref_logits, generator=torch.Generator().manual_seed(0)
    )
    loss.backward()
    for name, p in m.named_parameters():
        if name.startswith("thought_head.fc"):  # behind the zero-initialised output layer
            continue
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert set(stats) >= {
        "nll_base",
        "nll_mixed",
        "reward_mean",
        "reward_std",
        "kl",
        "mix_weight_mean",
        "thought_logprob_mean",
    }
    assert stats["kl"] > 0 and stats["mix_weight_mean"] == pytest.approx(0.05, abs=1e-3)
    with torch.no_grad():
        m.thought_head.out.weight.normal_()
    m.zero_grad()
    quietstar_loss(m, ids, cfg, generator=torch.Generator().manual_seed(0))[0].backward()
    assert m.thought_head.fc.weight.grad.abs().sum() > 0


def test_reinforce_pushes_up_a_thought_with_positive_reward():
    # two thoughts at one position: nll 1 (reward +1) and nll 3 (reward -1)
    logprob = torch.tensor([[-2.0], [-2.0]], requires_grad=True)
    loss, reward = reinforce_loss(torch.tensor([[1.0], [3.0]]), logprob, 2, torch.ones(2, 1))
    loss.backward()
    assert reward.flatten().tolist() == [1.0, -1.0]
    assert logprob.grad[0, 0] < 0 < logprob.grad[1, 0]  # descent raises the better thought's


def test_reinforce_step_raises_the_models_logprob_of_a_rewarded_thought(ids, cfg):
    m = make_model().train()
    th = rand_thoughts((2, 12, 3), 0)
    before = thought_pass(m, ids, th, cfg).thought_logprob
    only = torch.zeros(2, 12)
    only[0, 3] = 1.0  # two replicas of the thoughts, at (0, 3) nll -1 vs +1: rewards +1 / -1
    nll = torch.cat([-only, only])
    loss, reward = reinforce_loss(nll, torch.cat([before, before.detach()]), 2, only.repeat(2, 1))
    assert reward[0, 3] == 1.0
    loss.backward()
    with torch.no_grad():
        for p in m.parameters():
            if p.grad is not None:
                p -= 0.01 * p.grad
        after = thought_pass(m, ids, th, cfg).thought_logprob
    assert float(after[0, 3]) > float(before[0, 3].detach()) + 0.1


def test_identical_generators_give_identical_losses_and_thoughts(model, ids, cfg):
    def run(seed: int):
        return quietstar_loss(model, ids, cfg, generator=torch.Generator().manual_seed(seed))

    (la, sa), (lb, sb) = run(3), run(3)
    assert torch.equal(la, lb) and sa == sb
    a = sample_thoughts(model, ids, cfg, generator=torch.Generator().manual_seed(3))
    b = sample_thoughts(model, ids, cfg, generator=torch.Generator().manual_seed(3))
    c = sample_thoughts(model, ids, cfg, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sampled_thoughts_never_contain_a_banned_id(model, ids, cfg):
    banned = list(range(0, 280))  # leaves 20 ids, incl. none of the markers
    hot = cfg.model_copy(update={"banned_ids": banned, "temperature": 5.0, "thought_len": 4})
    for greedy in (False, True):
        th = sample_thoughts(
            model, ids, hot, generator=torch.Generator().manual_seed(0), greedy=greedy
        )
        assert th.shape == (2, 12, 4) and int(th.min()) >= 280
    assert thought_validity(th, hot, VOCAB).shape == (2, 12)


def test_thought_validity_rule(cfg):
    th = torch.tensor([[20, 21, 22], [20, 20, 20], [20, SOT, 22], [20, 1, 22], [20, 21, VOCAB]])
    assert thought_validity(th, cfg, VOCAB).tolist() == [True, False, False, False, False]


def test_thinking_at_the_last_position_matches_the_parallel_layout(model, ids, cfg):
    with torch.no_grad():
        _, mixed, thought = next_token_with_thought(
            model, ids, cfg, torch.Generator().manual_seed(0)
        )
        th = rand_thoughts((2, 12, 3), 0)
        th[:, -1] = thought
        p = thought_pass(model, ids, th, cfg)
    torch.testing.assert_close(p.mixed_logprobs[:, -1, 0], mixed, rtol=1e-4, atol=1e-4)


def test_generate_with_w_zero_is_plain_greedy_and_hides_thoughts(ids, cfg):
    from agent_forge.training.quietstar import generate_with_thoughts

    m = zero_mixing(make_model())
    prompt = ids[:, :5]
    with torch.no_grad():
        plain = m.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
    out = generate_with_thoughts(m, prompt, 6, cfg, generator=torch.Generator().manual_seed(0))
    assert not torch.isin(plain, torch.tensor([SOT, EOT])).any()  # precondition of the test
    assert out.shape == (2, 11) and torch.equal(out, plain)
    thinking = generate_with_thoughts(
        make_model(1), prompt, 6, cfg, generator=torch.Generator().manual_seed(0)
    )
    assert thinking.shape == (2, 11) and not torch.isin(thinking, torch.tensor([SOT, EOT])).any()


def test_score_with_w_zero_gives_equal_nll(ids, cfg):
    m = zero_mixing(make_model())
    s = score_with_thoughts(m, ids, cfg)
    torch.testing.assert_close(s.nll_thought, s.nll_base, rtol=1e-5, atol=1e-5)
    assert torch.equal(s.correct_thought, s.correct_base)
    assert s.thoughts.shape == (2, 12, 3) and s.seconds > 0
    assert not s.valid[:, -1].any() and bool(s.valid[:, :-1].all())
    assert float(s.nll_base[:, :-1].min()) > 0
    again = score_with_thoughts(m, ids, cfg)  # greedy thoughts: deterministic
    assert torch.equal(again.thoughts, s.thoughts)


def test_loss_mask_selects_the_positions_that_count(model, ids, cfg):
    def run(mask):
        gen = torch.Generator().manual_seed(0)
        return quietstar_loss(model, ids, cfg, loss_mask=mask, generator=gen)

    full, _ = run(None)
    ones, _ = run(torch.ones(2, 12, dtype=torch.bool))
    torch.testing.assert_close(ones, full)
    none, stats = run(torch.zeros(2, 12, dtype=torch.bool))
    assert float(none.detach()) == 0.0 and stats["nll_mixed"] == 0.0
    half = torch.arange(12).expand(2, 12) < 6
    _, s_half = run(half)
    _, s_full = run(None)
    assert s_half["nll_mixed"] != s_full["nll_mixed"]


def test_a_model_without_mixing_head_scores_with_w_zero(ids, cfg):
    plain = make_model(thought_mixing=False)
    s = score_with_thoughts(plain, ids, cfg)
    torch.testing.assert_close(s.nll_thought, s.nll_base, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="thought_mixing"):
        quietstar_loss(plain, ids, cfg)
