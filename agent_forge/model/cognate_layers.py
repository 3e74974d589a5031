"""Building blocks of Cognate: RMSNorm, RoPE, causal sliding-window attention, SwiGLU, the causal
memory.

Llama (Touvron et al. 2023) for RMSNorm / SwiGLU / pre-norm blocks; RoFormer (Su et al. 2021) for
RoPE.
Attention freezes the keys/values of tokens that ACT has halted (CALM, Schuster et al. 2022, copies
exited states forward the same way), which is what makes cached and uncached decoding agree.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from transformers.cache_utils import DynamicLayer

if TYPE_CHECKING:
    from agent_forge.model.cognate import CognateConfig

KV = tuple[torch.Tensor, torch.Tensor]


class CognateRMSNorm(nn.Module):
    """RMSNorm computed in float32 (Zhang & Sennrich 2019)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rope_cos_sin(
    position_ids: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (B, 1, T, head_dim) for `position_ids` (B, T), computed on the fly (no
    buffers)."""
    dev = position_ids.device
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=dev).float() / head_dim))
    freqs = position_ids.float()[..., None] * inv_freq  # (B, T, hd/2)
    emb = torch.cat([freqs, freqs], dim=-1)[:, None]  # (B, 1, T, hd)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def build_attention_mask(
    q_len: int,
    past_len: int,
    sliding_window: int | None,
    padding_mask: torch.Tensor | None,
    device: torch.device,
) -> torch.Tensor:
    """Boolean mask (B|1, 1, Tq, Tk), True = may attend. Key k is visible to query q iff
    0 <= q - k < sliding_window. Padded keys are hidden, except that a query always sees itself
    so that no row is empty (an empty row would give NaN that leaks through 0 * NaN)."""
    q_pos = torch.arange(q_len, device=device) + past_len  # absolute positions of the queries
    k_pos = torch.arange(past_len + q_len, device=device)
    lag = q_pos[:, None] - k_pos[None, :]  # (Tq, Tk)
    allowed = lag >= 0
    if sliding_window is not None:
        allowed = allowed & (lag < sliding_window)
    if padding_mask is not None:
        keep = padding_mask.bool()[:, None, :] | (lag == 0)[None]  # (B, Tq, Tk)
        allowed = allowed[None] & keep
    else:
        allowed = allowed[None]
    return allowed[:, None]


def check_visibility(
    visibility: torch.Tensor,
    position_ids: torch.Tensor | None,
    cache: object | None,
    use_cache: bool | None,
    b: int,
    t: int,
) -> None:
    """Raise ValueError unless `visibility` can drive one uncached forward of shape (b, t)."""
    if cache is not None or use_cache:
        raise ValueError(
            "visibility is for one full uncached forward; pass no cache, use_cache=False"
        )
    if position_ids is None:
        raise ValueError("visibility needs explicit position_ids (B|1, T) for RoPE and memory")
    if visibility.dtype != torch.bool or visibility.dim() != 4:
        got = f"{visibility.dtype} {tuple(visibility.shape)}"
        raise ValueError(f"visibility must be a bool (B|1, 1, T, T) tensor, got {got}")
    if visibility.shape[0] not in (1, b) or tuple(visibility.shape[1:]) != (1, t, t):
        raise ValueError(f"visibility shape {tuple(visibility.shape)} != ({b} or 1, 1, {t}, {t})")
    if position_ids.shape[-1] != t or position_ids.shape[0] not in (1, b):
        raise ValueError(f"position_ids shape {tuple(position_ids.shape)} != ({b} or 1, {t})")
    if not bool(visibility.diagonal(dim1=-2, dim2=-1).all()):
        raise ValueError("every query must see itself (an empty attention row gives NaN)")


def visibility_attention_mask(
    visibility: torch.Tensor,
    position_ids: torch.Tensor,
    sliding_window: int | None,
    padding_mask: torch.Tensor | None,
) -> torch.Tensor:
    """The attention mask (B|1, 1, T, T) of a custom `visibility`: the window applies by position
    difference (pos_q - pos_k < sliding_window) as in `build_attention_mask`; padded keys are
    hidden except a query's own. The memory reads `visibility` itself, unwindowed, as it does
    without visibility."""
    mask = visibility
    if sliding_window is not None:
        lag = position_ids[:, :, None] - position_ids[:, None, :]  # (B|1, T, T)
        mask = mask & (lag < sliding_window)[:, None]
    if padding_mask is not None:
        eye = torch.eye(mask.shape[-1], dtype=torch.bool, device=mask.device)
        mask = mask & (padding_mask.bool()[:, None, None, :] | eye)
    return mask


class CognateAttention(nn.Module):
    """Multi-head causal attention through `scaled_dot_product_attention`."""

    def __init__(self, config: CognateConfig) -> None:
        super().__init__()
        c = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = c // self.num_heads
        self.q_proj = nn.Linear(c, c, bias=False)
        self.k_proj = nn.Linear(c, c, bias=False)
        self.v_proj = nn.Linear(c, c, bias=False)
        self.o_proj = nn.Linear(c, c, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor,
        frozen: torch.Tensor | None,
        prev_kv: KV | None,
        cache: object | None,
        cache_idx: int,
    ) -> tuple[torch.Tensor, KV]:
        b, t, c = x.shape
        shape = (b, t, self.num_heads, self.head_dim)
        q = self.q_proj(x).view(shape).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(x).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if frozen is not None and prev_kv is not None:
            # Halted tokens expose the keys/values of their last active step (B, 1, T, 1 broadcast).
            f = frozen[:, None, :, None]
            k, v = torch.where(f, prev_kv[0], k), torch.where(f, prev_kv[1], v)
        new_kv = (k, v)
        if cache is not None:
            k, v = cache.update(k, v, cache_idx)  # (B, H, past+T, hd)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, c)), new_kv


class CognateMLP(nn.Module):
    """SwiGLU feed-forward (Shazeer 2020)."""

    def __init__(self, config: CognateConfig) -> None:
        super().__init__()
        c, i = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(c, i, bias=False)
        self.up_proj = nn.Linear(c, i, bias=False)
        self.down_proj = nn.Linear(i, c, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class CognateBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: CognateConfig) -> None:
        super().__init__()
        self.input_layernorm = CognateRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = CognateAttention(config)
        self.post_attention_layernorm = CognateRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = CognateMLP(config)
        self.dropout = config.hidden_dropout

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor,
        frozen: torch.Tensor | None,
        prev_kv: KV | None,
        cache: object | None,
        cache_idx: int,
    ) -> tuple[torch.Tensor, KV]:
        a, kv = self.self_attn(
            self.input_layernorm(x), rope, mask, frozen, prev_kv, cache, cache_idx
        )
        x = x + F.dropout(a, self.dropout, self.training)
        x = x + F.dropout(self.mlp(self.post_attention_layernorm(x)), self.dropout, self.training)
        return x, kv


class CognateMemory(nn.Module):
    """Causal per-sequence memory: m_t = decay * m_{t-1} + (1 - decay) * W_in y_t (m_{-1} = 0), read
    through a learned gate: out = g * y + (1 - g) * W_out m, g = sigmoid(W_g [y; W_out m]).

    The running sum is a (Tq, Tk) lower-triangular matmul, so it is causal by construction. With a
    cache, the memory inputs W_in y of earlier positions live in one extra cache layer (keys
    (B, 1, T, d_mem)), so crop / reorder / batch selection of the cache keep the memory right.
    """

    def __init__(self, config: CognateConfig) -> None:
        super().__init__()
        c, d = config.hidden_size, config.memory_dim
        self.decay = config.memory_decay
        self.in_proj = nn.Linear(c, d, bias=False)
        self.out_proj = nn.Linear(d, c, bias=False)
        self.gate = nn.Linear(2 * c, c)

    def forward(
        self,
        y: torch.Tensor,
        padding_mask: torch.Tensor | None,
        cache: object | None,
        cache_idx: int,
        visibility: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, t, _ = y.shape
        u = self.in_proj(y)  # (B, T, d_mem)
        if padding_mask is not None:
            u = u * padding_mask[:, -t:, None].to(u.dtype)  # padding writes nothing
        decay = torch.tensor(self.decay, device=y.device)
        if visibility is not None and position_ids is not None:
            # Custom layout (uncached): weight of key k for query q is
            # visible(q, k) * (1 - decay) * decay**(pos_q - pos_k); on a causal layout with
            # positions 0..T-1 this is the running sum below.
            lag = (position_ids[:, :, None] - position_ids[:, None, :]).float()  # (B|1, T, T)
            w = (1 - decay) * decay.pow(lag.clamp(min=0)) * visibility[:, 0].to(lag.dtype)
            m = self.out_proj(torch.matmul(w.to(u.dtype), u))  # (B, T, C)
            g = torch.sigmoid(self.gate(torch.cat([y, m], dim=-1)))
            return g * y + (1 - g) * m
        if cache is not None:
            u_all = cache.update(u[:, None], u.new_zeros(b, 1, t, 0), cache_idx)[0][:, 0]
        else:
            u_all = u  # (B, P + T, d_mem)
        past = u_all.shape[1] - t
        q_pos = torch.arange(t, device=y.device) + past
        lag = (q_pos[:, None] - torch.arange(past + t, device=y.device)[None, :]).float()
        w = torch.where(lag >= 0, (1 - decay) * decay.pow(lag.clamp(min=0)), torch.zeros_like(lag))
        m = self.out_proj(torch.matmul(w.to(u.dtype), u_all))  # (B, T, C)
        g = torch.sigmoid(self.gate(torch.cat([y, m], dim=-1)))
        return g * y + (1 - g) * m


class ThoughtMixingHead(nn.Module):
    """Quiet-STaR's mixing head (Zelikman et al. 2024, arXiv:2403.09629): an MLP on
    [h_base; h_post] (2C -> C -> 1, ReLU) giving w = sigmoid(.) in (0, 1), the weight of the
    post-thought prediction. Initialised to w = 0.05 (last layer 0): the model starts by trusting
    its base prediction, so adding the head changes almost nothing."""

    INIT_WEIGHT = 0.05

    def __init__(self, config: CognateConfig) -> None:
        super().__init__()
        c = config.hidden_size
        self.std = config.initializer_range
        self.fc = nn.Linear(2 * c, c)
        self.out = nn.Linear(c, 1)
        self.out.thought_gate = True  # CognatePreTrainedModel._init_weights: w = 0.05
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.fc.weight.normal_(0.0, self.std)
            self.fc.bias.zero_()
            self.out.weight.zero_()
            self.out.bias.fill_(math.log(self.INIT_WEIGHT / (1 - self.INIT_WEIGHT)))

    def forward(self, h_base: torch.Tensor, h_post: torch.Tensor) -> torch.Tensor:
        """(..., C), (..., C) -> w (...)."""
        z = F.relu(self.fc(torch.cat([h_base, h_post], dim=-1)))
        return torch.sigmoid(self.out(z)).squeeze(-1)


class GrowingLayer(DynamicLayer):
    """A DynamicLayer that appends into spare capacity (doubling when full) instead of
    concatenating the whole cache at every step: `torch.cat` made generation O(T^2) in copies,
    and with one cache layer per (ACT step, layer) it was 40% of batched decoding time.
    `keys`/`values` are views of the first `length` positions; anything that replaces them
    (crop, beam reordering) is detected and becomes the new buffer."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._kbuf = self._vbuf = None

    def _owns(self) -> bool:
        return self._kbuf is not None and self.keys.data_ptr() == self._kbuf.data_ptr()

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if not self._owns():  # first call, or the cache was replaced from outside
            old_k = self.keys if self.keys.numel() else key_states[..., :0, :]
            old_v = self.values if self.values.numel() else value_states[..., :0, :]
            self._kbuf, self._vbuf = old_k.contiguous(), old_v.contiguous()
        n, new = self.keys.shape[-2] if self.keys.numel() else 0, key_states.shape[-2]
        if n + new > self._kbuf.shape[-2]:
            cap = max(2 * self._kbuf.shape[-2], n + new, 16)
            kbuf = key_states.new_empty(*key_states.shape[:-2], cap, key_states.shape[-1])
            vbuf = value_states.new_empty(*value_states.shape[:-2], cap, value_states.shape[-1])
            kbuf[..., :n, :], vbuf[..., :n, :] = self._kbuf[..., :n, :], self._vbuf[..., :n, :]
            self._kbuf, self._vbuf = kbuf, vbuf
        self._kbuf[..., n : n + new, :] = key_states
        self._vbuf[..., n : n + new, :] = value_states
        self.keys, self.values = self._kbuf[..., : n + new, :], self._vbuf[..., : n + new, :]
        return self.keys, self.values
