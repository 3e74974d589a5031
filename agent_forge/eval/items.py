"""What an evaluation suite is made of: items (data, not code) and the `Suite` that holds them.

One item type per way of scoring (lm-evaluation-harness's output types, as dataclasses):
`ChoiceItem` (log-likelihood of each continuation), `GenerationItem` (greedy answer, exact match
after extraction and normalisation), `CodeItem` (pass@1 in the sandbox), `TextItem` (held-out loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SuiteKind = Literal["choice", "generation", "code", "loss"]


@dataclass(frozen=True)
class ChoiceItem:
    """Multiple choice: choice i is the log-likelihood of `continuations[i]` after `contexts[i]`.

    Most tasks share one context (`ChoiceItem.shared`); WinoGrande's partial scoring puts each
    option in its own context and scores the common sentence ending. `true_mask` marks every true
    choice (TruthfulQA MC2); `gold` is the single answer that accuracy scores."""

    id: str
    contexts: tuple[str, ...]
    continuations: tuple[str, ...]
    gold: int
    true_mask: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.contexts) != len(self.continuations) or len(self.continuations) < 2:
            raise ValueError(f"item {self.id}: need >= 2 choices and one context per choice")
        if not 0 <= self.gold < len(self.continuations):
            raise ValueError(f"item {self.id}: gold {self.gold} is not a choice index")
        if self.true_mask is not None and len(self.true_mask) != len(self.continuations):
            raise ValueError(f"item {self.id}: true_mask needs one flag per choice")

    @classmethod
    def shared(
        cls,
        id: str,
        context: str,
        choices: tuple[str, ...] | list[str],
        gold: int,
        true_mask: tuple[bool, ...] | None = None,
    ) -> ChoiceItem:
        return cls(id, (context,) * len(choices), tuple(choices), gold, true_mask)


@dataclass(frozen=True)
class GenerationItem:
    """Greedy generation; `extract` names the rule in `answers.py` that pulls the answer out of
    the newly generated text before it is compared with `target`."""

    id: str
    prompt: str
    target: str
    extract: str = "first_line"
    group: str = ""  # e.g. "level_3/arithmetic": per-level and per-domain breakdowns


@dataclass(frozen=True)
class CodeItem:
    """HumanEval-style: the program is prompt + completion + test + `check(entry_point)`."""

    id: str
    prompt: str
    test: str
    entry_point: str
    group: str = ""


@dataclass(frozen=True)
class TextItem:
    """A held-out document for loss / perplexity."""

    id: str
    text: str


Item = ChoiceItem | GenerationItem | CodeItem | TextItem


@dataclass
class Suite:
    """A scored set of items. `chance` is the score of guessing (for a choice suite, the mean of
    1/len(choices), or MC2's mean true share); `metrics` lists what the runner reports."""

    name: str
    kind: SuiteKind
    items: list[Item]
    chance: float
    metrics: tuple[str, ...]
    num_fewshot: int = 0
    max_new_tokens: int = 32
    higher_is_better: bool = True
    source: str = ""  # file or generator the items came from
    description: str = ""
    extra: dict = field(default_factory=dict)
