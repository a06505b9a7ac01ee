#!/usr/bin/env bash
# Regenerates the Python stubs in service/taxmeter/proto/ from protos/. Pinned grpcio-tools
# (see pyproject's dev extra). The generated files are committed and never edited by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
out=service/taxmeter/proto
rm -rf "$out"
mkdir -p "$out"
"$py" -m grpc_tools.protoc -Iprotos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  $(find protos -name '*.proto' | sort)
# protoc emits absolute imports ("from taxmeter.v1 import ..."); make them package-relative.
find "$out" -name '*.py' -print0 | xargs -0 sed -i -E 's/^from taxmeter\.v1 import/from taxmeter.proto.taxmeter.v1 import/; s/^from inference import/from taxmeter.proto.inference import/'
for d in $(find "$out" -type d); do touch "$d/__init__.py"; done
echo "generated: $(find "$out" -name '*_pb2*.py' | sort | tr '\n' ' ')"
