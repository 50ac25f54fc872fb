"""What `talk` prints: streamed words stay on one line per item, other lines close it first."""

from __future__ import annotations

import io

from realtime_agents.talk.display import Display


def test_streamed_words_share_a_line_and_other_lines_interrupt_it() -> None:
    out = io.StringIO()
    display = Display(out)
    display.user_transcript("item_user", "What is the capital of France?")
    display.assistant_delta("item_reply", "The capital ")
    display.tool_call("lookup", '{"q": 1}', '{"a": 2}')
    display.assistant_delta("item_reply", "is Paris.")
    display.assistant_done("item_reply", "The capital is Paris.")
    display.user_delta("item_next", "Thank")
    display.user_delta("item_next", " you")
    display.user_transcript("item_next", "Thank you")
    display.assistant_done("item_whole", "You're welcome.")
    display.latency(812.4, via_tool=True)
    assert out.getvalue().splitlines() == [
        "you:       What is the capital of France?",
        "assistant: The capital ",
        'tool:      lookup({"q": 1}) -> {"a": 2}',
        "assistant: ... is Paris.",
        "you:       Thank you",
        "assistant: You're welcome.",
        "latency:   812 ms (end of speech -> first audio played via a tool call)",
    ]
