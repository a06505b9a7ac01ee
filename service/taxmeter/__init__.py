"""taxmeter: the alignment tax of a safety-aligned LLM deployment, measured live."""

__version__ = "0.1.0"
