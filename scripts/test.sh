#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one:
#   1. installs the Python checkers into venvs (cfn-lint, aws-sam-translator, moto, checkov);
#   2. checks formatting and lints (cargo fmt --check, cargo clippy -D warnings);
#   3. starts moto, PostgreSQL, MariaDB and Redis on 127.0.0.1 (scripts/services.sh);
#   4. runs every test (cargo test), with the checkers and services required, not skipped;
#   5. runs the benchmarks in short mode, so they never rot (they print figures only);
#   6. fuzzes the parsers of untrusted input for 15 s each (scripts/fuzz.sh, libFuzzer on
#      the nightly toolchain; without one, tests/fuzz.rs's replay in step 4 is all).
# Whatever it starts it stops, also on failure or Ctrl-C.
#
# Usage: scripts/test.sh            (from anywhere in the checkout)
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "Python checkers (scripts/python-tools.sh)"
scripts/python-tools.sh all

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "services (scripts/services.sh start)"
trap 'scripts/services.sh stop' EXIT
scripts/services.sh start
# shellcheck source=/dev/null
. target/services/env

step "cargo test"
# The oracle and service tests fail instead of skipping when a tool or service is missing.
export ROTGEN_REQUIRE_TOOLS=1 ROTGEN_REQUIRE_SERVICES=1
cargo test --locked

step "benchmarks, short mode (scripts/bench.py --quick; full figures: docs/benchmarks.md)"
.venv/bin/python scripts/bench.py --quick --binary target/debug/rotgen

step "fuzzing, short run (scripts/fuzz.sh 15; a long run: scripts/fuzz.sh 3600)"
if rustup run nightly rustc --version >/dev/null 2>&1; then
    scripts/fuzz.sh 15
else
    echo "no nightly toolchain: libFuzzer cannot run here (rustup toolchain install nightly); tests/fuzz.rs replayed the corpus" >&2
fi
