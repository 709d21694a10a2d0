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

# The trace-view format's decoder is what WASM policies link: check that it builds for their
# target without std (and with the encoder). Needs the rustup target; without rustup or its
# server this step is skipped with a note.
if command -v rustup >/dev/null 2>&1 && rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
    cargo build --locked -q -p tailsift-abi --target wasm32-unknown-unknown --no-default-features
    cargo build --locked -q -p tailsift-abi --target wasm32-unknown-unknown
    echo "tailsift-abi: builds for wasm32-unknown-unknown, with and without the encoder"
else
    echo "note: could not add the wasm32-unknown-unknown target; tailsift-abi's guest build not checked" >&2
fi

cargo test --workspace --locked
