"""Which mirrored requests get shadowed: deterministic sampling, cost budgets, adaptive rate."""

from taxmeter.sampling.config import SamplingConfig
from taxmeter.sampling.sampler import Sampler, ShadowQueue

__all__ = ["Sampler", "SamplingConfig", "ShadowQueue"]
