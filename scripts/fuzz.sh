#!/usr/bin/env bash
# Fuzzes rotgen's parsers of untrusted input (src/fuzz.rs) with cargo-fuzz and libFuzzer:
# the LDAP answer reader, the YAML template reader, the spec compiler, the macro and the
# token API's answers.
# Each target's corpus starts from the fixtures and examples (and fuzz/seeds/) and is
# kept in target/fuzz-corpus/, so later runs start where earlier ones stopped.
#
# A crash, a hang (10 s on one input) or a run out of memory stops the run; the input is
# in fuzz/artifacts/TARGET/ and `cargo +nightly fuzz run TARGET FILE` replays it.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]
#   scripts/fuzz.sh            20 s for each target (scripts/test.sh runs 15 s)
#   scripts/fuzz.sh 3600 spec  an hour on one target
# Needs the nightly toolchain (libFuzzer's instrumentation); installs cargo-fuzz.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

seconds=${1:-20}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(ldap_answer yaml spec macro_request token_answer)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "scripts/fuzz.sh: libFuzzer needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "scripts/fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# Copies files into a corpus, named by their folder too (examples/x.toml and
# tests/fixtures/invalid/x.toml are two seeds).
add() {
    local dir=$1 f
    shift
    for f in "$@"; do
        cp -f "$f" "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
}

# The seeds of each target, by what it reads.
seed() {
    local target=$1 dir=$2
    mkdir -p "$dir"
    case $target in
        ldap_answer) add "$dir" fuzz/seeds/ldap_answer/* ;;
        yaml) add "$dir" tests/fixtures/macro/*.yaml tests/fixtures/macro-invalid/*.yaml ;;
        spec) add "$dir" examples/*.toml tests/fixtures/invalid/*.toml ;;
        macro_request) add "$dir" tests/fixtures/macro-events/*.json ;;
        token_answer) add "$dir" fuzz/seeds/token_answer/* ;;
        *) echo "scripts/fuzz.sh: no target $target (ldap_answer, yaml, spec, macro_request, token_answer)" >&2; exit 2 ;;
    esac
}

# The same dependency versions as rotgen's own build (fuzz/ is its own workspace).
cp Cargo.lock fuzz/Cargo.lock
# A short run (scripts/test.sh) builds without optimizations: it compiles in a third of
# the time, and a few seconds of fuzzing need no speed. Longer runs are optimized.
profile=()
if (( seconds <= 60 )); then
    profile=(--dev)
fi

for t in "${targets[@]}"; do
    corpus=target/fuzz-corpus/$t
    seed "$t" "$corpus"
    echo "==> fuzz $t for ${seconds}s (corpus $corpus)" >&2
    # Safe Rust: no sanitizer needed to see a panic, and the build is much smaller;
    # debug assertions on, so an arithmetic overflow is a crash too.
    cargo +nightly fuzz run "${profile[@]}" --sanitizer none --debug-assertions "$t" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
        -print_final_stats=1
done
