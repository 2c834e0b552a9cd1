#!/usr/bin/env bash
# Installs the Python tools rotgen's checks use, into virtual environments at
# the repository root:
#
#   .venv          cfn-lint (<1.54, still runs the SAM translator),
#                  aws-sam-translator, moto[server], boto3
#                  pinned in scripts/requirements-tools.txt
#   .venv-checkov  checkov, on its own because it downgrades boto3
#                  pinned in scripts/requirements-checkov.txt
#   .tools/guard   cfn-guard (AWS Guard), the Linux binary that the npm package
#                  @cdklabs/cdk-validator-cfnguard ships (no Rust build), at
#                  .tools/guard/bin/cfn-guard; the version is pinned below. Needs npm.
#
# Usage: scripts/python-tools.sh [all|tools|checkov|guard]   (default: all)
#
# Idempotent: each venv holds a stamp file with the Python version and the
# requirement list it was installed from; when it matches, nothing is
# installed. Editing a requirements file (or changing Python) reinstalls.
#
# Environment: PYTHON   interpreter used to create the venvs (default python3)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
PYTHON=${PYTHON:-python3}
STAMP_NAME=.rotgen-requirements.stamp

die() {
    printf 'python-tools.sh: error: %s\n' "$*" >&2
    exit 1
}
log() {
    printf 'python-tools.sh: %s\n' "$*" >&2
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# expected_stamp VENV REQUIREMENTS_FILE: what the stamp of VENV installed from it holds.
expected_stamp() {
    expected_stamp_header "$1"
    cat -- "$2"
}
# The part of the stamp that, when it differs, calls for a new venv: console
# scripts name the venv's absolute path, so a moved venv is rebuilt too.
expected_stamp_header() {
    printf 'python %s\nvenv %s\n' "$python_version" "$1"
}

# ensure_venv DIR REQUIREMENTS_FILE
ensure_venv() {
    local venv=$1 req=$2
    local stamp=$venv/$STAMP_NAME
    [[ -r $req ]] || die "requirements file $req is missing"

    if [[ -f $stamp ]] && cmp -s -- "$stamp" <(expected_stamp "$venv" "$req") \
        && "$venv/bin/python" -c '' 2>/dev/null; then
        log "${venv#"$ROOT"/} is up to date"
        return 0
    fi

    # A venv made by another Python, somewhere else, or broken is rebuilt from
    # scratch; otherwise pip brings the existing one to the pinned versions.
    if [[ -d $venv ]]; then
        local have
        have=$("$venv/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null || true)
        if [[ $have != "$python_version" ]]; then
            log "rebuilding ${venv#"$ROOT"/} (its Python is '${have:-broken}', want $python_version)"
            rm -rf -- "$venv"
        elif [[ -f $stamp ]] && ! cmp -s -- <(head -n 2 -- "$stamp") <(expected_stamp_header "$venv"); then
            log "rebuilding ${venv#"$ROOT"/} (made by another Python or at another path)"
            rm -rf -- "$venv"
        fi
    fi
    if [[ ! -d $venv ]]; then
        log "creating ${venv#"$ROOT"/} with $PYTHON ($python_version)"
        "$PYTHON" -m venv -- "$venv" \
            || die "'$PYTHON -m venv' failed (on Debian's own python3, apt-get install -y python3-venv)"
    fi
    # Keep the venv out of git whatever the repository's .gitignore says.
    printf '*\n' >"$venv/.gitignore"

    rm -f -- "$stamp"
    log "installing ${req#"$ROOT"/} into ${venv#"$ROOT"/} (takes about 30 s)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input -r "$req" \
        || die "pip install -r ${req#"$ROOT"/} into ${venv#"$ROOT"/} failed (see above)"
    "$venv/bin/python" -m pip check >&2 \
        || die "pip check found broken requirements in ${venv#"$ROOT"/}"
    expected_stamp "$venv" "$req" >"$stamp"
}

# The npm package that ships cfn-guard, pinned (cfn-guard 3.1.x inside).
GUARD_PACKAGE=@cdklabs/cdk-validator-cfnguard@0.0.62

# ensure_guard: cfn-guard at .tools/guard/bin/cfn-guard.
ensure_guard() {
    local dir=$ROOT/.tools/guard
    local stamp=$dir/.rotgen-guard.stamp
    if [[ -f $stamp && $(cat -- "$stamp") == "$GUARD_PACKAGE" && -x $dir/bin/cfn-guard ]]; then
        log ".tools/guard is up to date"
        return 0
    fi
    command -v npm >/dev/null || die "npm is needed to install cfn-guard (on Debian: apt-get install -y npm)"
    local arch
    case $(uname -m) in
        x86_64 | amd64) arch=x86_64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) die "no cfn-guard binary for $(uname -m)" ;;
    esac
    rm -rf -- "$dir"
    mkdir -p -- "$dir/bin"
    printf '*\n' >"$ROOT/.tools/.gitignore"
    log "installing $GUARD_PACKAGE into .tools/guard (takes a few seconds)"
    # --legacy-peer-deps: the package's CDK peers are not needed for its binary.
    npm install --prefix "$dir" --no-save --legacy-peer-deps --no-audit --no-fund \
        --loglevel=error "$GUARD_PACKAGE" >&2 \
        || die "npm install $GUARD_PACKAGE failed (see above)"
    local bin=$dir/node_modules/@cdklabs/cdk-validator-cfnguard/bin/ubuntu/$arch/cfn-guard
    [[ -x $bin ]] || chmod +x -- "$bin" 2>/dev/null || die "the package has no $bin"
    ln -sf -- "$bin" "$dir/bin/cfn-guard"
    "$dir/bin/cfn-guard" --version >/dev/null || die "cfn-guard does not run on this machine"
    printf '%s' "$GUARD_PACKAGE" >"$stamp"
}

# print_versions DIR DIST...: one 'dist version' line per distribution.
print_versions() {
    local venv=$1
    shift
    "$venv/bin/python" - "$@" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for dist in sys.argv[1:]:
    try:
        print(f"  {dist:20} {version(dist)}")
    except PackageNotFoundError:
        print(f"  {dist:20} MISSING")
EOF
}

main() {
    local what=${1:-all}
    case $what in
        all | tools | checkov | guard) ;;
        -h | --help | help)
            usage
            return 0
            ;;
        *)
            usage >&2
            die "unknown argument '$what'"
            ;;
    esac
    [[ $# -le 1 ]] || die "too many arguments (usage: python-tools.sh [all|tools|checkov|guard])"

    command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found (set PYTHON=/path/to/python3)"
    python_version=$("$PYTHON" -c 'import platform; print(platform.python_version())') \
        || die "'$PYTHON' does not run"

    # One installer at a time (services.sh may call this script too).
    exec 9<"${BASH_SOURCE[0]}"
    flock 9

    if [[ $what == all || $what == tools ]]; then
        ensure_venv "$ROOT/.venv" "$SCRIPT_DIR/requirements-tools.txt"
    fi
    if [[ $what == all || $what == checkov ]]; then
        ensure_venv "$ROOT/.venv-checkov" "$SCRIPT_DIR/requirements-checkov.txt"
    fi
    if [[ $what == all || $what == guard ]]; then
        ensure_guard
    fi

    echo "Installed Python tools (Python $python_version):"
    if [[ $what == all || $what == tools ]]; then
        echo ".venv:"
        print_versions "$ROOT/.venv" cfn-lint aws-sam-translator moto boto3 botocore
    fi
    if [[ $what == all || $what == checkov ]]; then
        echo ".venv-checkov:"
        print_versions "$ROOT/.venv-checkov" checkov boto3 botocore
    fi
    if [[ $what == all || $what == guard ]]; then
        echo ".tools/guard:"
        printf '  %-20s %s\n' cfn-guard "$("$ROOT/.tools/guard/bin/cfn-guard" --version | awk '{print $NF}')"
    fi
}

python_version=
main "$@"
