"""The templated corpus: deterministic, large enough, varied, and free of held-out prompts."""

from __future__ import annotations

from agent_forge.data.corpus import generate_corpus, number_words


def test_corpus_is_deterministic_and_sized():
    a = generate_corpus(3, 300_000)
    assert a == generate_corpus(3, 300_000)
    assert a != generate_corpus(4, 300_000)
    assert sum(len(d.encode()) + 1 for d in a) >= 300_000
    assert len(set(a)) > 0.9 * len(a)  # mostly distinct documents
    words = {w for d in a for w in d.split()}
    assert len(words) > 2000  # distinct whitespace-separated words (many are numbers)


def test_worked_tasks_come_from_the_train_split_only():
    from agent_forge.data.splits import split_of

    docs = [d for d in generate_corpus(0, 200_000) if d.startswith(("Question: ", "Task: "))]
    assert docs
    for d in docs:
        head = d.split("Question: ", 1)[-1].split("Task: ", 1)[-1]
        prompt = head.split("\nLet us work it out.")[0].split("\nThe function ")[0]
        assert split_of(prompt) == "train", prompt


def test_number_words():
    assert number_words(0) == "zero"
    assert number_words(42) == "forty-two"
    assert number_words(305) == "three hundred and five"
    assert number_words(12_040) == "twelve thousand and forty"
