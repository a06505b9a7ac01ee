#!/usr/bin/env bash
# The one GPU session script (device machine: Python 3.12 with torch, onnx, tokenizers, numpy;
# no registry; its grpcio is 1.84, so carry grpcio==1.85.1 in .whl/ too). Expects the onnxruntime-gpu wheel parts already copied to /tmp/ortparts by the
# earlier calls, and carried: .ortgpu/{install.sh,WHEEL,SHA256}, .whl/ (pydantic, structlog),
# .gpu/tokenizer.json. Writes its logs and JSON under $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
bash .ortgpu/install.sh 2>&1 | tail -3 | tee "$OUT/install.txt"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/service
python3 -c "import onnxruntime as o; o.preload_dlls(); print('ort', o.__version__, o.get_available_providers())"
echo "== bench/judges_gpu.py (ORT CUDA fp32/fp16 vs PyTorch fp16, same card, same run)"
timeout 240 python3 bench/judges_gpu.py 2>&1 | tee "$OUT/judges_gpu.txt"
echo "== bench/judges.py --provider cuda (engine vs raw, dynamic batching vs one at a time)"
timeout 200 python3 bench/judges.py --random --provider cuda --tokenizer .gpu/tokenizer.json \
  --batch 64 --items 256 --rounds 3 --threads 4 2>&1 | grep -v '^\S* \S* \[info' | tee "$OUT/judges_engine_cuda.txt"
echo "== same, CPU provider on the same machine (16 cores) for reference"
timeout 120 python3 bench/judges.py --random --provider cpu --tokenizer .gpu/tokenizer.json \
  --batch 16 --items 32 --rounds 2 --threads 8 2>&1 | grep -v '^\S* \S* \[info' | tee "$OUT/judges_engine_cpu.txt"
