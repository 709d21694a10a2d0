#!/usr/bin/env bash
# The project's test command (the README's second command). Sets up everything the tests need,
# then runs every test of the workspace, doc tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked
