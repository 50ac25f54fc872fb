"""Cut streamed LLM text into clauses worth synthesising on their own."""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"[.!?;:,]+[\"')\]]*\s")
_SENTENCE_END = set(".!?")
_WORD = re.compile(r"\S+(?=\s)")
"""A complete word: followed by whitespace (the stream may still extend the last one)."""
CONJUNCTIONS = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "because",
        "since",
        "which",
        "while",
        "when",
        "where",
        "who",
        "although",
        "though",
        "unless",
        "until",
        "if",
        "then",
    ]
)
"""Words a first clause may be cut before."""


class ClauseCutter:
    """Accumulates text deltas and yields complete clauses as soon as they end.

    A clause ends at `. ! ? ; : ,` followed by whitespace, once it has at least
    `min_sentence_words` words (sentence ends) or `min_clause_words` words (other marks), so the
    first audio starts early without splitting "Dr. Smith" or "1,000" into fragments.

    The first clause of a response is cut sooner, since the first audio waits for it: at any
    of those marks once it has `min_clause_words` words, before a conjunction ("and", "but",
    "because", ...) that follows at least `first_clause_words` words, or else after
    `first_clause_max_words` words. Later clauses are cut at punctuation only.
    """

    def __init__(
        self,
        min_sentence_words: int = 2,
        min_clause_words: int = 4,
        *,
        first_clause_words: int = 4,
        first_clause_max_words: int = 6,
    ) -> None:
        self.min_sentence_words = min_sentence_words
        self.min_clause_words = min_clause_words
        self.first_clause_words = first_clause_words
        self.first_clause_max_words = first_clause_max_words
        self._text = ""
        self._first = True

    def feed(self, delta: str) -> list[str]:
        """Add a delta; return the clauses it completed."""
        self._text += delta
        clauses: list[str] = []
        if self._first:
            cut = self._first_cut()
            if cut is None:
                return clauses
            clauses.append(self._text[:cut])
            self._text = self._text[cut:]
            self._first = False
        start = 0
        for match in _BOUNDARY.finditer(self._text):
            candidate = self._text[start : match.end()]
            if len(candidate.split()) >= self._needed(match.group()):
                clauses.append(candidate)
                start = match.end()
        self._text = self._text[start:]
        return clauses

    def flush(self) -> str:
        """Whatever is left at the end of the stream."""
        rest, self._text = self._text, ""
        if rest.strip():
            self._first = False
        return rest

    def _needed(self, marks: str) -> int:
        sentence_end = any(mark in _SENTENCE_END for mark in marks.rstrip())
        return self.min_sentence_words if sentence_end else self.min_clause_words

    def _first_cut(self) -> int | None:
        """Where the first clause ends in the text so far (None: not yet)."""
        text = self._text
        cuts: list[int] = []
        for match in _BOUNDARY.finditer(text):
            if len(text[: match.end()].split()) >= self._needed(match.group()):
                cuts.append(match.end())
                break
        words = list(_WORD.finditer(text))
        for index, word in enumerate(words):
            if index >= self.first_clause_words and _bare(word.group()) in CONJUNCTIONS:
                cuts.append(word.start())
                break
        if len(words) >= self.first_clause_max_words:
            end = words[self.first_clause_max_words - 1].end()
            cuts.append(len(text) - len(text[end:].lstrip()))
        return min(cuts) if cuts else None


def _bare(word: str) -> str:
    return word.strip("\"'()[]").lower()
