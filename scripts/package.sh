#!/usr/bin/env bash
# Builds the rotation function's Lambda zip: the rotgen binary, named `bootstrap`, for
# Lambda's provided.al2023 runtime.
#
# Usage: scripts/package.sh [arm64|x86_64]      (default: arm64, Lambda's cheaper architecture)
# Writes: dist/rotgen-ARCH.zip (and prints its path and size)
#
# arm64 is cross-compiled: the script adds the Rust target and, where missing, Debian's
# cross compiler (gcc-aarch64-linux-gnu, for the linker and aws-lc-sys). The binary links
# only glibc (at most GLIBC_2.34, what Amazon Linux 2023 has); the script checks that.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
arch=${1:-arm64}
case $arch in
    arm64 | aarch64) arch=arm64 target=aarch64-unknown-linux-gnu ;;
    x86_64 | amd64) arch=x86_64 target=x86_64-unknown-linux-gnu ;;
    *) echo "package.sh: unknown architecture '$arch' (arm64 or x86_64)" >&2; exit 2 ;;
esac

if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi
if [[ $arch == arm64 && $(uname -m) != aarch64 ]]; then
    if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
        echo "package.sh: installing Debian's gcc-aarch64-linux-gnu (cross linker)" >&2
        apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
    fi
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    objdump=aarch64-linux-gnu-objdump
else
    objdump=objdump
fi

cargo build --locked --release --target "$target" --bin rotgen
bin=target/$target/release/rotgen

glibc=$("$objdump" -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
if [[ $(printf '%s\nGLIBC_2.34\n' "$glibc" | sort -V | tail -1) != GLIBC_2.34 ]]; then
    echo "package.sh: $bin needs $glibc, newer than Amazon Linux 2023's GLIBC_2.34" >&2
    exit 1
fi

mkdir -p dist
zip=dist/rotgen-$arch.zip
python3 - "$bin" "$zip" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16          # -rwxr-xr-x: Lambda runs it
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
PY
echo "$zip: $(stat -c %s "$zip") bytes (binary $(stat -c %s "$bin") bytes, needs $glibc)"
