"""Cognate: a Llama-style decoder whose block stack is applied up to `act_max_steps` times under ACT
halting (Graves 2016, arXiv:1603.08983), followed by a causal decayed memory read through a gate.

ACT is per token: after step s every token gets p = sigmoid(halt_head(h)); it halts at the first
step where its cumulative p reaches `act_threshold` (or at the last step), and its output is
sum_s w_s h_s with w_s = p_s before halting and the remainder R = 1 - sum p at the halting step.
Ponder cost = mean over tokens of N + R. A halted token's weight is exactly 0 afterwards and its
keys/values are frozen at its last active step, so (a) a call stops as soon as every position of
every sequence has halted (train and eval alike: skipping changes no output), (b) the model stays
causal, and (c) the KV cache keeps one entry per (step, layer), index step * num_layers + layer;
entries of skipped steps are copies of the last executed step, so cached and uncached decoding
agree. The memory keeps its inputs in cache layer act_max_steps * num_layers; nothing persists
between calls. One uncached forward may take a custom `visibility` mask with explicit positions
(Quiet-STaR's parallel thoughts, training/quietstar.py); `thought_mixing` adds its mixing head.
See docs/model.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from agent_forge.model.cognate_layers import (
    KV,
    CognateBlock,
    CognateMemory,
    CognateRMSNorm,
    GrowingLayer,
    ThoughtMixingHead,
    build_attention_mask,
    check_visibility,
    rope_cos_sin,
    visibility_attention_mask,
)


@strict
class CognateConfig(PreTrainedConfig):
    """Hyper-parameters of Cognate; HF field names so that export is a copy."""

    model_type = "cognate"

    vocab_size: int = 4096
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    sliding_window: int | None = None  # None = full causal attention
    act_max_steps: int = 3  # T_max: applications of the whole block stack
    act_threshold: float = 0.99  # cumulative halting probability at which a token halts (1 - eps)
    ponder_weight: float = 0.01  # tau in loss = LM loss + tau * ponder cost
    memory_dim: int = 64
    memory_decay: float = 0.99
    use_act: bool = True
    use_memory: bool = True
    hidden_dropout: float = 0.0
    initializer_range: float = 0.02
    use_cache: bool = True
    tie_word_embeddings: bool = True
    thought_mixing: bool = False  # Quiet-STaR: add the mixing head `thought_head`

    def validate_architecture(self) -> None:
        """Part of `@strict` validation: raise on values the model cannot be built with."""
        if self.hidden_size % self.num_attention_heads != 0 or (
            (self.hidden_size // self.num_attention_heads) % 2
        ):
            raise ValueError(
                f"hidden_size={self.hidden_size} must split into num_attention_heads="
                f"{self.num_attention_heads} heads of even size (RoPE rotates pairs)."
            )
        if not 0.0 < self.act_threshold <= 1.0:
            raise ValueError(f"act_threshold={self.act_threshold} must be in (0, 1].")
        if self.act_max_steps < 1:
            raise ValueError(f"act_max_steps={self.act_max_steps} must be >= 1.")
        if not 0.0 <= self.memory_decay < 1.0:
            raise ValueError(f"memory_decay={self.memory_decay} must be in [0, 1).")
        if self.sliding_window is not None and self.sliding_window < 1:
            raise ValueError(f"sliding_window={self.sliding_window} must be >= 1 or None.")


def cognate_tiny_config(vocab_size: int = 4096, **overrides: Any) -> CognateConfig:
    """~1.4M parameters at vocab 4096: trains on a laptop CPU in minutes; used by the tests."""
    values: dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=4,
        num_attention_heads=4,
        max_position_embeddings=512,
        sliding_window=128,
        act_max_steps=3,
        act_threshold=0.99,
        memory_dim=64,
        memory_decay=0.99,
    )
    return CognateConfig(**(values | overrides))


def cognate_consumer_gpu_config(vocab_size: int = 12000, **overrides: Any) -> CognateConfig:
    """Phase 1 spec: d_model 512, 8 layers, 8 heads, seq 2048, window 1024, d_mem 256, decay 0.99,
    ACT threshold 0.5. SwiGLU width 768 puts the model at ~24.8M (22.7M-26.8M for vocab 8K-16K)."""
    values: dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=512,
        intermediate_size=768,
        num_hidden_layers=8,
        num_attention_heads=8,
        max_position_embeddings=2048,
        sliding_window=1024,
        act_max_steps=3,
        act_threshold=0.5,
        memory_dim=256,
        memory_decay=0.99,
    )
    return CognateConfig(**(values | overrides))


@dataclass
class CognateModelOutput(BaseModelOutputWithPast):
    """Backbone output plus ACT statistics: `ponder_cost` (scalar, differentiable), `act_steps`
    (stack applications executed in this call) and `act_token_steps` (B, T) halting step N(t)."""

    ponder_cost: torch.FloatTensor | None = None
    act_steps: int | None = None
    act_token_steps: torch.LongTensor | None = None


@dataclass
class CognateCausalLMOutput(CausalLMOutputWithPast):
    """LM output plus ACT statistics; `loss` = LM loss + ponder_weight * ponder_cost."""

    ponder_cost: torch.FloatTensor | None = None
    act_steps: int | None = None
    act_token_steps: torch.LongTensor | None = None


class CognatePreTrainedModel(PreTrainedModel):
    config_class = CognateConfig
    config: CognateConfig
    base_model_prefix = "model"
    _no_split_modules = ["CognateBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        # The mixing head's output layer starts at w = 0.05 (transformers skips modules without
        # own parameters in custom code, so the Linear itself carries the mark).
        if isinstance(module, nn.Linear) and getattr(module, "thought_gate", False):
            w0 = ThoughtMixingHead.INIT_WEIGHT
            init.zeros_(module.weight)
            init.constant_(module.bias, math.log(w0 / (1 - w0)))


class CognateModel(CognatePreTrainedModel):
    """Embeddings -> ACT over the block stack -> memory -> final norm."""

    def __init__(self, config: CognateConfig) -> None:
        super().__init__(config)
        c = config.hidden_size
        self.embed_tokens = nn.Embedding(config.vocab_size, c)
        self.layers = nn.ModuleList(CognateBlock(config) for _ in range(config.num_hidden_layers))
        # The halting head reads a normalised state: the residual stream grows with every step.
        self.halt_norm = CognateRMSNorm(c, config.rms_norm_eps) if config.use_act else None
        self.halt_head = nn.Linear(c, 1) if config.use_act else None
        self.memory = CognateMemory(config) if config.use_memory else None
        self.norm = CognateRMSNorm(c, config.rms_norm_eps)
        self.post_init()

    @property
    def num_steps(self) -> int:
        return self.config.act_max_steps if self.config.use_act else 1

    def _layout_cache(self, cache: DynamicCache) -> None:
        """Give an empty DynamicCache one full-length layer per (step, layer) plus one for memory;
        generate() builds its cache from the config with one (possibly sliding) layer per layer."""
        needed = self.num_steps * len(self.layers) + int(self.memory is not None)
        if not isinstance(cache, DynamicCache):
            raise TypeError(f"Cognate needs a DynamicCache, got {type(cache).__name__}.")
        if all(not layer.is_initialized for layer in cache.layers):
            cache.layers = [GrowingLayer() for _ in range(needed)]
            cache.layer_class_to_replicate = None
        elif len(cache.layers) != needed:
            raise ValueError(
                f"cache has {len(cache.layers)} layers; this Cognate model uses {needed} "
                "(act_max_steps * num_hidden_layers + memory). Was it made by another model?"
            )

    def _stack(
        self,
        h: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor,
        frozen: torch.Tensor | None,
        prev: list[KV] | None,
        cache: DynamicCache | None,
        base: int,
    ) -> tuple[torch.Tensor, list[KV]]:
        """One application of the whole block stack (one ACT step); returns the effective K/V."""
        kvs = []
        for i, layer in enumerate(self.layers):
            h, kv = layer(h, rope, mask, frozen, prev[i] if prev else None, cache, base + i)
            kvs.append(kv)
        return h, kvs

    def _act(
        self,
        h: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor,
        valid: torch.Tensor | None,
        cache: DynamicCache | None,
    ) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]:
        """Graves ACT over the stack: returns (y, ponder per token, steps executed, N per token)."""
        b, t, _ = h.shape
        n_layers, n_steps = len(self.layers), self.num_steps
        cum = h.new_zeros(b, t)  # running sum of p before halting
        halted = torch.zeros(b, t, dtype=torch.bool, device=h.device)
        ponder = h.new_zeros(b, t)
        token_steps = torch.zeros(b, t, dtype=torch.long, device=h.device)
        y = torch.zeros_like(h)
        kvs: list[KV] | None = None
        steps = n_steps
        for s in range(n_steps):
            h, kvs = self._stack(h, rope, mask, halted if s else None, kvs, cache, s * n_layers)
            if self.halt_head is None or self.halt_norm is None:
                return h, ponder, 1, token_steps + 1
            p = torch.sigmoid(self.halt_head(self.halt_norm(h))).squeeze(-1)  # (B, T)
            halts_now = ~halted & ((cum + p >= self.config.act_threshold) | (s == n_steps - 1))
            remainder = 1.0 - cum
            w = torch.where(halted, 0.0, torch.where(halts_now, remainder, p))
            y = y + w[..., None] * h  # halted tokens add exactly 0
            ponder = torch.where(halts_now, remainder + (s + 1), ponder)
            token_steps = torch.where(halts_now, s + 1, token_steps)
            cum = cum + torch.where(halted | halts_now, 0.0, p)
            halted = halted | halts_now
            done = halted if valid is None else halted | ~valid
            if bool(done.all()):
                steps = s + 1
                break
        if cache is not None and kvs is not None:
            # Skipped steps: every token is frozen, so their K/V are the last step's K/V.
            for s in range(steps, n_steps):
                for i, (k, v) in enumerate(kvs):
                    cache.update(k, v, s * n_layers + i)
        return y, ponder, steps, token_steps

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: DynamicCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        visibility: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> CognateModelOutput:
        """`visibility` (B|1, 1, T, T) bool, True = query may attend key, replaces the causal /
        sliding mask for one uncached call and needs explicit `position_ids` (B|1, T); the memory
        follows it too (docs/model.md, "Visibility and thought passes")."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        cache = cache if cache is not None else kwargs.get("past_key_values")
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        b, t, _ = x.shape
        if visibility is not None:
            check_visibility(visibility, position_ids, cache, use_cache, b, t)
            use_cache = False
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if not use_cache:
            cache = None
        elif cache is None:
            cache = DynamicCache()
        if cache is not None:
            self._layout_cache(cache)
        past = cache.get_seq_length() if cache is not None else 0
        if position_ids is None:
            position_ids = (torch.arange(t, device=x.device) + past)[None].expand(b, t)
        head_dim = self.config.hidden_size // self.config.num_attention_heads
        rope = rope_cos_sin(position_ids, head_dim, self.config.rope_theta, x.dtype)
        if visibility is None:
            mask = build_attention_mask(
                t, past, self.config.sliding_window, attention_mask, x.device
            )
        else:
            mask = visibility_attention_mask(
                visibility, position_ids, self.config.sliding_window, attention_mask
            )
        valid = None if attention_mask is None else attention_mask[:, -t:].bool()
        y, ponder, steps, token_steps = self._act(x, rope, mask, valid, cache)
        if self.memory is not None:
            custom = (visibility, position_ids) if visibility is not None else (None, None)
            y = self.memory(y, attention_mask, cache, self.num_steps * len(self.layers), *custom)
        ponder_cost = ponder.mean() if valid is None else ponder[valid].mean()
        return CognateModelOutput(
            last_hidden_state=self.norm(y),
            cache=cache,
            ponder_cost=ponder_cost,
            act_steps=steps,
            act_token_steps=token_steps,
        )


class CognateForCausalLM(CognatePreTrainedModel, GenerationMixin):
    """Cognate with a tied LM head; `loss` = next-token cross-entropy + ponder_weight * ponder.
    With `config.thought_mixing`, also Quiet-STaR's mixing head `thought_head`
    (training/quietstar.py calls it on the final hidden states)."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: CognateConfig) -> None:
        super().__init__(config)
        self.model = CognateModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.thought_head = ThoughtMixingHead(config) if config.thought_mixing else None
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: DynamicCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        visibility: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> CognateCausalLMOutput:
        """`output_hidden_states=True` returns `hidden_states=(h,)`: only the final (normed)
        hidden states (B, T, C) that the LM head reads, all positions even with logits_to_keep."""
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            visibility=visibility,
            **kwargs,
        )
        h = out.last_hidden_state
        hidden = (h,) if output_hidden_states else None
        if logits_to_keep:
            h = h[:, -logits_to_keep:]  # generate() only needs the last position
        logits = self.lm_head(h)  # (B, T, V)
        loss = None
        if labels is not None:
            lm_loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                labels[:, 1:].reshape(-1),
                ignore_index=-100,
            )
            loss = lm_loss + self.config.ponder_weight * out.ponder_cost
        return CognateCausalLMOutput(
            loss=loss,
            logits=logits,
            cache=out.cache,
            hidden_states=hidden,
            ponder_cost=out.ponder_cost,
            act_steps=out.act_steps,
            act_token_steps=out.act_token_steps,
        )
