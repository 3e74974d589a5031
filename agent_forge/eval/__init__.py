"""Evaluation library (plain torch, numpy and subprocesses; no Ray): scorers, suites, the runner,
the code sandbox, retention and quality gates. Overview: docs/eval/README.md.

Modules: `loss` (held-out loss), `generation` + `answers` (greedy exact match), `choice`
(multiple choice by log-likelihood), `kl` (KL to a reference), `sandbox` + `code_exec` (pass@1),
`items` / `suites` / `public` / `catalog` (what is scored), `runner` (per-item scores and
summaries), `bootstrap` / `retention` / `gates` / `compare` (how much is kept, and the verdict),
`probes` (latency, throughput, peak memory, bytes on disk).
"""

from agent_forge.eval.generation import greedy_completions, score_examples
from agent_forge.eval.levels import accuracy_by_level
from agent_forge.eval.sampling import stratified
from agent_forge.eval.stats import majority_rate, unigram_loss, wilson_interval

__all__ = [
    "accuracy_by_level",
    "greedy_completions",
    "majority_rate",
    "score_examples",
    "stratified",
    "unigram_loss",
    "wilson_interval",
]
