"""The batch handler of one judge in the engine: what its ``DynamicBatcher`` runs per batch.

An item identical (as the judge sees it: ``JudgeTokenizer.dedup_key``) to an earlier one of the
batch is encoded once (counted in ``taxmeter_judge_deduplicated_items_total``). In-process
backends tokenise and infer in one trip to the pool (``blocking_infer``); the others tokenise in
the pool and await ``infer``. The outputs become calibrated head scores per item
(``rows.head_rows``), keyed ``"<judge>.<head>"``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor

import numpy as np

from taxmeter.judges.metrics import JudgeMetrics
from taxmeter.judges.repository import LoadedJudge
from taxmeter.judges.rows import first_of_each, head_rows
from taxmeter.types import HeadKey, HeadScore, JudgeInput

__all__ = ["BatchHandler", "batch_handler"]

BatchHandler = Callable[[Sequence[JudgeInput]], Awaitable[list[dict[HeadKey, HeadScore]]]]


def batch_handler(judge: LoadedJudge, metrics: JudgeMetrics, executor: Executor) -> BatchHandler:
    """The batcher's handler for ``judge``: tokenise a batch in ``executor`` (each distinct
    item once), run it on the judge's backend and map the outputs to head scores per item.
    Call it on the event loop that will run the batches."""
    loop = asyncio.get_running_loop()
    inference = metrics.inference_seconds
    feed_names = judge.feed_names
    heads = [(f"{judge.name}.{h.name}", h) for h in judge.manifest.heads]
    backend = judge.backend
    infer_sync = backend.blocking_infer

    def feeds_of(items: Sequence[JudgeInput]) -> dict[str, np.ndarray]:
        by_role = judge.tokenizer.encode(items)
        return {graph: by_role[role] for role, graph in feed_names.items()}

    def tokenize_and_run(items: Sequence[JudgeInput]) -> dict[str, np.ndarray]:
        assert infer_sync is not None
        return infer_sync(feeds_of(items))

    key_of = judge.tokenizer.dedup_key
    deduplicated = metrics.deduplicated.labels(judge=judge.name)

    async def run(items: Sequence[JudgeInput]) -> list[dict[HeadKey, HeadScore]]:
        t0 = time.perf_counter()
        # an item identical (as the judge sees it) to an earlier one of the batch is not
        # encoded again (both arms answered word for word, a canned refusal, a repeat)
        first: dict[str | tuple[str, str], int] = {}
        where = [first.setdefault(key_of(it), len(first)) for it in items]
        unique = items if len(first) == len(items) else first_of_each(items, where, len(first))
        if infer_sync is not None:  # in-process: one trip to the pool per batch
            outputs = await loop.run_in_executor(executor, tokenize_and_run, unique)
        else:
            feeds = await loop.run_in_executor(executor, feeds_of, unique)
            outputs = await backend.infer(feeds)
        columns = [(key, h.scores(outputs[h.output]), h.threshold) for key, h in heads]
        rows = head_rows(columns, len(unique))
        inference.labels(judge=judge.name, provider=judge.backend.provider).observe(
            time.perf_counter() - t0
        )
        if unique is items:
            return rows
        deduplicated.inc(len(items) - len(unique))
        return [rows[j] for j in where]  # shared dicts: score() copies them into its own

    return run
