"""Does the embedded LLM stay on topic as a conversation grows? A 20-turn scripted conversation.

Each turn is a question or request with a keyword its answer must contain; two follow up on the
turn before ("And the capital of Germany?"), so a view without the recent past fails too. The
turns go to the embedded engine (SmolLM2-135M on llama.cpp, as `realtime-agents serve` runs it)
one after another with the whole conversation so far, as the server sends it; the engine decides
what of it the model sees. Prints each answer and whether it holds its keyword, the counts for
the first and the second half, how many wrong answers went back to an earlier topic (`OLD`:
they hold an earlier turn's keyword instead), how many answers name an earlier topic at all, and
how many copy an earlier answer's opening ("The answer to this question is ..."). `--alone`
first asks each question on its own (no history): the ceiling, what the model knows at all.
Greedy decoding: the counts do not depend on the machine's load (the time does).

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python benchmarks/topic_drift.py [--alone] [-q]
        [--history-turns N]     # 0: the whole conversation that fits (the engine before 12.4)

SmolLM2-135M, greedy (the counts do not depend on load):

    what the replies see                      keywords 1st, 2nd half   copied opening   old topic
    the whole conversation that fits (0)      10/10, 10/10             14 of 20         1
    instructions + last 3-5 turns (default)   10/10, 10/10              0 of 20         1

The copies are "The answer to this question is 2. ..." from turn 5 on: the old view kept one
answer's odd opening in front of the model, and every later answer repeated it.
"""

from __future__ import annotations

import argparse
import os
import re
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from realtime_agents.server.engines.base import ChatMessage, LlmRequest
from realtime_agents.server.engines.llama import HISTORY_TURNS, LlamaLanguageModel

INSTRUCTIONS = "You are a friendly voice assistant. Answer the user's last question briefly."

TURNS: list[tuple[str, str, str | None]] = [
    # (what the user says, a regular expression the answer must match (case-insensitive), the
    # question asked alone for `--alone` when the turn follows up on the one before). Requests
    # for stories and descriptions put long, topical answers into the history; follow-ups need
    # the turn before them.
    ("Tell me a short story about a curious cat.", r"\bcats?\b", None),
    ("What is the capital of France?", r"\bparis\b", None),
    ("And the capital of Germany?", r"\bberlin\b", "What is the capital of Germany?"),
    ("Tell me about dragons.", r"\bdragons?\b", None),
    ("How many legs does a spider have?", r"\b(eight|8)\b", None),
    ("What do bees make?", r"\bhoney\b", None),
    ("Tell me a story about a brave knight.", r"\bknights?\b", None),
    ("What is the capital of Japan?", r"\btokyo\b", None),
    ("Who wrote Romeo and Juliet?", r"\bshakespeare\b", None),
    ("What is frozen water called?", r"\bice\b", None),
    ("Describe a day at the beach.", r"\b(beach|sand|sea|ocean|waves?)\b", None),
    ("Which planet is known as the red planet?", r"\bmars\b", None),
    ("What is the capital of Italy?", r"\brome\b", None),
    (
        "And what language do they speak there?",
        r"\bitalian\b",
        "What language do people speak in Italy?",
    ),
    ("How many days are there in a week?", r"\b(seven|7)\b", None),
    ("Tell me about the Moon.", r"\bmoon\b", None),
    ("What is the opposite of hot?", r"\bcold\b", None),
    ("Which ocean is the largest?", r"\bpacific\b", None),
    ("What is the capital of Spain?", r"\bmadrid\b", None),
    ("How many hours are in a day?", r"\b(24|twenty-four)\b", None),
]


def _answer(llm: LlamaLanguageModel, messages: list[ChatMessage]) -> str:
    request = LlmRequest(messages=messages)
    return "".join(chunk.text for chunk in llm.generate(request, threading.Event())).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alone", action="store_true", help="also ask each question alone")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the counts")
    parser.add_argument(
        "--history-turns",
        type=int,
        default=HISTORY_TURNS,
        help=f"recent turns the model sees (default {HISTORY_TURNS}; 0: as many as fit)",
    )
    args = parser.parse_args()

    llm = LlamaLanguageModel(history_turns=args.history_turns)
    llm.warm_up()
    system: ChatMessage = {"role": "system", "content": INSTRUCTIONS}
    half = len(TURNS) // 2

    def report(label: str, hits: list[bool]) -> None:
        first, second = sum(hits[:half]), sum(hits[half:])
        print(
            f"{label:13s} first half {first:2d}/{half}  second half {second:2d}/{len(hits) - half}"
            f"  total {first + second:2d}/{len(hits)}",
            flush=True,
        )

    if args.alone:
        alone = []
        for question, pattern, standalone in TURNS:
            question = standalone or question
            answer = _answer(llm, [system, {"role": "user", "content": question}])
            alone.append(bool(re.search(pattern, answer, re.IGNORECASE)))
            if not args.quiet:
                print(f"  alone {'ok ' if alone[-1] else 'BAD'} {question!r} -> {answer!r}")
        report("alone", alone)

    history: list[ChatMessage] = [system]
    hits: list[bool] = []
    drifted = leaks = copies = 0
    openings: set[str] = set()
    started = time.perf_counter()
    for number, (question, pattern, _) in enumerate(TURNS, 1):
        history.append({"role": "user", "content": question})
        answer = _answer(llm, history)
        history.append({"role": "assistant", "content": answer})
        hits.append(bool(re.search(pattern, answer, re.IGNORECASE)))
        earlier = [
            p
            for _, p, _ in TURNS[: number - 1]
            if re.search(p, answer, re.IGNORECASE) and not re.search(p, question, re.IGNORECASE)
        ]
        drifted += bool(earlier) and not hits[-1]
        leaks += bool(earlier)
        opening = " ".join(answer.lower().split()[:4])
        copies += opening in openings
        openings.add(opening)
        if not args.quiet:
            mark = "ok " if hits[-1] else ("OLD" if earlier else "BAD")
            print(f"  turn {number:2d} {mark} {question!r} -> {answer!r}", flush=True)
    elapsed = time.perf_counter() - started
    report("conversation", hits)
    print(
        f"wrong answers on an earlier topic: {drifted}; answers naming an earlier topic: "
        f"{leaks}; answers opening with an earlier answer's first four words: {copies}"
    )
    print(f"({elapsed:.1f} s for the conversation; time depends on the machine's load)")
    llm.close()


if __name__ == "__main__":
    main()
