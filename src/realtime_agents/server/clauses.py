"""Cut streamed LLM text into clauses worth synthesising on their own."""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"[.!?;:,]+[\"')\]]*\s")
_SENTENCE_END = set(".!?")


class ClauseCutter:
    """Accumulates text deltas and yields complete clauses as soon as they end.

    A clause ends at `. ! ? ; : ,` followed by whitespace, once it has at least
    `min_sentence_words` words (sentence ends) or `min_clause_words` words (other marks), so the
    first audio starts early without splitting "Dr. Smith" or "1,000" into fragments.
    """

    def __init__(self, min_sentence_words: int = 2, min_clause_words: int = 4) -> None:
        self.min_sentence_words = min_sentence_words
        self.min_clause_words = min_clause_words
        self._text = ""

    def feed(self, delta: str) -> list[str]:
        """Add a delta; return the clauses it completed."""
        self._text += delta
        clauses: list[str] = []
        start = 0
        for match in _BOUNDARY.finditer(self._text):
            candidate = self._text[start : match.end()]
            marks = match.group().rstrip()
            needed = (
                self.min_sentence_words
                if any(mark in _SENTENCE_END for mark in marks)
                else self.min_clause_words
            )
            if len(candidate.split()) >= needed:
                clauses.append(candidate)
                start = match.end()
        self._text = self._text[start:]
        return clauses

    def flush(self) -> str:
        """Whatever is left at the end of the stream."""
        rest, self._text = self._text, ""
        return rest
