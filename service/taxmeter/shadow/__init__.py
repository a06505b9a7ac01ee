"""Shadowing: OpenAI-compatible endpoint clients for both arms and the dispatcher that sends
each sampled job to both at once.

    sampler ──try_enqueue──▶ ShadowDispatcher ──▶ guarded ModelEndpoint   ─┐
                             (bounded queue,  ──▶ unguarded ModelEndpoint ─┴▶ ShadowPair
                              worker pool)                                      │
                                                                     PairSink ◀─┘
"""

from __future__ import annotations

from taxmeter.shadow.config import EndpointConfig, ShadowConfig
from taxmeter.shadow.dispatcher import DispatcherStatistics, ShadowDispatcher
from taxmeter.shadow.endpoint import ModelEndpoint, OpenAIEndpoint, build_endpoints
from taxmeter.shadow.metrics import ShadowMetrics
from taxmeter.shadow.prompt import judge_prompt

__all__ = [
    "DispatcherStatistics",
    "EndpointConfig",
    "ModelEndpoint",
    "OpenAIEndpoint",
    "ShadowConfig",
    "ShadowDispatcher",
    "ShadowMetrics",
    "build_endpoints",
    "judge_prompt",
]
