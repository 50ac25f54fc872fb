// AudioWorklet processors of the voice page (no imports: this file runs as is).
//
// "capture": microphone samples at the context's rate -> PCM16 mono at 24 kHz, posted to the
//   page in 20 ms chunks with the chunk's RMS level.
// "playback": a ring buffer of 24 kHz assistant audio, played at the context's rate. It counts
//   exactly how many samples of each assistant item went to the output, and on "flush" empties
//   the buffer at once and reports those counts (the page truncates the item to them).

const WIRE_RATE = 24000;
const CHUNK_SAMPLES = 480; // 20 ms at 24 kHz

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / WIRE_RATE; // input samples per output sample
    this.position = 0; // fractional input index of the next output sample, relative to `previous`
    this.previous = 0; // the last input sample of the previous block
    this.chunk = new Int16Array(CHUNK_SAMPLES);
    this.filled = 0;
    this.sumSquares = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0 || input[0].length === 0) return true;
    const channel = input[0];
    // Linear interpolation between `previous` (index 0) and channel[i] (index i + 1); a two-tap
    // average first when downsampling, so 48 kHz -> 24 kHz does not fold noise into speech.
    const smooth = this.step >= 1.5;
    let position = this.position;
    const length = channel.length;
    while (position < length) {
      const index = Math.floor(position);
      const fraction = position - index;
      const a = index === 0 ? this.previous : channel[index - 1];
      const b = channel[index];
      let value = a + (b - a) * fraction;
      if (smooth) value = 0.5 * (value + (index === 0 ? this.previous : channel[index - 1]));
      this.push(value);
      position += this.step;
    }
    this.position = position - length;
    this.previous = channel[length - 1];
    return true;
  }

  push(value) {
    const clipped = value > 1 ? 1 : value < -1 ? -1 : value;
    this.chunk[this.filled++] = clipped < 0 ? clipped * 32768 : clipped * 32767;
    this.sumSquares += clipped * clipped;
    if (this.filled === CHUNK_SAMPLES) {
      const level = Math.sqrt(this.sumSquares / CHUNK_SAMPLES);
      this.port.postMessage({ type: "chunk", pcm: this.chunk.buffer, level }, [this.chunk.buffer]);
      this.chunk = new Int16Array(CHUNK_SAMPLES);
      this.filled = 0;
      this.sumSquares = 0;
    }
  }
}

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const seconds = (options.processorOptions && options.processorOptions.seconds) || 120;
    this.ring = new Float32Array(WIRE_RATE * seconds);
    this.read = 0; // ring index of the next sample to play
    this.buffered = 0; // samples in the ring
    this.position = 0; // fractional position between ring[read - 1] and ring[read]
    this.previous = 0;
    this.step = WIRE_RATE / sampleRate; // ring samples per output sample
    this.segments = []; // [{itemId, remaining}] in ring order
    this.played = new Map(); // itemId -> samples played
    this.totalPlayed = 0;
    this.dropped = 0;
    this.peak = 0;
    this.sinceReport = 0;
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(message) {
    if (message.type === "audio") {
      const pcm = new Int16Array(message.pcm);
      let count = pcm.length;
      const room = this.ring.length - this.buffered;
      if (count > room) {
        this.dropped += count - room;
        count = room;
      }
      let write = (this.read + this.buffered) % this.ring.length;
      for (let i = 0; i < count; i++) {
        this.ring[write] = pcm[i] / 32768;
        write = write + 1 === this.ring.length ? 0 : write + 1;
      }
      this.buffered += count;
      const last = this.segments[this.segments.length - 1];
      if (last && last.itemId === message.itemId) last.remaining += count;
      else if (count > 0) this.segments.push({ itemId: message.itemId, remaining: count });
    } else if (message.type === "flush") {
      const playing = this.segments.length ? this.segments[0].itemId : null;
      this.read = (this.read + this.buffered) % this.ring.length;
      this.buffered = 0;
      this.segments = [];
      this.position = 0;
      this.previous = 0;
      this.port.postMessage({
        type: "flushed",
        requestId: message.requestId,
        playing,
        played: Object.fromEntries(this.played),
        totalPlayed: this.totalPlayed,
      });
    } else if (message.type === "forget") {
      this.played.delete(message.itemId);
    }
  }

  process(inputs, outputs) {
    const output = outputs[0];
    const channel = output[0];
    const frames = channel.length;
    let position = this.position;
    let framePeak = 0;
    for (let i = 0; i < frames; i++) {
      let value = 0;
      if (this.buffered > 0) {
        const a = this.previous;
        const b = this.ring[this.read];
        value = a + (b - a) * position;
        position += this.step;
        while (position >= 1 && this.buffered > 0) {
          position -= 1;
          this.previous = this.ring[this.read];
          this.read = this.read + 1 === this.ring.length ? 0 : this.read + 1;
          this.buffered -= 1;
          this.consumeOne();
        }
        if (this.buffered === 0) {
          position = 0;
        }
      } else {
        this.previous = 0;
      }
      channel[i] = value;
      const magnitude = value < 0 ? -value : value;
      if (magnitude > framePeak) framePeak = magnitude;
    }
    this.position = position;
    for (let c = 1; c < output.length; c++) output[c].set(channel);
    if (framePeak > this.peak) this.peak = framePeak;
    this.sinceReport += frames;
    if (this.sinceReport >= sampleRate / 20) {
      this.sinceReport = 0;
      this.report();
    }
    return true;
  }

  consumeOne() {
    const segment = this.segments[0];
    if (!segment) return;
    const played = (this.played.get(segment.itemId) || 0) + 1;
    this.played.set(segment.itemId, played);
    this.totalPlayed += 1;
    if (played === 1) this.port.postMessage({ type: "started", itemId: segment.itemId });
    segment.remaining -= 1;
    if (segment.remaining === 0) {
      this.segments.shift();
      this.port.postMessage({ type: "ended", itemId: segment.itemId, played });
    }
  }

  report() {
    const playing = this.segments.length ? this.segments[0].itemId : null;
    this.port.postMessage({
      type: "progress",
      playing,
      playingPlayed: playing ? this.played.get(playing) || 0 : 0,
      buffered: this.buffered,
      totalPlayed: this.totalPlayed,
      peak: this.peak,
      dropped: this.dropped,
    });
  }
}

registerProcessor("capture", CaptureProcessor);
registerProcessor("playback", PlaybackProcessor);
