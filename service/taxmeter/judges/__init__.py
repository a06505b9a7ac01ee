"""Judge engine: judge repository and manifests, ONNX Runtime sessions (CUDA EP with CPU
fallback), tokenisation and a dynamic batcher per judge: scoring only. Offline tooling (the
default judge builder, `judges import`, the Triton export, `taxmeter score`) is in
``taxmeter.judgetools``.

This module deliberately imports nothing: the CLI imports the judge modules lazily, and the
GPU benchmark loads single modules from this folder on machines without the full dependency
set. Import what you need from the submodules:

- ``taxmeter.judges.backend``      ``InferenceBackend`` protocol (health included),
  ``InProcessHealth``, ``TensorSpec``
- ``taxmeter.judges.backends``     ``judges.backend`` -> the backend factory
- ``taxmeter.judges.remote``       the KServe v2 / Triton backend (a package)
- ``taxmeter.judges.config``       ``JudgeEngineConfig``
- ``taxmeter.judges.manifest``     ``JudgeManifest`` and its parts
- ``taxmeter.judges.repository``   ``load_repository`` and ``LoadedJudge``
- ``taxmeter.judges.onnx_backend`` ``OnnxBackend``
- ``taxmeter.judges.batcher``      ``DynamicBatcher``
- ``taxmeter.judges.engine``       ``JudgeEngine``
"""
