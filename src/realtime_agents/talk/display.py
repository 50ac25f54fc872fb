"""What `talk` prints: live transcripts of both sides, tool calls and per-turn latency."""

from __future__ import annotations

from typing import Final, TextIO

_LABEL_WIDTH: Final = 11


def _label(name: str) -> str:
    return (f"{name}:" if name else "").ljust(_LABEL_WIDTH)


class Display:
    """Line-oriented output where the assistant's words stream onto one open line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._open_line: str | None = None
        """The item id whose transcript is streaming onto the current line."""
        self._streamed: dict[str, str] = {}

    def _close_line(self) -> None:
        if self._open_line is not None:
            self.out.write("\n")
            self._open_line = None

    def line(self, label: str, text: str) -> None:
        """A complete line (after closing any streaming one)."""
        self._close_line()
        self.out.write(f"{_label(label)}{text}\n")
        self.out.flush()

    def user_delta(self, item_id: str, delta: str) -> None:
        """A streamed piece of the person's transcript (from servers that stream it)."""
        self._delta("you", item_id, delta)

    def user_transcript(self, item_id: str, text: str) -> None:
        """The person's words once transcribed."""
        self._done("you", item_id, text.strip() or "(nothing recognised)")

    def assistant_delta(self, item_id: str, delta: str) -> None:
        """A streamed piece of the assistant's words."""
        self._delta("assistant", item_id, delta)

    def assistant_done(self, item_id: str, transcript: str) -> None:
        """The assistant's words for an item are complete (printed whole if none streamed)."""
        self._done("assistant", item_id, transcript)

    def _delta(self, label: str, item_id: str, delta: str) -> None:
        if self._open_line != item_id:
            self._close_line()
            prefix = _label(label)
            if item_id in self._streamed:
                prefix += "... "
            self.out.write(prefix)
            self._open_line = item_id
        self._streamed[item_id] = self._streamed.get(item_id, "") + delta
        if len(self._streamed) > 100:
            del self._streamed[next(iter(self._streamed))]
        self.out.write(delta)
        self.out.flush()

    def _done(self, label: str, item_id: str, text: str) -> None:
        if item_id not in self._streamed:
            self.line(label, text)
        self._streamed.pop(item_id, None)
        if self._open_line == item_id:
            self._close_line()
        self.out.flush()

    def tool_call(self, name: str, arguments: str, output: str) -> None:
        self.line("tool", f"{name}({arguments}) -> {output}")

    def latency(self, milliseconds: float, via_tool: bool) -> None:
        via = " via a tool call" if via_tool else ""
        self.line("latency", f"{milliseconds:.0f} ms (end of speech -> first audio played{via})")

    def interrupted(self) -> None:
        self.line("", "(you spoke over the assistant: playback stopped)")

    def notice(self, text: str) -> None:
        self.line("", text)

    def error(self, text: str) -> None:
        self.line("error", text)
