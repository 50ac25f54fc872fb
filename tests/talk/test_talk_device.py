"""The sound card port on a real PortAudio, with ALSA's null device standing in for a sound card.

ALSA reads `~/.asoundrc`, so a subprocess with HOME pointing at a folder whose `.asoundrc` makes
the null plugin the default device gets a microphone (silence) and a speaker (discards) without
hardware; the null device runs as fast as it is fed rather than at 24 kHz. Skipped where
PortAudio is not installed (Debian: libportaudio2) or is not ALSA's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from realtime_agents.talk import command

SOURCE = str(Path(command.__file__).resolve().parents[2])
NULL_DEVICE = "pcm.!default {\n    type null\n}\n"

PROBE = textwrap.dedent(
    """
    import asyncio, json
    from realtime_agents.talk.devices import DeviceAudioPort
    from realtime_agents.talk.playback import Playback

    async def main():
        playback = Playback()
        playback.append("item_1", 0, bytes(range(256)) * 93 + bytes(24000 - 256 * 93))
        port = DeviceAudioPort(playback)
        blocks = []
        async for block in port.blocks():
            blocks.append(block)
            if len(blocks) == 50:
                break
        await port.close()
        print(json.dumps({
            "description": port.description,
            "captured": sorted({len(block.captured) for block in blocks}),
            "played_bytes": sum(block.played.audible_bytes for block in blocks),
            "items": sorted({s.item_id for block in blocks for s in block.played.segments}),
            "first_played": [b.played.pcm[:4].hex() for b in blocks if b.played.segments][:1],
            "queued_after": playback.queued_bytes,
            "dropped": port.dropped_blocks,
        }))

    asyncio.run(main())
    """
)


def run_with_null_device(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / ".asoundrc").write_text(NULL_DEVICE)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": SOURCE}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
        check=False,
    )  # fmt: skip


def test_the_device_port_plays_the_queue_and_delivers_microphone_blocks(tmp_path: Path) -> None:
    if importlib.util.find_spec("sounddevice") is None:
        pytest.skip("the [talk] extra (sounddevice) is not installed")
    probe = run_with_null_device(
        tmp_path, "import sounddevice as s; s.query_devices(kind='input'); print('ok')"
    )
    if probe.returncode != 0 or "ok" not in probe.stdout:
        pytest.skip(f"no PortAudio with ALSA here: {probe.stderr.strip().splitlines()[-1:]}")
    done = run_with_null_device(tmp_path, PROBE)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["description"] == "microphone 'default', speaker 'default'"
    assert report["captured"] == [960]  # 20 ms of 24 kHz PCM16 per block
    assert report["queued_after"] == 0  # the speaker took the whole queue
    # ALSA's null device is not paced: under load, blocks can pile up past the port's bound and
    # the oldest are dropped (and counted); otherwise every played byte arrives, in order.
    if report["dropped"] == 0:
        assert report["played_bytes"] == 24_000
        assert report["items"] == ["item_1"]
        assert report["first_played"] == ["00010203"]
    else:  # the dropped blocks may be ones that played only silence after the queue ran dry
        assert report["played_bytes"] <= 24_000
        assert report["items"] in ([], ["item_1"])
