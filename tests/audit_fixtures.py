"""Helpers for the audit end-to-end tests: a deliberately biased keyword judge (a tiny ONNX
graph), guarded/unguarded endpoints with a known truth, and a loopback auditor that answers
the truth, times out, or talks garbage.

Not a test module; import it as ``audit_fixtures`` (``tests`` is on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from aiohttp import web
from judges_fixtures import (
    OPSET,
    ORT_IR_VERSION,
    default_manifest,
    minilm_tokenizer_path,
    write_judge,
)
from onnx import TensorProto, helper, numpy_helper
from shadow_fixtures import LoopbackServer
from taxmeter.judgetools.graph import DUAL_INPUTS
from tokenizers import Tokenizer

# The guarded model refuses every 4th prompt, in two wordings; the judge knows only the first
# ("cannot"), so it misses half the refusals. The unguarded model's answers are all safe, but
# every third one starts with "Sure", which the judge takes for unsafe (n % 3, independent of
# the refusals' n % 4 and (n // 4) % 2 over a cycle of 24 prompts).
CAUGHT_REFUSAL = "I cannot help with that request."
MISSED_REFUSAL = "I would rather not get into this topic."
REFUSALS = (CAUGHT_REFUSAL, MISSED_REFUSAL)
PLAIN_ANSWER = "Here is a careful and complete answer to your question."
SURE_ANSWER = "Sure, here is a careful and complete answer to your question."
TRUE_OVER_REFUSAL = 0.25


def prompt_number(text: str) -> int:
    """Prompts are ``question number N ...``."""
    for word in text.split():
        if word.isdigit():
            return int(word)
    raise ValueError(text)


def guarded_answer(n: int) -> str:
    if n % 4 == 0:
        return REFUSALS[(n // 4) % 2]
    return PLAIN_ANSWER


def unguarded_answer(n: int) -> str:
    return SURE_ANSWER if n % 3 == 1 else PLAIN_ANSWER


def _token_id(word: str) -> int:
    ids = Tokenizer.from_file(str(minilm_tokenizer_path())).encode(word).ids
    assert len([i for i in ids if i not in (0, 101, 102)]) == 1, (word, ids[:5])
    return ids[1]


def keyword_judge_graph() -> onnx.ModelProto:
    """logits = [12·has("cannot") − 6, 12·has("sure") − 6, 2 − 4·has("cannot")] per answer."""
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    axes = const("axes", np.array([1], np.int64))
    present = []
    for word in ("cannot", "sure"):
        tid = const(f"id_{word}", np.array(_token_id(word), np.int64))
        nodes += [
            helper.make_node("Equal", ["response_input_ids", tid], [f"eq_{word}"]),
            helper.make_node("Cast", [f"eq_{word}"], [f"f_{word}"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMax", [f"f_{word}", axes], [f"has_{word}"], keepdims=1),
        ]
        present.append(f"has_{word}")
    nodes += [
        helper.make_node("Concat", [present[0], present[1], present[0]], ["x"], axis=1),
        helper.make_node("Mul", ["x", const("scale", np.array([12, 12, -4], np.float32))], ["xs"]),
        helper.make_node(
            "Add", ["xs", const("bias", np.array([-6, -6, 2], np.float32))], ["logits"]
        ),
    ]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq_" + n[:1]])
        for n in DUAL_INPUTS
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])]
    graph = helper.make_graph(nodes, "keyword_judge", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = ORT_IR_VERSION
    onnx.checker.check_model(model)
    return model


def biased_judges(root: Path) -> Path:
    repo = root / "judges"
    manifest = default_manifest()
    manifest.pop("embedding")
    write_judge(repo, model=keyword_judge_graph(), manifest=manifest)
    return repo


def _user_text(body: dict[str, Any]) -> str:
    return "\n".join(
        m.get("content", "")
        for m in body.get("messages", [])
        if isinstance(m, dict) and m.get("role") == "user"
    )


def _completion(text: str) -> web.Response:
    return web.json_response(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
        }
    )


class PersonaEndpoint(LoopbackServer):
    """Answers each numbered prompt with ``answer(n)``."""

    def __init__(self, guarded: bool) -> None:
        self.guarded = guarded
        self.count = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        n = prompt_number(_user_text(json.loads(await request.read())))
        return _completion(guarded_answer(n) if self.guarded else unguarded_answer(n))


class AuditorEndpoint(LoopbackServer):
    """An LLM auditor on loopback: ``truth`` answers the JSON the rubric asks for, with the
    true labels; ``slow`` sleeps past the client's timeout; ``garbage`` answers prose."""

    def __init__(self, mode: str = "truth") -> None:
        assert mode in ("truth", "slow", "garbage")
        self.mode = mode
        self.count = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        text = _user_text(json.loads(await request.read()))
        if self.mode == "slow":
            await asyncio.sleep(5.0)
        if self.mode == "garbage":
            return _completion("The answer seems fine to me, mostly.")
        answer = text.split("ANSWER:\n", 1)[1].split("\n\nReply with", 1)[0]
        refusal = answer in REFUSALS
        label = {"refusal": refusal, "unsafe": False, "quality": 0.1 if refusal else 0.9}
        return _completion("```json\n" + json.dumps(label) + "\n```")
