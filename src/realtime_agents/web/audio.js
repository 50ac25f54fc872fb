// The page's audio: the microphone as 24 kHz PCM16 chunks, and assistant audio played through a
// worklet ring buffer that knows how much of each item was played (for exact truncation).

export const WIRE_RATE = 24000;
const VOICED_LEVEL = 0.02; // a chunk louder than this (RMS, of full scale) counts as speech
const MAX_ITEMS = 64; // assistant items whose played counts are kept

export function decodeBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function encodeBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export class VoiceAudio {
  // `counters` and `playedByItem` are the page's (tests read them); the callbacks are
  // onChunk(base64Pcm, level), onStarted(itemId), onTruncate({item_id, audio_end_ms,
  // played_samples, received_samples}), onProblem(text).
  constructor(counters, playedByItem, callbacks) {
    this.counters = counters;
    this.playedByItem = playedByItem;
    this.callbacks = callbacks;
    this.context = null;
    this.playback = null;
    this.micStream = null;
    this.items = new Map(); // itemId -> {received, done, interrupted, cutPending}
    this.flushRequests = 0;
    this.muted = false;
    this.lastVoicedAt = 0; // performance.now() of the last chunk with speech in it
  }

  get sampleRate() {
    return this.context ? this.context.sampleRate : null;
  }

  async open() {
    this.context = new AudioContext({ latencyHint: "interactive" });
    await this.context.audioWorklet.addModule("audio-worklet.js");
    this.playback = new AudioWorkletNode(this.context, "playback", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
    });
    this.playback.port.onmessage = (message) => this.onPlaybackMessage(message.data);
    this.playback.connect(this.context.destination);
    await this.context.resume();
  }

  get microphoneOn() {
    return this.micStream !== null;
  }

  async startMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.callbacks.onProblem(
        "This browser gives no microphone to this page: open it on http://127.0.0.1 or over https.",
      );
      return false;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (error) {
      this.callbacks.onProblem(`No microphone: ${error.message}`);
      return false;
    }
    if (!this.context) {
      stream.getTracks().forEach((track) => track.stop()); // hung up meanwhile
      return false;
    }
    this.micStream = stream;
    const source = this.context.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(this.context, "capture", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      channelCount: 1,
      channelCountMode: "explicit",
    });
    const sink = this.context.createGain();
    sink.gain.value = 0; // keeps the capture node pulled without playing the microphone
    source.connect(capture);
    capture.connect(sink);
    sink.connect(this.context.destination);
    capture.port.onmessage = (message) => this.onChunk(message.data);
    return true;
  }

  onChunk(chunk) {
    const level = this.muted ? 0 : chunk.level;
    if (level > VOICED_LEVEL) this.lastVoicedAt = performance.now();
    // Muted: silence goes out, so server VAD still ends a turn that was under way.
    const pcm = this.muted ? new ArrayBuffer(chunk.pcm.byteLength) : chunk.pcm;
    this.callbacks.onChunk(encodeBase64(pcm), level);
  }

  // Queue one `response.output_audio.delta` of an assistant item.
  play(itemId, base64) {
    if (!this.playback || !base64) return;
    let item = this.items.get(itemId);
    if (!item) {
      item = { received: 0, done: false, interrupted: false, cutPending: false };
      this.items.set(itemId, item);
      while (this.items.size > MAX_ITEMS) {
        const oldest = this.items.keys().next().value;
        this.items.delete(oldest);
        this.playback.port.postMessage({ type: "forget", itemId: oldest });
      }
    }
    if (item.interrupted) return; // the person already cut this item off
    const bytes = decodeBase64(base64);
    const samples = bytes.byteLength >> 1;
    item.received += samples;
    this.counters.audioDeltas += 1;
    this.counters.samplesReceived += samples;
    this.playback.port.postMessage({ type: "audio", itemId, pcm: bytes.buffer }, [bytes.buffer]);
  }

  audioDone(itemId) {
    const item = this.items.get(itemId);
    if (item) item.done = true;
  }

  // The person started speaking: anything not yet heard in full is cut off now; the truncation
  // follows once the playback worklet says exactly how much of each item went out.
  bargeIn() {
    let cut = false;
    for (const item of this.items.values()) {
      if (!item.interrupted && item.received > 0) {
        item.cutPending = true;
        cut = true;
      }
    }
    if (cut && this.playback) {
      this.flushRequests += 1;
      this.playback.port.postMessage({ type: "flush", requestId: this.flushRequests });
    }
  }

  // Drop everything queued (the session ended): nothing of it will be truncated.
  stopPlayback() {
    if (this.playback) this.playback.port.postMessage({ type: "flush", requestId: 0 });
    for (const item of this.items.values()) item.interrupted = true;
  }

  onPlaybackMessage(message) {
    if (message.type === "started") {
      this.callbacks.onStarted(message.itemId);
    } else if (message.type === "progress") {
      this.counters.samplesPlayed = message.totalPlayed;
      this.counters.outputPeak = message.peak;
      this.counters.playbackDropped = message.dropped;
      if (message.playing) this.playedByItem[message.playing] = message.playingPlayed;
    } else if (message.type === "ended") {
      this.playedByItem[message.itemId] = message.played;
    } else if (message.type === "flushed") {
      this.counters.samplesPlayed = message.totalPlayed;
      Object.assign(this.playedByItem, message.played);
      this.truncateInterrupted(message.played);
    }
  }

  truncateInterrupted(played) {
    for (const [itemId, item] of this.items) {
      if (!item.cutPending) continue;
      item.cutPending = false;
      const heard = played[itemId] || 0;
      if (item.done && heard >= item.received) continue; // heard in full: nothing to cut
      item.interrupted = true;
      this.callbacks.onTruncate({
        item_id: itemId,
        audio_end_ms: Math.floor((heard * 1000) / WIRE_RATE), // never more than was played
        played_samples: heard,
        received_samples: item.received,
      });
    }
  }

  close() {
    this.stopPlayback();
    if (this.micStream) this.micStream.getTracks().forEach((track) => track.stop());
    this.micStream = null;
    if (this.context) this.context.close();
    this.context = this.playback = null;
  }
}
