"""The reserved special tokens, in id order (ids 0..17 of every tokenizer this project trains).

Kept here, free of heavy imports, so task generators can write tool calls without loading the
model package; `agent_forge.model.tokenizer` re-exports them.
"""

from __future__ import annotations

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
THINKING_TOKENS = (
    "<think>",
    "</think>",
    "<step>",
    "<reason>",
    "<mece>",
    "<falsify>",
    "<expert>",
    "<doubt>",
)
START_OF_THOUGHT, END_OF_THOUGHT = "<|startofthought|>", "<|endofthought|>"
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
TOOL_RESULT_OPEN, TOOL_RESULT_CLOSE = "<tool_result>", "</tool_result>"

# The one list, in id order: ids 0..len-1 are these tokens in every tokenizer this project trains.
SPECIAL_TOKENS: tuple[str, ...] = (
    PAD,
    BOS,
    EOS,
    UNK,
    *THINKING_TOKENS,
    START_OF_THOUGHT,
    END_OF_THOUGHT,
    TOOL_CALL_OPEN,
    TOOL_CALL_CLOSE,
    TOOL_RESULT_OPEN,
    TOOL_RESULT_CLOSE,
)
