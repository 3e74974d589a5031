"""Quiet-STaR (Zelikman et al. 2024, arXiv:2403.09629): after every token the model samples a short
thought between <|startofthought|> and <|endofthought|>, a learned head mixes the post-thought
prediction into the base one, and REINFORCE rewards thoughts that make the true continuation more
likely. All positions think in parallel in one forward through a custom visibility (the "diagonal"
mask); plain torch on a Cognate model built with `thought_mixing=True`. See docs/model.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn


class ThoughtConfig(BaseModel):
    """Sizes and weights of Quiet-STaR; `start_id` / `end_id` are the two thought markers."""

    model_config = ConfigDict(extra="forbid")

    thought_len: int = Field(4, ge=1, description="Sampled tokens between the two markers.")
    n_thoughts: int = Field(2, ge=1, description="Thoughts per position; baseline = their mean.")
    n_true: int = Field(4, ge=1, description="True tokens ahead scored after the thought.")
    temperature: float = Field(1.0, gt=0)
    reinforce_weight: float = Field(1.0, ge=0)
    kl_weight: float = Field(0.1, ge=0, description="KL(ref || current) of the base predictions.")
    start_id: int = Field(ge=0)
    end_id: int = Field(ge=0)
    banned_ids: list[int] = Field(default_factory=list, description="Never sampled in a thought.")

    def forbidden_ids(self) -> list[int]:
        """banned_ids plus both markers: the ids a thought never contains."""
        return sorted(set(self.banned_ids) | {self.start_id, self.end_id})


@dataclass
class ThoughtLayout:
    """The expanded sequence of 1 + thought_len + 2 + n_true - 1 blocks of `seq_len` tokens each:
    block 0 = x_0..x_{T-1}; block k >= 1 holds the k-th extra token of every position t
    (<|startofthought|>, z_1..z_L, <|endofthought|>, x_{t+1}..x_{t+n_true-1}) at position t + k."""

    position_ids: Tensor  # (N,)
    visibility: Tensor  # (1, 1, N, N) bool, True = query may attend key
    seq_len: int = 0
    thought_len: int = 0
    n_true: int = 0

    @property
    def n_blocks(self) -> int:
        return self.thought_len + 2 + self.n_true

    def prefix(self, n_blocks: int) -> tuple[Tensor, Tensor]:
        """(position_ids (1, n), visibility (1, 1, n, n)) of the first n_blocks blocks: blocks only
        see earlier or equal blocks, so a prefix of the layout is a layout."""
        n = n_blocks * self.seq_len
        return self.position_ids[None, :n], self.visibility[..., :n, :n]


def thought_layout(
    seq_len: int,
    thought_len: int,
    n_true: int,
    sliding_window: int | None = None,
    device: torch.device | str | None = None,
) -> ThoughtLayout:
    """Block 0 is causal; position t's extra tokens see x_0..x_t and t's own earlier extras, never
    another position's. `sliding_window` (by position difference) is for inspection only: the model
    applies its own window to attention, and its memory reads the unwindowed visibility, so
    `thought_pass` builds the layout without one."""
    n_blocks = thought_len + 2 + n_true
    idx = torch.arange(seq_len * n_blocks, device=device)
    block, origin = idx // seq_len, idx % seq_len
    pos = origin + block
    bq, bk, oq, ok = block[:, None], block[None, :], origin[:, None], origin[None, :]
    vis = ((bk == 0) & (ok <= oq)) | ((bk >= 1) & (ok == oq) & (bk <= bq))  # (N, N)
    if sliding_window is not None:
        vis = vis & (pos[:, None] - pos[None, :] < sliding_window)
    return ThoughtLayout(pos, vis[None, None], seq_len, thought_len, n_true)


def _layout_ids(input_ids: Tensor, thoughts: Tensor, cfg: ThoughtConfig) -> Tensor:
    """(B, T), (B, T, L) -> the layout's token ids (B, N); teacher-forced tokens past the end are 0
    (they only feed targets that do not exist)."""
    b, t = input_ids.shape
    sot, eot = input_ids.new_full((b, t), cfg.start_id), input_ids.new_full((b, t), cfg.end_id)
    ahead = torch.cat([input_ids, input_ids.new_zeros(b, cfg.n_true)], dim=1)
    blocks = [input_ids, sot, *thoughts.unbind(-1), eot]
    blocks += [ahead[:, i : i + t] for i in range(1, cfg.n_true)]
    return torch.cat(blocks, dim=1)


def _forward(model: nn.Module, ids: Tensor, layout: ThoughtLayout, n_blocks: int, **kw: object):
    pos, vis = layout.prefix(n_blocks)
    return model(input_ids=ids[:, : pos.shape[1]], position_ids=pos, visibility=vis, **kw)


def _thought_logprobs(logits: Tensor, cfg: ThoughtConfig) -> Tensor:
    """The policy of thought tokens: log_softmax(logits / temperature) with forbidden ids
    removed."""
    z = logits.float() / cfg.temperature
    banned = [i for i in cfg.forbidden_ids() if i < z.shape[-1]]
    if banned:
        z = z.index_fill(-1, torch.tensor(banned, device=z.device), float("-inf"))
    return F.log_softmax(z, dim=-1)


def _pick(logprobs: Tensor, generator: torch.Generator | None, greedy: bool) -> Tensor:
    """(..., V) log-probs -> (...) ids, argmax or one sample drawn with `generator`."""
    if greedy:
        return logprobs.argmax(-1)
    probs = logprobs.exp().reshape(-1, logprobs.shape[-1])
    if generator is not None and generator.device != probs.device:
        probs = probs.to(generator.device)
    ids = torch.multinomial(probs, 1, generator=generator)
    return ids.to(logprobs.device).view(logprobs.shape[:-1])


@torch.no_grad()
def sample_thoughts(
    model: nn.Module,
    input_ids: Tensor,
    cfg: ThoughtConfig,
    generator: torch.Generator | None = None,
    greedy: bool = False,
) -> Tensor:
    """A thought after every position: (B, T) -> (B, T, thought_len), never a forbidden id.
    Token j of every position is drawn at once from one forward of the layout's first j + 2 blocks
    (uncached: thought_len forwards of growing length)."""
    b, t = input_ids.shape
    layout = thought_layout(t, cfg.thought_len, cfg.n_true, device=input_ids.device)
    thoughts = input_ids.new_zeros(b, t, cfg.thought_len)
    ids = _layout_ids(input_ids, thoughts, cfg)
    for j in range(cfg.thought_len):  # logits at block j + 1 (<sot> or z_j) predict z_{j+1}
        logits = _forward(model, ids, layout, j + 2, use_cache=False, logits_to_keep=t).logits
        z = _pick(_thought_logprobs(logits, cfg), generator, greedy)  # (B, T)
        thoughts[:, :, j] = z
        ids[:, (j + 2) * t : (j + 3) * t] = z
    return thoughts


@dataclass
class ThoughtPass:
    base_logits: Tensor  # (B, T, V) no-thought logits (block 0; a plain forward's)
    post_logits: Tensor  # (B, T, n_true, V) post-thought logits predicting x_{t+1..t+n_true}
    mix_weight: Tensor  # (B, T, n_true) w of the thought head
    mixed_logprobs: Tensor  # (B, T, n_true, V)
    thought_logprob: Tensor  # (B, T) sum_j log p(z_j | ...) at cfg.temperature, differentiable
    target_valid: Tensor  # (B, T, n_true) bool: x_{t+i+1} exists
    base_logprobs_ahead: Tensor | None = None  # (B, T, n_true, V) log_softmax(base) at t + i


def _ahead(t: int, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Index (T, n) of position t + i (clamped) and whether target x_{t+i+1} exists."""
    idx = torch.arange(t, device=device)[:, None] + torch.arange(n, device=device)[None]
    return idx.clamp(max=t - 1), idx + 1 < t


def _mix_weight(model: nn.Module, h_base: Tensor, h_post: Tensor) -> Tensor:
    head = getattr(model, "thought_head", None)
    return h_base.new_zeros(h_base.shape[:-1]) if head is None else head(h_base, h_post)


def mix_logprobs(w: Tensor, post_logits: Tensor, base_logprobs: Tensor) -> Tensor:
    """log_softmax(w * log_softmax(post) + (1 - w) * base_logprobs); w (...), logits (..., V)."""
    post = F.log_softmax(post_logits.float(), dim=-1)
    w = w.float()[..., None]
    return F.log_softmax(w * post + (1 - w) * base_logprobs, dim=-1)


def thought_pass(
    model: nn.Module, input_ids: Tensor, thoughts: Tensor, cfg: ThoughtConfig
) -> ThoughtPass:
    """One differentiable forward of the layout with the given thoughts (B, T, thought_len). A model
    without `thought_head` (config.thought_mixing False) mixes with w = 0: mixed == base."""
    b, t = input_ids.shape
    big_l, n = cfg.thought_len, cfg.n_true
    if tuple(thoughts.shape) != (b, t, big_l):
        raise ValueError(f"thoughts shape {tuple(thoughts.shape)} != ({b}, {t}, {big_l})")
    layout = thought_layout(t, big_l, n, device=input_ids.device)
    ids = _layout_ids(input_ids, thoughts, cfg)
    out = _forward(model, ids, layout, layout.n_blocks, use_cache=False, output_hidden_states=True)
    logits = out.logits.view(b, layout.n_blocks, t, -1)  # block-major
    h = out.hidden_states[0].view(b, layout.n_blocks, t, -1)
    lp = _thought_logprobs(logits[:, 1 : big_l + 1], cfg)  # (B, L, T, V): z_j from block j
    thought_logprob = lp.gather(-1, thoughts.transpose(1, 2)[..., None]).squeeze(-1).sum(1)
    post = slice(big_l + 2, big_l + 2 + n)  # <eot> and the teacher-forced x_{t+1..}
    post_logits = logits[:, post].transpose(1, 2)  # (B, T, n, V)
    idx, valid = _ahead(t, n, input_ids.device)
    base_ahead = F.log_softmax(logits[:, 0].float(), dim=-1)[:, idx]  # (B, T, n, V)
    w = _mix_weight(model, h[:, 0][:, idx], h[:, post].transpose(1, 2))  # (B, T, n)
    return ThoughtPass(
        base_logits=logits[:, 0],
        post_logits=post_logits,
        mix_weight=w,
        mixed_logprobs=mix_logprobs(w, post_logits, base_ahead),
        thought_logprob=thought_logprob,
        target_valid=valid.expand(b, t, n),
        base_logprobs_ahead=base_ahead,
    )


def reinforce_loss(
    nll: Tensor, thought_logprob: Tensor, n_thoughts: int, counted: Tensor
) -> tuple[Tensor, Tensor]:
    """REINFORCE with the mean of the n_thoughts thoughts at a position as baseline. nll,
    thought_logprob, counted (R*B, T), replica-major. Returns (mean of -reward * logprob over
    counted positions, reward (R*B, T), detached and 0 where not counted)."""
    rb, t = nll.shape
    r = -nll.detach().view(n_thoughts, rb // n_thoughts, t)
    reward = (r - r.mean(0, keepdim=True)).view(rb, t) * counted
    loss = -(reward * thought_logprob).sum() / counted.sum().clamp(min=1)
    return loss, reward


def _targets(input_ids: Tensor, n: int) -> Tensor:
    """(B, T) -> (B, T, n): x_{t+i+1}, 0 past the end."""
    b, t = input_ids.shape
    pad = torch.cat([input_ids, input_ids.new_zeros(b, n)], dim=1)
    return torch.stack([pad[:, 1 + i : 1 + i + t] for i in range(n)], dim=-1)


def quietstar_loss(
    model: nn.Module,
    input_ids: Tensor,
    cfg: ThoughtConfig,
    ref_logits: Tensor | None = None,
    loss_mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Mixed NLL of the n_true tokens ahead + reinforce_weight * REINFORCE + kl_weight *
    KL(softmax(ref_logits) || softmax(base_logits)). A term (t, i) counts iff x_{t+i+1} exists and
    loss_mask (B, T) is True at t and at t + i + 1 (None: all)."""
    if getattr(model, "thought_head", None) is None:
        raise ValueError("quietstar_loss needs a model built with config.thought_mixing=True")
    b, t = input_ids.shape
    r, n = cfg.n_thoughts, cfg.n_true
    x = input_ids.repeat(r, 1)  # replica-major: row k * B + j is sequence j
    thoughts = sample_thoughts(model, x, cfg, generator=generator)
    p = thought_pass(model, x, thoughts, cfg)
    idx, valid = _ahead(t, n, input_ids.device)
    counted = valid.expand(b, t, n)
    if loss_mask is not None:
        m = torch.cat([loss_mask.bool(), loss_mask.new_zeros(b, 1).bool()], dim=1)
        counted = counted & m[:, :t, None] & m[:, (idx + 1).clamp(max=t)]
    targets = _targets(input_ids, n).repeat(r, 1, 1)
    cnt = counted.repeat(r, 1, 1).float()  # (RB, T, n)
    lp_mixed = p.mixed_logprobs.gather(-1, targets[..., None]).squeeze(-1)
    lp_base = p.base_logprobs_ahead.gather(-1, targets[..., None]).squeeze(-1)
    n_tok = cnt.sum().clamp(min=1)
    nll = -(lp_mixed * cnt).sum(-1)  # (RB, T) per thought
    nll_mixed = nll.sum() / n_tok
    positions = cnt.amax(-1)  # (RB, T) positions with a counted target
    pg, reward = reinforce_loss(nll, p.thought_logprob, r, positions)
    loss = nll_mixed + cfg.reinforce_weight * pg
    kl = torch.zeros((), device=loss.device)
    if ref_logits is not None:
        ref = F.log_softmax(ref_logits.float(), dim=-1)
        base = F.log_softmax(p.base_logits[:b].float(), dim=-1)  # replica 0: all are equal
        per_pos = (ref.exp() * (ref - base)).sum(-1)  # (B, T)
        keep = loss_mask.float() if loss_mask is not None else torch.ones_like(per_pos)
        kl = (per_pos * keep).sum() / keep.sum().clamp(min=1)
        loss = loss + cfg.kl_weight * kl
    pos = positions.bool()
    nll_base = float(-(lp_base.detach() * cnt).sum() / n_tok)
    stats = {
        "nll_base": nll_base,
        "nll_mixed": float(nll_mixed.detach()),
        "nll_gain": nll_base - float(nll_mixed.detach()),
        "reward_mean": float(reward[pos].mean()) if pos.any() else 0.0,
        "reward_std": float(reward[pos].std()) if pos.sum() > 1 else 0.0,
        "kl": float(kl.detach()),
        "mix_weight_mean": float(p.mix_weight.detach()[cnt.bool()].mean()) if pos.any() else 0.0,
        "thought_logprob_mean": float(p.thought_logprob.detach()[pos].mean()) if pos.any() else 0.0,
    }
    return loss, stats


@dataclass
class ThoughtScores:
    """Per position t, the same target x_{t+1} scored without and with the thought at t; the last
    position has no target (valid False, nll 0, correct False, reward 0)."""

    nll_base: Tensor  # (B, T)
    nll_thought: Tensor  # (B, T) mixed
    correct_base: Tensor  # (B, T) bool
    correct_thought: Tensor  # (B, T) bool
    reward: Tensor  # (B, T) log p_mixed(x_{t+1}) - log p_base(x_{t+1})
    thoughts: Tensor  # (B, T, thought_len)
    seconds: float  # sampling + pass
    valid: Tensor | None = None  # (B, T) bool: x_{t+1} exists


@torch.no_grad()
def score_with_thoughts(
    model: nn.Module,
    input_ids: Tensor,
    cfg: ThoughtConfig,
    generator: torch.Generator | None = None,
    greedy: bool = True,
) -> ThoughtScores:
    """One thought per position (greedy by default: deterministic), in eval mode; only x_{t+1} is
    scored, so the layout is built with n_true = 1."""
    was = model.training
    model.eval()
    one = cfg.model_copy(update={"n_true": 1})
    start = time.perf_counter()
    thoughts = sample_thoughts(model, input_ids, one, generator=generator, greedy=greedy)
    p = thought_pass(model, input_ids, thoughts, one)
    seconds = time.perf_counter() - start
    model.train(was)
    tgt = _targets(input_ids, 1)  # (B, T, 1)
    valid = p.target_valid[..., 0]
    base = F.log_softmax(p.base_logits.float(), dim=-1)
    mixed = p.mixed_logprobs[:, :, 0]
    lp_base = base.gather(-1, tgt).squeeze(-1) * valid
    lp_mixed = mixed.gather(-1, tgt).squeeze(-1) * valid
    return ThoughtScores(
        nll_base=-lp_base,
        nll_thought=-lp_mixed,
        correct_base=(base.argmax(-1) == tgt[..., 0]) & valid,
        correct_thought=(mixed.argmax(-1) == tgt[..., 0]) & valid,
        reward=lp_mixed - lp_base,
        thoughts=thoughts,
        seconds=seconds,
        valid=valid,
    )


def next_token_with_thought(
    model: nn.Module,
    ids: Tensor,
    cfg: ThoughtConfig,
    generator: torch.Generator | None = None,
    greedy_thought: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Think at the last position of ids (B, T), then predict: returns (next ids (B,): argmax of the
    mixed log-probs without the two markers, mixed log-probs (B, V), thought (B, L)). The thought
    of the last position is a plain causal suffix x, <sot>, z, <eot> (the layout restricted to one
    position), so no visibility is needed."""
    b, t = ids.shape
    seq = torch.cat([ids, ids.new_full((b, 1), cfg.start_id)], dim=1)
    for _ in range(cfg.thought_len):
        logits = model(input_ids=seq, use_cache=False, logits_to_keep=1).logits[:, -1]
        z = _pick(_thought_logprobs(logits, cfg), generator, greedy_thought)
        seq = torch.cat([seq, z[:, None]], dim=1)
    seq = torch.cat([seq, ids.new_full((b, 1), cfg.end_id)], dim=1)
    out = model(input_ids=seq, use_cache=False, output_hidden_states=True)
    h = out.hidden_states[0]
    w = _mix_weight(model, h[:, t - 1], h[:, -1])  # (B,)
    mixed = mix_logprobs(w, out.logits[:, -1], F.log_softmax(out.logits[:, t - 1].float(), -1))
    markers = torch.tensor([cfg.start_id, cfg.end_id], device=ids.device)
    visible = mixed.index_fill(-1, markers, float("-inf"))  # a marker is never a visible token
    return visible.argmax(-1), mixed, seq[:, t + 1 : t + 1 + cfg.thought_len]


@torch.no_grad()
def generate_with_thoughts(
    model: nn.Module,
    input_ids: Tensor,
    max_new_tokens: int,
    cfg: ThoughtConfig,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
    greedy_thoughts: bool = False,
) -> Tensor:
    """Greedy decoding that thinks before every new token; returns prompt + visible tokens only
    (B, T + n), thoughts hidden. No padding support; rows that ended repeat eos_id. Uncached and
    O(new * thought_len) forwards: for a few items only."""
    was = model.training
    model.eval()
    ids = input_ids
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for _ in range(max_new_tokens):
        nxt = next_token_with_thought(model, ids, cfg, generator, greedy_thoughts)[0]
        if eos_id is not None:
            nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
            done = done | (nxt == eos_id)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        if bool(done.all()):
            break
    model.train(was)
    return ids


def thought_validity(thoughts: Tensor, cfg: ThoughtConfig, vocab_size: int) -> Tensor:
    """(..., L) -> (...) bool. A thought is well-formed iff every id is in [0, vocab_size) and not
    forbidden (banned_ids or a thought marker), and (for L > 1) it is not one token repeated."""
    ok = (thoughts >= 0) & (thoughts < vocab_size)
    forbidden = torch.tensor(cfg.forbidden_ids(), device=thoughts.device, dtype=thoughts.dtype)
    ok = (ok & ~torch.isin(thoughts, forbidden)).all(-1)
    if thoughts.shape[-1] > 1:
        ok = ok & (thoughts != thoughts[..., :1]).any(-1)
    return ok
