#!/usr/bin/env bash
# The project's test command (the README's second command). Sets up everything the tests need,
# then runs every test of the workspace, doc tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

# OTLP fixtures written by the real OpenTelemetry Python SDK: install the pinned SDK from PyPI,
# regenerate them, and check they are the committed ones the Rust tests read. Without python3
# or the registry this step is skipped with a note; the committed fixtures are still tested.
fixtures=crates/tailsift-otlp/tests/fixtures
if command -v python3 >/dev/null 2>&1; then
    fresh="$(mktemp -d)"
    trap 'rm -rf "$fresh"' EXIT
    if scripts/otlp-fixtures/generate.sh "$fresh" >"$fresh/log" 2>&1; then
        for f in python-sdk.binpb python-sdk.jsonl; do
            if ! cmp -s "$fresh/$f" "$fixtures/$f"; then
                echo "the Python SDK now writes a different $f: rerun scripts/otlp-fixtures/generate.sh" >&2
                exit 1
            fi
        done
        echo "OTLP fixtures: regenerated with the Python SDK, identical to the committed ones"
    else
        echo "note: could not install the OpenTelemetry Python SDK (see below); using the committed fixtures" >&2
        tail -n 5 "$fresh/log" >&2 || true
    fi
fi

cargo test --workspace --locked
