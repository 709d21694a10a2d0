#!/usr/bin/env bash
# Regenerates crates/tailsift-otlp/tests/fixtures/python-sdk.{binpb,jsonl} with the real
# OpenTelemetry Python SDK and its own OTLP protobuf encoder.
#
# The packages are pinned so that a rerun writes the same bytes; the venv lives under target/
# (never committed). The Rust tests read the committed fixtures; scripts/test.sh regenerates
# them into a temporary folder and checks they are byte for byte the committed ones.
#
# Usage: scripts/otlp-fixtures/generate.sh [OUT_DIR]   (default: the committed fixtures folder)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$repo/target/otlp-fixtures-venv"
out="${1:-$repo/crates/tailsift-otlp/tests/fixtures}"

OTEL_VERSION=1.45.2

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "opentelemetry-api==$OTEL_VERSION" \
    "opentelemetry-sdk==$OTEL_VERSION" \
    "opentelemetry-proto==$OTEL_VERSION" \
    "opentelemetry-exporter-otlp-proto-common==$OTEL_VERSION"

"$venv/bin/python" "$repo/scripts/otlp-fixtures/generate.py" "$out"
"$venv/bin/pip" freeze --disable-pip-version-check > "$out/python-sdk.versions.txt"
echo "wrote $out/python-sdk.binpb, $out/python-sdk.jsonl and $out/python-sdk.versions.txt"
