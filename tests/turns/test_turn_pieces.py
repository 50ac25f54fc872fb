"""The sans-I/O turn-taking pieces: completion, the semantic detector, playout, echo, arbiter."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from realtime_agents.server.input_audio import SpeechStarted, SpeechStopped
from realtime_agents.server.turns.completion import completion_probability
from realtime_agents.server.turns.echo import EchoGate
from realtime_agents.server.turns.interruptions import (
    DEFAULT_MAX_HOLD_MS,
    RESUME_SILENCE_MS,
    InterruptionArbiter,
    InterruptionRules,
    decide,
    is_backchannel,
    judge,
)
from realtime_agents.server.turns.options import false_interruption_options
from realtime_agents.server.turns.playout import Playout
from realtime_agents.server.turns.semantic import EAGERNESS, SemanticTurnDetector, TranscriptWanted


def test_unfinished_and_finished_transcripts() -> None:
    for text in ("I'd like to set a timer for", "call my mother and", "the weather in the"):
        probability = completion_probability(text)
        assert probability is not None and probability < 0.5, text
    for text in ("What's the weather in Paris?", "How many legs does a spider have?"):
        probability = completion_probability(text)
        assert probability is not None and probability >= 0.9, text
    assert completion_probability("  ") is None
    unsure = completion_probability("Play some jazz music")
    assert unsure is not None and 0.5 <= unsure < 0.9


def _run(
    detector: SemanticTurnDetector, frames: list[float], start_ms: float = 0.0
) -> list[object]:
    changes = []
    for index, probability in enumerate(frames):
        begin = start_ms + 32 * index
        change = detector.frame(begin, begin + 32, probability)
        if change is not None:
            changes.append(change)
    return changes


def test_semantic_detector_waits_through_an_unfinished_pause() -> None:
    detector = SemanticTurnDetector("auto")
    changes = _run(detector, [0.9] * 20 + [0.0] * 2)
    assert isinstance(changes[0], SpeechStarted)
    assert isinstance(changes[1], TranscriptWanted)
    detector.transcript(changes[1].speech_end_ms, "I'd like to set a timer for")
    # a 900 ms pause does not end the turn; speech resumes
    assert _run(detector, [0.0] * 28, start_ms=32 * 22) == []
    assert detector.in_speech
    more = _run(detector, [0.9] * 10 + [0.0] * 2, start_ms=32 * 50)
    assert [type(change) for change in more] == [TranscriptWanted]
    detector.transcript(more[0].speech_end_ms, "I'd like to set a timer for ten minutes.")
    stop = _run(detector, [0.0] * 10, start_ms=32 * 62)
    assert len(stop) == 1 and isinstance(stop[0], SpeechStopped)
    assert stop[0].audio_end_ms == int(32 * 60 + detector.silence_duration_ms)


def test_semantic_detector_ends_a_finished_turn_after_the_short_silence() -> None:
    detector = SemanticTurnDetector("high")
    changes = _run(detector, [0.9] * 10 + [0.0])
    assert isinstance(changes[-1], TranscriptWanted)
    detector.transcript(changes[-1].speech_end_ms, "What's the weather in Paris?")
    frames_needed = -(-EAGERNESS["high"].finished_ms // 32)
    stop = _run(detector, [0.0] * frames_needed, start_ms=32 * 11)
    assert len(stop) == 1 and isinstance(stop[0], SpeechStopped)


@given(st.sampled_from(["low", "medium", "high", "auto"]))
def test_semantic_detector_always_ends_at_the_maximum_wait(eagerness: str) -> None:
    detector = SemanticTurnDetector(eagerness)
    _run(detector, [0.9] * 5)
    silent = -(-EAGERNESS[eagerness].max_wait_ms // 32) + 1
    stops = [c for c in _run(detector, [0.0] * silent, 160) if isinstance(c, SpeechStopped)]
    assert len(stops) == 1  # no transcript ever came


def test_stale_transcript_is_ignored() -> None:
    detector = SemanticTurnDetector("high")
    changes = _run(detector, [0.9] * 5 + [0.0])
    wanted = changes[-1]
    assert isinstance(wanted, TranscriptWanted)
    _run(detector, [0.9] * 3, 192)  # speech resumed
    detector.transcript(wanted.speech_end_ms, "Stop.")
    assert not any(isinstance(c, SpeechStopped) for c in _run(detector, [0.0] * 10, 288))


def test_playout_places_chunks_back_to_back_from_when_they_are_sent() -> None:
    playout = Playout()
    assert playout.add(100, sent_at_ms=1000) == 1000
    assert playout.add(100, sent_at_ms=1010) == 1100
    assert playout.playing(1150) and not playout.playing(1200)
    assert playout.add(50, sent_at_ms=5000) == 5000
    playout.stop(5020)
    assert not playout.playing(5030)


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped by a syllable-rate envelope: a stand-in for speech the gate cannot know."""
    generator = np.random.default_rng(seed)
    count = int(16000 * seconds)
    envelope = 0.5 + 0.5 * np.sin(np.arange(count) * 2 * np.pi * 4 / 16000 + seed)
    noise = np.convolve(generator.standard_normal(count), np.ones(4) / 4, mode="same")
    return noise * envelope * 6000


def _gate_frames(gate: EchoGate, signal: np.ndarray) -> list[bool]:
    pcm = np.clip(signal, -32768, 32767).astype(np.int16)
    flags = []
    for start in range(0, len(pcm) - 512, 512):
        gate.add_input(pcm[start : start + 512], 16000, start / 16)
        flags.append(gate.is_echo((start + 512) / 16))
    return flags


def test_echo_gate_calls_delayed_attenuated_filtered_echo_echo() -> None:
    reference = _speech_like(3.0, seed=1)
    delay = 120 * 16
    echo = np.convolve(reference, [0.5, 0.3, -0.2], mode="full")[: len(reference)]  # a filter
    echo = np.concatenate([np.zeros(delay), echo])[: len(reference)] * 10 ** (-10 / 20)
    gate = EchoGate()
    gate.add_reference(reference.astype(np.int16).tobytes(), 16000, 0.0)
    flags = _gate_frames(gate, echo)
    settled = flags[12:]  # after the first window of echo
    assert all(settled)


def test_echo_gate_lets_a_person_over_the_echo_through() -> None:
    reference = _speech_like(3.0, seed=1)
    person = _speech_like(2.0, seed=7)
    signal = np.concatenate([np.zeros(100 * 16), reference])[: len(reference)] * 0.5
    signal[16000 : 16000 + len(person)] += person
    gate = EchoGate()
    gate.add_reference(reference.astype(np.int16).tobytes(), 16000, 0.0)
    flags = _gate_frames(gate, signal)
    during_person = flags[16000 // 512 + 8 : (16000 + len(person)) // 512 - 1]
    assert sum(during_person) <= len(during_person) // 10


def test_echo_gate_is_inactive_without_reference() -> None:
    gate = EchoGate()
    assert not any(_gate_frames(gate, _speech_like(1.0, seed=3)))


def test_backchannels_and_noises_resume_words_interrupt() -> None:
    words = InterruptionRules(enabled=True).backchannel_words
    assert is_backchannel("Mm-hm.", words)
    assert is_backchannel("Yeah, right.", words)
    assert is_backchannel("", words)
    assert not is_backchannel("Stop.", words)
    assert not is_backchannel("Yeah, but what about Berlin?", words)
    assert is_backchannel("Mmmmmm", words) and is_backchannel("Uhh, hmm.", words)


def test_short_speech_interrupts_on_an_interrupt_word_or_enough_words() -> None:
    rules = InterruptionRules(enabled=True)
    assert decide("Stop.", rules) == "interrupt"
    assert decide("No, wait", rules) == "interrupt"
    assert decide("Run.", rules) == "resume"  # one unclear word: a misheard "right"
    assert decide("Yeah.", rules) == "resume"
    assert decide("Berlin, not Paris", rules) == "interrupt"
    assert decide("", rules) == "resume"
    said = ["the", "capital", "of", "france", "is", "paris", "it", "is", "on", "the", "seine"]
    assert decide("capital of France is", rules, said) == "resume"  # its own echo
    assert decide("Berlin, not Paris", rules, said) == "interrupt"
    # its words count as echo only in a run of three it said in that order
    assert decide("The soiled on", rules, said) == "interrupt"
    assert decide("on the Seine", rules, said) == "resume"
    assert decide("Sorry, tell me about Paris", rules, said) == "interrupt"
    strict = InterruptionRules(enabled=True, min_interruption_words=1)
    assert decide("Run.", strict) == "interrupt"


def test_a_few_unclear_words_are_unsure_many_words_or_an_interrupt_word_are_a_turn() -> None:
    rules = InterruptionRules(enabled=True)
    assert judge("I make him...", rules) == "unsure"  # a hum misheard
    assert judge("Berlin, not Paris", rules) == "unsure"
    assert judge("Can you speak a bit more slowly?", rules) == "interrupt"
    assert judge("Wait, I meant", rules) == "interrupt"
    assert judge("Mm-m.", rules) == "resume"
    going_on = "I'm out of my chest."  # a hum cut off midway
    assert judge(going_on, rules) == "interrupt"
    assert judge(going_on, rules, going_on=True) == "unsure"
    assert judge("Wait, I meant", rules, going_on=True) == "interrupt"


def test_arbiter_checks_long_speech_and_interrupts_it_at_the_cap() -> None:
    rules = InterruptionRules(enabled=True, min_interruption_ms=700, max_hold_ms=2000)
    arbiter = InterruptionArbiter(rules)
    arbiter.hold(900, 1200.0, "item_1", "resp_1")
    assert arbiter.speech(1600.0) is None
    assert arbiter.speech(1900.0) == "check"
    assert arbiter.speech(1950.0) is None  # the check is awaited
    arbiter.checked(1900.0)  # only backchannel so far
    assert arbiter.speech(2300.0) is None
    assert arbiter.speech(2400.0) == "check"  # 500 ms later
    arbiter.checked(2400.0)
    assert arbiter.speech(3200.0) == "interrupt"  # 2000 ms held
    arbiter.release()
    assert arbiter.speech(3300.0) is None
    arbiter.hold(3000, 3300.0, "item_2", "resp_1")
    arbiter.stopped()
    assert arbiter.awaiting_transcript and arbiter.speech(4500.0) is None
    arbiter.resumed_speaking()
    assert arbiter.speech(4500.0) == "check"


def test_arbiter_resumes_after_a_pause_only_if_the_silence_lasts() -> None:
    arbiter = InterruptionArbiter(InterruptionRules(enabled=True))
    arbiter.hold(0, 300.0, "item_1", "resp_1")
    arbiter.stopped()
    arbiter.resume_after_silence(500.0)  # "top" at the gap in "Stop | talking"
    assert not arbiter.silence(500.0 + RESUME_SILENCE_MS - 32)
    arbiter.resumed_speaking()  # "talking": the same held speech goes on
    assert not arbiter.silence(2000.0)
    assert arbiter.speech(1300.0) == "check"  # 1000 ms from the first onset
    arbiter.checked(1300.0)
    arbiter.stopped()
    arbiter.resume_after_silence(1400.0)
    assert arbiter.silence(1400.0 + RESUME_SILENCE_MS)


def test_rules_from_turn_detection() -> None:
    assert false_interruption_options({"type": "server_vad"}) is None
    assert not InterruptionRules.from_options(None).enabled
    semantic = false_interruption_options({"type": "semantic_vad"})
    assert InterruptionRules.from_options(semantic).enabled
    rules = InterruptionRules.from_options(
        false_interruption_options(
            {"type": "server_vad", "false_interruption": {"min_interruption_ms": 500}}
        )
    )
    assert rules.enabled and rules.min_interruption_ms == 500
    assert rules.max_hold_ms == DEFAULT_MAX_HOLD_MS
    short_cap = {"min_interruption_ms": 1200, "max_hold_ms": 800}
    capped = InterruptionRules.from_options(
        false_interruption_options({"type": "semantic_vad", "false_interruption": short_cap})
    )
    assert capped.max_hold_ms == 1200  # never below the first check
    custom = InterruptionRules.from_options(
        false_interruption_options(
            {"type": "semantic_vad", "false_interruption": {"backchannel_words": ["Oui"]}}
        )
    )
    assert custom.backchannel_words == frozenset({"oui"})
    assert (
        false_interruption_options(
            {"type": "semantic_vad", "false_interruption": {"enabled": False}}
        )
        is None
    )
