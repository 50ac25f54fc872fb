"""Clause cutting: the first clause of a response is cut early, later ones at punctuation."""

from __future__ import annotations

import re

from realtime_agents.server.clauses import ClauseCutter


def cut(text: str, cutter: ClauseCutter | None = None) -> list[str]:
    """Stream `text` word by word (as LLM tokens arrive) and collect every clause."""
    cutter = cutter or ClauseCutter()
    clauses: list[str] = []
    for piece in re.findall(r"\s*\S+", text):
        clauses += cutter.feed(piece)
    rest = cutter.flush()
    return [*clauses, rest] if rest else clauses


def test_first_clause_is_cut_before_a_conjunction_after_four_words() -> None:
    clauses = cut("The capital of France is Paris and it is a lovely city to visit in spring.")
    assert clauses == [
        "The capital of France is Paris ",
        "and it is a lovely city to visit in spring.",
    ]


def test_first_clause_is_cut_at_a_comma_after_four_words() -> None:
    clauses = cut("Well, as far as I know, spiders have eight legs and two body parts.")
    assert clauses[0] == "Well, as far as I know, "
    # later clauses are cut at punctuation only (no cut before "and")
    assert clauses[1:] == ["spiders have eight legs and two body parts."]


def test_first_clause_is_cut_after_n_words_without_a_boundary() -> None:
    clauses = cut("Romeo and Juliet was written by William Shakespeare in the sixteenth century.")
    assert clauses[0] == "Romeo and Juliet was written by "
    assert "".join(clauses) == (
        "Romeo and Juliet was written by William Shakespeare in the sixteenth century."
    )


def test_short_sentences_and_numbers_are_not_split() -> None:
    assert cut("A spider has eight legs.") == ["A spider has eight legs."]
    assert cut("It costs 1,000 euros.") == ["It costs 1,000 euros."]
    assert cut("Yes. I think so.") == ["Yes. I think so."]


def test_a_word_still_streaming_is_not_taken_for_a_conjunction() -> None:
    cutter = ClauseCutter()
    assert cutter.feed("The next town over is and") == []  # "and..." may go on: "android"
    assert cutter.feed("roid city ") == ["The next town over is android "]  # six words
    assert cutter.flush() == "city "


def test_later_clauses_keep_the_punctuation_rule() -> None:
    clauses = cut(
        "Sure, here is a longer answer. It has several clauses, each one synthesised on its own, "
        "so that the first audio starts early."
    )
    assert clauses == [
        "Sure, here is a longer answer. ",
        "It has several clauses, ",
        "each one synthesised on its own, ",
        "so that the first audio starts early.",
    ]
    assert cut("Paris is the capital and the largest city.", ClauseCutter())[0] == (
        "Paris is the capital "
    )
