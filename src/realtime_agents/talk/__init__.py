"""`realtime-agents talk`: talk to an agent through the microphone and speakers (or WAV files).

The sound card (`sounddevice`) and the echo canceller (`livekit`'s WebRTC audio processing
module) come from the optional `[talk]` extra and are imported only when used.
"""

from __future__ import annotations

from .echo import EchoCanceller, MissingTalkExtraError, NoEchoCanceller, WebRtcEchoCanceller
from .files import EchoPath, FileAudioPort, InputCue
from .playback import Playback
from .session import Recording, TalkResult, TalkSession, converse
from .turns import TurnState

__all__ = [
    "EchoCanceller",
    "EchoPath",
    "FileAudioPort",
    "InputCue",
    "MissingTalkExtraError",
    "NoEchoCanceller",
    "Playback",
    "Recording",
    "TalkResult",
    "TalkSession",
    "TurnState",
    "WebRtcEchoCanceller",
    "converse",
]
