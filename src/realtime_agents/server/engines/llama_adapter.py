"""The one place that touches llama-cpp-python's internals (private members of `Llama`, its
context and model wrappers, and the raw C bindings).

The LLM engine (`llama.py`, `llama_cache.py`) keeps prompt prefixes in the KV cache, snapshots
and restores a sequence's cache, reads the next token's logits and switches thread counts: the
high-level `Llama` API offers none of that, so this module reaches into `Llama._ctx`,
`Llama._model`, `Llama.n_tokens` / `input_ids` / `_requires_eval` and a few C functions. Every
such touch is a function here; `check_internals` verifies on a loaded model that each member is
still there, and names the installed version and the supported range when one is gone.
`SUPPORTED_RANGE` must match the pin in `pyproject.toml` (a test compares them).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
from dataclasses import dataclass
from typing import Any, Final

from realtime_agents.errors import RealtimeAgentsError

SUPPORTED_RANGE: Final = ">=0.3.36,<0.3.37"
"""The llama-cpp-python versions whose internals this module was tested against."""

_LLAMA_MEMBERS: Final = (
    "_ctx",
    "_model",
    "_batch",
    "n_batch",
    "n_tokens",
    "input_ids",
    "_requires_eval",
    "eval",
)
_CONTEXT_MEMBERS: Final = ("ctx", "kv_cache_seq_rm", "decode")
_BATCH_MEMBERS: Final = ("set_batch",)
_MODEL_MEMBERS: Final = ("token_get_text",)
_C_FUNCTIONS: Final = (
    "llama_state_seq_get_size",
    "llama_state_seq_get_data",
    "llama_state_seq_set_data",
    "llama_set_n_threads",
    "llama_n_threads",
    "llama_n_threads_batch",
    "llama_get_logits_ith",
)


class LlamaInternalsError(RealtimeAgentsError, RuntimeError):
    """The installed llama-cpp-python lacks an internal member the embedded LLM relies on."""


def installed_version() -> str:
    """The installed llama-cpp-python version ("not installed" without it)."""
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def missing_internals(model: Any) -> list[str]:
    """The internals this module uses that `model` (a loaded `llama_cpp.Llama`) lacks."""
    import llama_cpp

    missing = [f"Llama.{name}" for name in _LLAMA_MEMBERS if not hasattr(model, name)]
    context = getattr(model, "_ctx", None)
    if context is not None:
        missing += [f"Llama._ctx.{n}" for n in _CONTEXT_MEMBERS if not hasattr(context, n)]
    batch = getattr(model, "_batch", None)
    if batch is not None:
        missing += [f"Llama._batch.{n}" for n in _BATCH_MEMBERS if not hasattr(batch, n)]
    wrapped = getattr(model, "_model", None)
    if wrapped is not None:
        missing += [f"Llama._model.{n}" for n in _MODEL_MEMBERS if not hasattr(wrapped, n)]
    missing += [f"llama_cpp.{name}" for name in _C_FUNCTIONS if not hasattr(llama_cpp, name)]
    if hasattr(model, "n_tokens") and not isinstance(model.n_tokens, int):
        missing.append("Llama.n_tokens as an int")
    if hasattr(model, "_requires_eval") and not isinstance(model._requires_eval, bool):
        missing.append("Llama._requires_eval as a bool")
    return missing


def check_internals(model: Any) -> None:
    """Raise `LlamaInternalsError` (naming the versions) when `model` lacks a member we use."""
    missing = missing_internals(model)
    if missing:
        raise LlamaInternalsError(
            f"llama-cpp-python {installed_version()} changed internals the embedded LLM relies "
            f"on (missing: {', '.join(missing)}); supported versions: llama-cpp-python"
            f"{SUPPORTED_RANGE}. Install a supported version, or use an http llm in the "
            "engine config."
        )


# ------------------------------------------------------------------ tokens and the cache


def token_text(model: Any, token: int) -> str:
    """The text of a special token such as EOS ("" for the -1 "no such token")."""
    return str(model._model.token_get_text(token)) if token != -1 else ""


def cached_tokens(model: Any) -> list[int]:
    """The tokens whose keys and values the model's KV cache holds, in order."""
    return [int(token) for token in model.input_ids[: model.n_tokens].tolist()]


def evaluate_after(model: Any, position: int, tokens: list[int]) -> None:
    """Evaluate `tokens` at `position`, dropping whatever the cache held from there on."""
    model.n_tokens = position  # `eval` drops the cache after this position first
    model.eval(tokens)


def keep_only(model: Any, position: int) -> None:
    """Drop the KV cache of sequence 0 from `position` on (the model's lock held)."""
    model._ctx.kv_cache_seq_rm(0, position, -1)
    model.n_tokens = position


def next_token_logits(model: Any) -> Any:
    """The logits of the token after the last one evaluated (a float32 numpy view)."""
    import llama_cpp
    import numpy as np

    return np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(model._ctx.ctx, -1), shape=(model.n_vocab(),)
    )


def evaluate_scoring(model: Any, position: int, tokens: list[int]) -> Any:
    """Evaluate `tokens` at `position` like `evaluate_after`, keeping the logits after each of
    them: a (len(tokens), n_vocab) float32 array, row i scoring the token after tokens[i]."""
    import llama_cpp
    import numpy as np

    model._ctx.kv_cache_seq_rm(-1, position, -1)
    model.n_tokens = position
    n_vocab = model.n_vocab()
    rows = []
    for start in range(0, len(tokens), model.n_batch):
        batch = tokens[start : start + model.n_batch]
        model._batch.set_batch(batch=batch, n_past=model.n_tokens, logits_all=True)
        model._ctx.decode(model._batch)
        model.input_ids[model.n_tokens : model.n_tokens + len(batch)] = batch
        model.n_tokens += len(batch)
        for index in range(len(batch)):
            row = llama_cpp.llama_get_logits_ith(model._ctx.ctx, index)
            rows.append(np.ctypeslib.as_array(row, shape=(n_vocab,)).copy())
    return np.stack(rows) if rows else np.zeros((0, n_vocab), dtype=np.float32)


# ------------------------------------------------------------------ KV snapshots


@dataclass(frozen=True, slots=True)
class SequenceState:
    """A copy of sequence 0's KV cache and the tokens it holds."""

    data: Any
    size: int
    tokens: tuple[int, ...]


def save_sequence(model: Any) -> SequenceState:
    """Copy sequence 0's KV cache (the model's lock held)."""
    import llama_cpp

    ctx = model._ctx.ctx
    size = llama_cpp.llama_state_seq_get_size(ctx, 0)
    data = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(ctx, data, size, 0)
    return SequenceState(data=data, size=int(written), tokens=tuple(cached_tokens(model)))


def restore_sequence(model: Any, state: SequenceState) -> bool:
    """Put a saved cache back as sequence 0 (the model's lock held); False on failure."""
    import llama_cpp

    keep_only(model, 0)
    if llama_cpp.llama_state_seq_set_data(model._ctx.ctx, state.data, state.size, 0) == 0:
        return False
    model.input_ids[: len(state.tokens)] = state.tokens
    model.n_tokens = len(state.tokens)
    model._requires_eval = True  # the logits are not those of the restored last token
    return True


# ------------------------------------------------------------------ threads


def set_threads(model: Any, decode: int, batch: int) -> None:
    """Use `decode` threads to generate and `batch` threads to evaluate prompts."""
    import llama_cpp

    llama_cpp.llama_set_n_threads(model._ctx.ctx, decode, batch)


def thread_counts(model: Any) -> tuple[int, int]:
    """The (decode, batch) thread counts the model's context uses now."""
    import llama_cpp

    ctx = model._ctx.ctx
    return int(llama_cpp.llama_n_threads(ctx)), int(llama_cpp.llama_n_threads_batch(ctx))
