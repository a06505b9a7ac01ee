"""Which mirrored requests get shadowed: deterministic sampling, cost budgets, adaptive rate."""

from taxmeter.sampling.config import SamplingConfig
from taxmeter.sampling.sampler import LoopScheduler, Sampler, Scheduler, ShadowQueue

__all__ = ["LoopScheduler", "Sampler", "SamplingConfig", "Scheduler", "ShadowQueue"]
