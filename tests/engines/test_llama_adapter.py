"""The llama-cpp-python internals the LLM engine relies on are all in `llama_adapter`, and still
there in the installed version: this file fails, naming the versions, when an upgrade changes
them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from realtime_agents.server.engines import llama_adapter
from realtime_agents.server.engines.base import EngineSet

ENGINES = Path(llama_adapter.__file__).parent
PYPROJECT = ENGINES.parents[3] / "pyproject.toml"


def _router(embedded: EngineSet) -> Any:
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    assert isinstance(embedded.llm, LlamaLanguageModel)
    return embedded.llm._router


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_the_installed_version_has_every_internal_we_use(embedded: EngineSet) -> None:
    version = llama_adapter.installed_version()
    missing = llama_adapter.missing_internals(_router(embedded))
    assert not missing, (
        f"llama-cpp-python {version} lacks {missing}; llama_adapter.py was written for "
        f"llama-cpp-python{llama_adapter.SUPPORTED_RANGE}: adapt it, then widen the range"
    )
    low, high = re.findall(r"[\d.]+", llama_adapter.SUPPORTED_RANGE)
    assert _version(low) <= _version(version) < _version(high), (
        f"llama-cpp-python {version} is installed but only {llama_adapter.SUPPORTED_RANGE} is "
        "tested: run tests/engines with it and widen SUPPORTED_RANGE and pyproject.toml"
    )


def test_the_pin_in_pyproject_is_the_tested_range() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    pins = [
        requirement
        for extra in project["optional-dependencies"].values()
        for requirement in extra
        if requirement.startswith("llama-cpp-python")
    ]
    assert pins and all(
        pin == "llama-cpp-python" + llama_adapter.SUPPORTED_RANGE for pin in pins
    ), pins


def test_a_changed_library_fails_loudly_with_the_versions_named() -> None:
    pytest.importorskip("llama_cpp")
    changed = SimpleNamespace(n_tokens=0, input_ids=[], eval=print, _ctx=SimpleNamespace())
    with pytest.raises(llama_adapter.LlamaInternalsError) as caught:
        llama_adapter.check_internals(changed)
    message = str(caught.value)
    assert llama_adapter.installed_version() in message
    assert llama_adapter.SUPPORTED_RANGE in message
    for member in ("Llama._model", "Llama._requires_eval", "Llama._ctx.kv_cache_seq_rm"):
        assert member in message


def test_no_other_module_touches_llama_cpp_internals() -> None:
    private = re.compile(
        r"\._ctx\b|\._model\.|\.input_ids\b|\.n_tokens\b|_requires_eval|llama_cpp\.llama_\w+\("
    )
    llama_modules = [p for p in ENGINES.glob("*.py") if "llama_cpp" in p.read_text()]
    assert {"llama.py", "llama_cache.py"} <= {path.name for path in llama_modules}
    offenders = [
        path.name
        for path in llama_modules
        if path.name != "llama_adapter.py" and private.search(path.read_text())
    ]
    assert offenders == []


def test_a_saved_sequence_restores_the_same_next_token(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    model = llm._router
    first = model.tokenize(b"The capital of France is", add_bos=False, special=True)
    other = model.tokenize(b"My favourite colour is", add_bos=False, special=True)
    with llm._router_lock:
        llama_adapter.evaluate_after(model, 0, first)
        expected = int(llama_adapter.next_token_logits(model).argmax())
        state = llama_adapter.save_sequence(model)
        assert list(state.tokens) == first == llama_adapter.cached_tokens(model)
        llama_adapter.evaluate_after(model, 0, other)
        assert llama_adapter.cached_tokens(model) == other
        assert llama_adapter.restore_sequence(model, state)
        assert llama_adapter.cached_tokens(model) == first
        llama_adapter.keep_only(model, len(first) - 1)  # re-evaluate the last token only
        llama_adapter.evaluate_after(model, len(first) - 1, first[-1:])
        assert int(llama_adapter.next_token_logits(model).argmax()) == expected
        assert llama_adapter.token_text(model, model.token_eos())
        assert llama_adapter.token_text(model, -1) == ""
        llama_adapter.set_threads(model, 1, 2)
        assert llama_adapter.thread_counts(model) == (1, 2)
        llama_adapter.set_threads(model, 1, 1)


def test_scoring_evaluation_keeps_the_logits_after_every_token(embedded: EngineSet) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    llm = embedded.llm
    assert isinstance(llm, LlamaLanguageModel)
    model = llm._router
    tokens = model.tokenize(b"The capital of France is Paris", add_bos=False, special=True)
    with llm._router_lock:
        rows = llama_adapter.evaluate_scoring(model, 0, tokens)
        assert rows.shape == (len(tokens), model.n_vocab())
        assert llama_adapter.cached_tokens(model) == tokens
        for end in (3, len(tokens)):  # the same logits as evaluating up to that token
            llama_adapter.evaluate_after(model, 0, tokens[:end])
            expected = llama_adapter.next_token_logits(model)
            assert int(rows[end - 1].argmax()) == int(expected.argmax())
            assert abs(float(rows[end - 1].max()) - float(expected.max())) < 1e-2
