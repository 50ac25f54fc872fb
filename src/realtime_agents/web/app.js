// The voice page: microphone -> `input_audio_buffer.append`, assistant audio -> speakers, over
// the OpenAI Realtime GA protocol (WebSocket). Plain browser JavaScript, no dependencies.
//
// URL parameters:
//   ?url=wss://host/v1/realtime?model=...   another OpenAI-compatible endpoint
//   ?client_secret=ek_...                   a short-lived client secret minted by a backend
//                                           (POST /v1/realtime/client_secrets); sent as the
//                                           `openai-insecure-api-key.` subprotocol
//   ?model=NAME                             the model of the default endpoint (default `local`)
//   ?autostart=1                            start without pressing the button
//
// Everything tests look at is on `window.realtimePage`.
import { VoiceAudio, WIRE_RATE } from "./audio.js";

const MAX_LOG_ENTRIES = 300;
const MAX_RECORDED = 500;
const TOOLS = [
  {
    type: "function",
    name: "get_weather",
    description: "Get the current weather for a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "The city name." } },
      required: ["city"],
    },
  },
  {
    type: "function",
    name: "get_time",
    description: "Get the current local time of the person speaking.",
    parameters: { type: "object", properties: {} },
  },
];
const TOOL_HANDLERS = {
  get_weather: (args) => ({ city: args.city || "", conditions: "sunny", temperature_c: 21 }),
  get_time: () => ({ time: new Date().toLocaleTimeString() }),
};

const params = new URLSearchParams(location.search);
const clientSecret = params.get("client_secret");
if (clientSecret) {
  // Keep the secret out of the address bar, history and bookmarks.
  params.delete("client_secret");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
}
const endpoint = params.get("url") || defaultEndpoint();

const page = {
  status: "idle",
  endpoint,
  usesClientSecret: Boolean(clientSecret),
  connections: [], // {url, protocols (the key redacted), opened, closedCode}
  sent: [], // every frame sent but audio appends, verbatim (bounded)
  receivedTypes: {},
  truncates: [], // {item_id, audio_end_ms, played_samples, received_samples}
  truncatedAcks: [],
  userTranscripts: [],
  assistantTranscripts: [],
  toolCalls: [], // {name, arguments, output}
  latencies: [], // ms, end of speech -> first audio heard
  errors: [],
  notices: [],
  playedByItem: {}, // itemId -> samples played (24 kHz)
  counters: {
    appendsSent: 0,
    appendBytes: 0,
    chunksDropped: 0,
    audioDeltas: 0,
    samplesReceived: 0,
    samplesPlayed: 0,
    outputPeak: 0,
    playbackDropped: 0,
    reconnects: 0,
  },
};
window.realtimePage = page;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"),
  start: $("start"),
  mute: $("mute"),
  level: $("level"),
  endpoint: $("endpoint"),
  instructions: $("instructions"),
  voice: $("voice"),
  apply: $("apply"),
  log: $("log"),
};
ui.endpoint.textContent = endpoint + (clientSecret ? " (client secret)" : "");

let audio = null; // a VoiceAudio while the person is talking
let socket = null;
let wanted = false; // the person wants to be connected
let attempt = 0;
let reconnectTimer = null;
let appliedVoice = null;
let pendingTurn = null; // {speechEnd} of the last user turn until its first audio is heard
const latencyFrom = new Map(); // assistant itemId -> speech end it answers, until first heard
const userEntries = new Map();
const assistantEntries = new Map();
const functionCalls = []; // function_call items of the current response

function defaultEndpoint() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const model = params.get("model") || "local";
  return `${scheme}//${location.host}/v1/realtime?model=${encodeURIComponent(model)}`;
}

function remember(list, value) {
  list.push(value);
  if (list.length > MAX_RECORDED) list.shift();
}

function rememberIn(map, key, value) {
  map.set(key, value);
  if (map.size > MAX_RECORDED) map.delete(map.keys().next().value);
}

// ------------------------------------------------------------------ the log on the page

function addEntry(kind, who, text) {
  const entry = document.createElement("div");
  entry.className = "entry " + kind;
  if (who) {
    const label = document.createElement("span");
    label.className = "who";
    label.textContent = who;
    entry.appendChild(label);
  }
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  entry.appendChild(body);
  ui.log.appendChild(entry);
  while (ui.log.childElementCount > MAX_LOG_ENTRIES) ui.log.firstElementChild.remove();
  entry.scrollIntoView({ block: "end" });
  return entry;
}

function setText(entry, text) {
  entry.querySelector(".text").textContent = text;
}

function appendText(entry, text) {
  entry.querySelector(".text").textContent += text;
}

function notice(text, kind = "notice") {
  remember(page.notices, text);
  addEntry(kind, null, text);
}

function setStatus(state, text) {
  page.status = state;
  ui.status.className = "status " + state;
  ui.status.textContent = text;
}

// ------------------------------------------------------------------ the connection

function send(event) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  const text = JSON.stringify(event);
  socket.send(text);
  if (event.type === "input_audio_buffer.append") {
    page.counters.appendsSent += 1;
    page.counters.appendBytes += event.audio.length;
  } else {
    remember(page.sent, text);
  }
  return true;
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  const protocols = ["realtime"];
  if (clientSecret) protocols.push("openai-insecure-api-key." + clientSecret);
  setStatus(attempt ? "reconnecting" : "connecting", attempt ? "reconnecting…" : "connecting…");
  const record = {
    url: endpoint,
    protocols: protocols.map((p) => (p.startsWith("openai-insecure-api-key.") ? "<key>" : p)),
    opened: false,
    closedCode: null,
  };
  remember(page.connections, record);
  let ws;
  try {
    ws = new WebSocket(endpoint, protocols);
  } catch (error) {
    setStatus("error", "bad endpoint");
    notice(`Cannot connect to ${endpoint}: ${error.message}`, "error");
    return;
  }
  socket = ws;
  ws.onopen = () => {
    if (socket !== ws) return;
    record.opened = true;
    if (attempt) {
      page.counters.reconnects += 1;
      notice("Reconnected (a new session: the server does not remember the earlier turns).");
    }
    attempt = 0;
    appliedVoice = null;
    setStatus("connected", "connected");
    ui.apply.disabled = false;
    send({ type: "session.update", session: sessionConfig(true) });
  };
  ws.onmessage = (message) => {
    if (socket !== ws) return;
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      notice("The server sent something that is not JSON.", "error");
      return;
    }
    handle(event);
  };
  ws.onclose = (closed) => {
    if (socket !== ws) return;
    socket = null;
    record.closedCode = closed.code;
    ui.apply.disabled = true;
    if (audio) audio.stopPlayback();
    pendingTurn = null;
    if (!wanted) {
      setStatus("idle", "disconnected");
      return;
    }
    if (closed.code === 3000 || closed.code === 4000) {
      // OpenAI's codes for a refused key or an invalid request: retrying will not help.
      setStatus("error", "refused");
      notice(`The server refused the session: ${closed.reason || closed.code}.`, "error");
      return;
    }
    const delay = Math.min(10000, 500 * 2 ** attempt);
    attempt += 1;
    const why = record.opened
      ? `Connection lost (code ${closed.code}).`
      : clientSecret
        ? "Could not connect (the client secret may have expired: get a new one)."
        : "Could not connect.";
    setStatus("reconnecting", `disconnected; retrying in ${(delay / 1000).toFixed(1)} s`);
    notice(`${why} Reconnecting in ${(delay / 1000).toFixed(1)} s…`);
    reconnectTimer = setTimeout(connect, delay);
  };
}

function sessionConfig(initial) {
  const session = { type: "realtime", instructions: ui.instructions.value };
  const voice = ui.voice.value;
  session.audio = { output: {} };
  if (voice !== appliedVoice) session.audio.output.voice = voice;
  if (initial) {
    session.output_modalities = ["audio"];
    session.audio.input = {
      format: { type: "audio/pcm", rate: WIRE_RATE },
      transcription: { model: "whisper-1" },
      turn_detection: {
        type: "server_vad",
        threshold: 0.5,
        prefix_padding_ms: 300,
        silence_duration_ms: 500,
        create_response: true,
        interrupt_response: true,
      },
    };
    session.audio.output.format = { type: "audio/pcm", rate: WIRE_RATE };
    session.tools = TOOLS;
    session.tool_choice = "auto";
  }
  return session;
}

// ------------------------------------------------------------------ server events

function handle(event) {
  page.receivedTypes[event.type] = (page.receivedTypes[event.type] || 0) + 1;
  switch (event.type) {
    case "session.created":
      if (audio && !audio.microphoneOn) {
        audio.startMicrophone().then((on) => {
          ui.mute.disabled = !on;
        });
      }
      break;
    case "session.updated": {
      const output = event.session && event.session.audio && event.session.audio.output;
      if (output && typeof output.voice === "string") appliedVoice = output.voice;
      break;
    }
    case "input_audio_buffer.speech_started":
      if (audio) audio.bargeIn();
      userEntry(event.item_id);
      break;
    case "input_audio_buffer.speech_stopped":
      pendingTurn = { speechEnd: (audio && audio.lastVoicedAt) || performance.now() };
      break;
    case "conversation.item.input_audio_transcription.delta": {
      const entry = userEntry(event.item_id);
      if (entry.dataset.partial !== "1") setText(entry, "");
      entry.dataset.partial = "1";
      appendText(entry, event.delta || "");
      break;
    }
    case "conversation.item.input_audio_transcription.completed":
      setText(userEntry(event.item_id), event.transcript || "(nothing heard)");
      remember(page.userTranscripts, event.transcript || "");
      break;
    case "conversation.item.input_audio_transcription.failed":
      setText(userEntry(event.item_id), "(transcription failed)");
      break;
    case "response.output_item.added":
      if (event.item && event.item.type === "message" && event.item.role === "assistant") {
        assistantEntry(event.item.id);
      }
      break;
    case "response.output_audio_transcript.delta":
    case "response.output_text.delta":
      appendText(assistantEntry(event.item_id), event.delta || "");
      break;
    case "response.output_audio_transcript.done":
      setText(assistantEntry(event.item_id), event.transcript || "");
      remember(page.assistantTranscripts, event.transcript || "");
      break;
    case "response.output_text.done":
      setText(assistantEntry(event.item_id), event.text || "");
      remember(page.assistantTranscripts, event.text || "");
      break;
    case "response.output_audio.delta":
      if (pendingTurn && !latencyFrom.has(event.item_id)) {
        rememberIn(latencyFrom, event.item_id, pendingTurn.speechEnd);
        pendingTurn = null;
      }
      if (audio) audio.play(event.item_id, event.delta);
      break;
    case "response.output_audio.done":
      if (audio) audio.audioDone(event.item_id);
      break;
    case "response.output_item.done":
      if (event.item && event.item.type === "function_call") functionCalls.push(event.item);
      break;
    case "response.done":
      responseDone(event.response || {});
      break;
    case "conversation.item.truncated":
      remember(page.truncatedAcks, { item_id: event.item_id, audio_end_ms: event.audio_end_ms });
      break;
    case "error": {
      const error = event.error || {};
      remember(page.errors, error);
      notice(`Error${error.code ? " (" + error.code + ")" : ""}: ${error.message}`, "error");
      break;
    }
    default:
      break;
  }
}

function userEntry(itemId) {
  let entry = userEntries.get(itemId);
  if (!entry) {
    entry = addEntry("user", "you", "…");
    rememberIn(userEntries, itemId, entry);
  }
  return entry;
}

function assistantEntry(itemId) {
  let entry = assistantEntries.get(itemId);
  if (!entry) {
    entry = addEntry("assistant", "assistant", "");
    rememberIn(assistantEntries, itemId, entry);
  }
  return entry;
}

function responseDone(response) {
  if (response.status === "cancelled") {
    for (const item of response.output || []) {
      const entry = assistantEntries.get(item.id);
      if (entry) entry.classList.add("interrupted");
    }
  }
  const calls = functionCalls.splice(0);
  if (!calls.length) return;
  for (const call of calls) {
    let args = {};
    let output;
    try {
      args = JSON.parse(call.arguments || "{}");
      const handler = TOOL_HANDLERS[call.name];
      output = handler ? handler(args) : { error: `unknown tool ${call.name}` };
    } catch (error) {
      output = { error: `bad arguments: ${error.message}` };
    }
    const outputText = JSON.stringify(output);
    remember(page.toolCalls, { name: call.name, arguments: call.arguments, output: outputText });
    addEntry("tool", "tool call", `${call.name}(${call.arguments}) → ${outputText}`);
    send({
      type: "conversation.item.create",
      item: { type: "function_call_output", call_id: call.call_id, output: outputText },
    });
  }
  if (response.status !== "cancelled") send({ type: "response.create" });
}

// ------------------------------------------------------------------ audio callbacks

const audioCallbacks = {
  onChunk(base64, level) {
    ui.level.style.width = `${Math.min(100, Math.round(Math.sqrt(level) * 180))}%`;
    if (!send({ type: "input_audio_buffer.append", audio: base64 })) {
      page.counters.chunksDropped += 1;
    }
  },
  onStarted(itemId) {
    // The first sample of an answer was played: the turn's latency, as the person heard it.
    const speechEnd = latencyFrom.get(itemId);
    if (speechEnd === undefined) return;
    latencyFrom.delete(itemId);
    const latency = Math.round(performance.now() - speechEnd);
    remember(page.latencies, latency);
    const entry = assistantEntries.get(itemId);
    if (entry) {
      const label = document.createElement("span");
      label.className = "latency";
      label.textContent = `${latency} ms from the end of your speech to the first audio`;
      entry.appendChild(label);
    }
  },
  onTruncate(truncate) {
    const entry = assistantEntries.get(truncate.item_id);
    if (entry) entry.classList.add("interrupted");
    remember(page.truncates, truncate);
    send({
      type: "conversation.item.truncate",
      item_id: truncate.item_id,
      content_index: 0,
      audio_end_ms: truncate.audio_end_ms,
    });
  },
  onProblem(text) {
    notice(text, "error");
  },
};

// ------------------------------------------------------------------ controls

async function start() {
  ui.start.disabled = true;
  const opened = new VoiceAudio(page.counters, page.playedByItem, audioCallbacks);
  try {
    await opened.open();
  } catch (error) {
    notice(`Audio is not available: ${error.message}`, "error");
    opened.close();
    ui.start.disabled = false;
    return;
  }
  audio = opened;
  page.sampleRate = audio.sampleRate;
  wanted = true;
  attempt = 0;
  connect();
  ui.start.textContent = "Hang up";
  ui.start.classList.remove("primary");
  ui.start.disabled = false;
}

function hangUp() {
  wanted = false;
  clearTimeout(reconnectTimer);
  if (socket) socket.close(1000, "hung up");
  socket = null;
  if (audio) audio.close();
  audio = null;
  pendingTurn = null;
  setStatus("idle", "not connected");
  ui.start.textContent = "Start talking";
  ui.start.classList.add("primary");
  ui.mute.disabled = true;
  ui.mute.setAttribute("aria-pressed", "false");
  ui.mute.textContent = "Mute";
  ui.apply.disabled = true;
}

ui.start.addEventListener("click", () => (audio ? hangUp() : start()));
ui.mute.addEventListener("click", () => {
  if (!audio) return;
  audio.muted = !audio.muted;
  const muted = audio.muted;
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.mute.textContent = muted ? "Unmute" : "Mute";
});
ui.apply.addEventListener("click", () => {
  if (send({ type: "session.update", session: sessionConfig(false) })) {
    notice("Session updated.");
  }
});

if (params.get("autostart") === "1") start();
