"""Evaluation library (plain torch): held-out loss, greedy generation scoring, confidence intervals.

Started for Phase 1's gates; the full harness (suites, benchmarks, sandbox, retention) grows here.
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
