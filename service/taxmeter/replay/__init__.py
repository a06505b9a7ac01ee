"""``taxmeter replay``: the alignment tax measured offline, on a prompt file, with the sidecar's
own parts.

    prompts (JSONL / text) ─▶ ReplayRunner ─▶ guarded + unguarded OpenAIEndpoint (shadow/)
                               (bounded concurrency,        │ ShadowPair
                                rate limit, retries)        ▼
                                              JudgingSink (pipeline.py) ─▶ JudgeEngine
                                                            │ ScoredPair
                                                            ▼
                                              [AuditStage (audit/): the LLM auditor's labels]
                                                            │
                                                            ▼
                                              ResumeLog (one line per prompt, no text)
                                                            │ in prompt order, at the end
                                                            ▼
                                              TaxAggregator (tax/) ─▶ report (JSON, MD, HTML)
                                              (+ --labels: reference labels, corrected figures)

Every number in the report comes from the same endpoint client, judge engine, ``JudgingSink``
and ``TaxAggregator`` as the live sidecar (composed in :mod:`taxmeter.replay.offline`); replay
only adds the prompt source, the resume log and the report.

The command: ``command.py`` (arguments, exit codes) ─▶ ``inputs.py`` (configuration, prompt
source, options) and ``session.py`` (``run_replay``: run or resume, then write). The report:
``report.py`` (the JSON, with its schema) ─▶ ``render/`` (Markdown and HTML, from the JSON only).
"""
