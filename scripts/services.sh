#!/usr/bin/env bash
# Local stand-ins for the services rotgen talks to, on 127.0.0.1 only, with
# all their state under target/services/ (data, sockets, logs, pid records).
#
# Usage:
#   scripts/services.sh start [SERVICE...]  start SERVICEs (default: all) and
#                                           write target/services/env
#   scripts/services.sh stop [SERVICE...]   stop them (default: all); safe to
#                                           repeat or when nothing runs
#   scripts/services.sh env                 print target/services/env
#   scripts/services.sh status              what runs, with PIDs
#   scripts/services.sh clean               stop all, delete target/services
#
#   SERVICE: moto | postgres | mariadb | redis | rabbitmq | ldap
#
# In a shell or a CI script:
#   scripts/services.sh start
#   trap 'scripts/services.sh stop' EXIT
#   . target/services/env            # or: eval "$(scripts/services.sh env)"
#
# `start` (re)starts each named service from an empty data directory: one
# that is already running is stopped first, so every start is a fresh, known
# state. Services not named are left as they are. target/services/env then
# lists every service that runs. Missing software is installed first: moto
# through scripts/python-tools.sh, the servers with apt-get.
#
# Each service gets a free port picked at start (20000-32767), unless a fixed
# one is asked for with ROTGEN_MOTO_PORT, ROTGEN_PG_PORT, ROTGEN_MYSQL_PORT,
# ROTGEN_REDIS_PORT, ROTGEN_RABBITMQ_PORT (the management API's; RabbitMQ takes
# three more, always picked) or ROTGEN_LDAP_PORT (StartTLS; LDAPS gets one more).
# RabbitMQ serves TLS only and OpenLDAP offers LDAPS and StartTLS, with the test
# certificate of tests/fixtures/backends (*_CA_FILE in the env file). Passwords are fixed test values: these are throw-away
# local fixtures.
#
# `stop` signals exactly the PIDs `start` recorded (checking each is still the
# process that was started, by its start time) and waits for them to exit.
set -euo pipefail
umask 022

# Client settings from the caller's environment (say, a shell that sourced
# target/services/env: the mariadb client reads MYSQL_HOST and then ignores
# --socket) must not steer this script's own client calls.
unset MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT MYSQL_PWD REDISCLI_AUTH
unset "${!PG@}"
# mariadbd and friends live in /usr/sbin.
case :$PATH: in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
STATE=$ROOT/target/services
ALL_SERVICES=(moto postgres mariadb redis rabbitmq ldap)

PG_BIN=/usr/lib/postgresql/15/bin
PG_SUPERUSER=postgres
PG_SUPERPASSWORD=rotgen-pg-superpass
MYSQL_ROOT_PASSWORD=rotgen-mysql-rootpass
MYSQL_ADMIN_USER=rotgen_admin
MYSQL_ADMIN_PASSWORD=rotgen-mysql-adminpass
REDIS_ADMIN_USER='admin'
REDIS_ADMIN_PASSWORD=rotgen-redis-adminpass
RABBITMQ_ADMIN_USER=rotgen_admin
RABBITMQ_ADMIN_PASSWORD=rotgen-rabbitmq-adminpass
LDAP_BASE=dc=rotgen,dc=test
LDAP_ADMIN_DN=cn=admin,dc=rotgen,dc=test
LDAP_ADMIN_PASSWORD=rotgen-ldap-adminpass
TLS_FIXTURES=$ROOT/tests/fixtures/backends

STARTUP_TIMEOUT=90 # seconds a service may take to answer
STOP_TIMEOUT=30    # seconds between the polite signal and SIGKILL

T0=${EPOCHREALTIME/,/.}

# elapsed: seconds since this script started, like 2.3s.
elapsed() {
    local now=${EPOCHREALTIME/,/.} us
    us=$((10#${now/./} - 10#${T0/./}))
    printf '%d.%ds' $((us / 1000000)) $((us % 1000000 / 100000))
}

die() {
    printf 'services.sh: error: %s\n' "$*" >&2
    exit 1
}
log() {
    printf 'services.sh: %s\n' "$*" >&2
}
warn() {
    printf 'services.sh: warning: %s\n' "$*" >&2
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# show_log FILE: the end of a log, to explain a failure.
show_log() {
    if [[ -s $1 ]]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 25 -- "$1" >&2
        printf -- '---\n' >&2
    fi
}

# ---------------------------------------------------------------- processes

# proc_read PID: sets proc_state (R, S, Z, ...) and proc_start (the kernel's
# start time of PID, in clock ticks since boot); fails when PID is gone.
proc_read() {
    local stat fields
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) } # fields from the 3rd (state) on; comm may hold spaces
    read -r -a fields <<<"$stat"
    proc_state=${fields[0]}
    proc_start=${fields[19]}
}

# proc_starttime PID: prints the start time of PID.
proc_starttime() {
    proc_read "$1" || return 1
    printf '%s\n' "$proc_start"
}

# proc_is PID STARTTIME: PID runs, is not a zombie, and is the process
# that started at STARTTIME (not a later one that reused the PID).
proc_is() {
    proc_read "$1" || return 1
    [[ $proc_state != [ZX] && $proc_start == "$2" ]]
}

# record_pid SERVICE PID
record_pid() {
    local start
    start=$(proc_starttime "$2") || die "$1 (pid $2) exited right after it started"
    printf '%s %s\n' "$2" "$start" >"$STATE/$1.pid"
}

# recorded_pid SERVICE: prints the recorded PID if that process still runs.
recorded_pid() {
    local file=$STATE/$1.pid pid start
    [[ -f $file ]] || return 1
    read -r pid start <"$file" || return 1
    [[ $pid =~ ^[0-9]+$ && $start =~ ^[0-9]+$ ]] || return 1
    proc_is "$pid" "$start" || return 1
    printf '%s\n' "$pid"
}

# stop_service SERVICE: stop the recorded process, wait for it, forget it.
stop_service() {
    local name=$1 file=$STATE/$1.pid pid start sig=TERM waited
    [[ $name == postgres ]] && sig=INT # "fast" shutdown; TERM waits for clients
    if [[ -f $file ]] && read -r pid start <"$file" && proc_is "$pid" "$start"; then
        log "stopping $name (pid $pid)"
        kill "-$sig" "$pid" 2>/dev/null || true
        for ((waited = 0; waited < STOP_TIMEOUT * 10; waited++)); do
            proc_is "$pid" "$start" || break
            sleep 0.1
        done
        if proc_is "$pid" "$start"; then
            warn "$name (pid $pid) still runs ${STOP_TIMEOUT}s after SIG$sig; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((waited = 0; waited < 100; waited++)); do
                proc_is "$pid" "$start" || break
                sleep 0.1
            done
            proc_is "$pid" "$start" && die "$name (pid $pid) survives SIGKILL"
        fi
    elif [[ -f $file ]]; then
        log "$name is not running (stale record removed)"
    fi
    rm -f -- "$file" "$STATE/$name.env"
    # The Erlang VM started an epmd of its own (on a port of its own): end it too.
    if [[ $name == rabbitmq && -f $STATE/rabbitmq/epmd.port ]]; then
        epmd -port "$(cat -- "$STATE/rabbitmq/epmd.port")" -kill >/dev/null 2>&1 || true
        rm -f -- "$STATE/rabbitmq/epmd.port"
    fi
}

# warn_orphans: processes working inside target/services that no record
# names (left by a run whose records were deleted). Only reported: this
# script ends nothing it did not record.
warn_orphans() {
    [[ -d /proc/1 ]] || return 0
    local known=" " name pid cwd ppid stat found=()
    for name in "${ALL_SERVICES[@]}"; do
        if pid=$(recorded_pid "$name"); then known+="$pid "; fi
    done
    local -A cand=()
    for cwd in /proc/[0-9]*/cwd; do
        pid=${cwd#/proc/}
        pid=${pid%/cwd}
        [[ $pid == "$$" ]] && continue
        cwd=$(readlink -- "$cwd" 2>/dev/null) || continue
        [[ $cwd == "$STATE"/* || $cwd == "$STATE (deleted)" ]] || continue
        read -r stat 2>/dev/null <"/proc/$pid/stat" || continue
        stat=${stat##*) }
        ppid=${stat#* }
        ppid=${ppid%% *}
        cand[$pid]=$ppid
    done
    for pid in "${!cand[@]}"; do
        ppid=${cand[$pid]}
        # Skip children of recorded services and of other orphans.
        [[ $known == *" $pid "* || $known == *" $ppid "* || -n ${cand[$ppid]:-} ]] && continue
        found+=("$pid")
    done
    if ((${#found[@]})); then
        warn "processes not started by a recorded run work in $STATE: ${found[*]}"
        for pid in "${found[@]}"; do
            printf '    %s: %s\n' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/ *$//')" >&2
        done
        warn "if they are stale services of this repository, end them with: kill ${found[*]}"
    fi
}

# ------------------------------------------------------------------ helpers

# wait_for SERVICE PID LOG CHECK...: run CHECK until it succeeds, failing
# early when PID dies and after STARTUP_TIMEOUT seconds.
wait_for() {
    local name=$1 pid=$2 logfile=$3 deadline
    shift 3
    deadline=$((SECONDS + STARTUP_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        if ! proc_read "$pid" || [[ $proc_state == [ZX] ]]; then
            show_log "$logfile"
            die "$name (pid $pid) exited during start-up"
        fi
        if ((SECONDS >= deadline)); then
            show_log "$logfile"
            die "$name did not answer within ${STARTUP_TIMEOUT}s"
        fi
        sleep 0.1
    done
}

# pick_ports N: N distinct TCP ports that 127.0.0.1 can bind right now.
pick_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
want, found = int(sys.argv[1]), []
for _ in range(1000):
    if len(found) == want:
        break
    port = random.randint(20000, 32767)
    if port in found:
        continue
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    found.append(port)
if len(found) < want:
    sys.exit("no free ports found")
print(*found)
EOF
}

# port_is_free PORT
port_is_free() {
    python3 - "$1" <<'EOF'
import socket, sys
with socket.socket() as s:
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
EOF
}

# port_for OVERRIDE_VAR: sets $port to the override when set (checked free),
# else to the next picked port. (Not for $(...): it consumes picked_ports.)
port_for() {
    local var=$1
    port=${!var:-}
    if [[ -n $port ]]; then
        if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
            die "$var='$port' is not a port"
        fi
        port_is_free "$port" || die "$var=$port: that port is already in use on 127.0.0.1 (by what: ss -ltnp 'sport = :$port')"
    else
        ((${#picked_ports[@]})) || die "internal error: no picked port left"
        port=${picked_ports[0]}
        picked_ports=("${picked_ports[@]:1}")
    fi
}

# write_fragment SERVICE NAME=VALUE...: the service's lines for the env file.
write_fragment() {
    local name=$1 kv
    shift
    for kv in "$@"; do
        printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done >"$STATE/$name.env"
}

# write_env: target/services/env from the fragments of the running services.
write_env() {
    local name tmp
    [[ -d $STATE ]] || return 0
    tmp=$STATE/env.tmp
    {
        echo "# Written by scripts/services.sh on $(date -u '+%Y-%m-%dT%H:%M:%SZ'); source it."
        for name in "${ALL_SERVICES[@]}"; do
            if recorded_pid "$name" >/dev/null && [[ -f $STATE/$name.env ]]; then
                echo "# $name"
                cat -- "$STATE/$name.env"
            fi
        done
    } >"$tmp"
    if grep -q '^export ' "$tmp"; then
        mv -f -- "$tmp" "$STATE/env"
    else
        rm -f -- "$tmp" "$STATE/env"
    fi
}

# ---------------------------------------------------------------- installing

# apt_install PACKAGE...: apt-get update only when the lists are missing or
# do not know a package, or when an install from them fails.
apt_install() {
    local aptlog=$STATE/apt.log pkg updated=0
    local apt=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
    [[ $(id -u) == 0 ]] || die "installing ${*} needs root (apt-get); install them or run as root"
    command -v apt-get >/dev/null || die "apt-get not found: install ${*} by hand"
    for pkg in "$@"; do
        if ! apt-cache show --no-all-versions "$pkg" >/dev/null 2>&1; then
            log "apt-get update (the package lists do not know $pkg)"
            "${apt[@]}" update >>"$aptlog" 2>&1 || {
                show_log "$aptlog"
                die "apt-get update failed"
            }
            updated=1
            break
        fi
    done
    log "apt-get install $* (log: ${aptlog#"$ROOT"/})"
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@" >>"$aptlog" 2>&1; then
        ((updated)) && {
            show_log "$aptlog"
            die "apt-get install $* failed"
        }
        log "apt-get install failed; retrying after apt-get update"
        "${apt[@]}" update >>"$aptlog" 2>&1 || {
            show_log "$aptlog"
            die "apt-get update failed"
        }
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@" >>"$aptlog" 2>&1 || {
            show_log "$aptlog"
            die "apt-get install $* failed"
        }
    fi
}

# ensure_software SERVICE...: everything the services need, installed.
ensure_software() {
    local name pkgs=() cmd
    command -v python3 >/dev/null || die "python3 is needed (to pick free ports)"
    for name in "$@"; do
        case $name in
            moto)
                command -v curl >/dev/null || pkgs+=(curl)
                ;;
            postgres)
                [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl && -x $PG_BIN/pg_isready && -x $PG_BIN/psql ]] \
                    || pkgs+=(postgresql-15 postgresql-client-15)
                ;;
            mariadb)
                for cmd in mariadbd mariadb-install-db mariadb mariadb-admin; do
                    command -v "$cmd" >/dev/null || {
                        pkgs+=(mariadb-server mariadb-client)
                        break
                    }
                done
                ;;
            redis)
                command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
                    || pkgs+=(redis-server redis-tools)
                ;;
            ldap)
                command -v slapd >/dev/null && command -v slapadd >/dev/null || pkgs+=(slapd)
                command -v ldapadd >/dev/null || pkgs+=(ldap-utils)
                ;;
            rabbitmq)
                [[ -x $RABBITMQ_SERVER ]] && command -v epmd >/dev/null || pkgs+=(rabbitmq-server)
                command -v curl >/dev/null || pkgs+=(curl)
                ;;
        esac
    done
    # One apt-get run for all: that is most of a cold start's time.
    if ((${#pkgs[@]})); then
        apt_install "${pkgs[@]}"
    fi
    for name in "$@"; do
        case $name in
            moto)
                if [[ ! -x $ROOT/.venv/bin/moto_server ]] || ! "$ROOT/.venv/bin/python" -c '' 2>/dev/null; then
                    log "moto is not installed in .venv: running scripts/python-tools.sh tools"
                    "$SCRIPT_DIR/python-tools.sh" tools >&2 || die "scripts/python-tools.sh tools failed"
                fi
                ;;
            postgres)
                id postgres >/dev/null 2>&1 || die "the OS user 'postgres' is missing (reinstall postgresql-15)"
                ;;
            mariadb)
                id mysql >/dev/null 2>&1 || die "the OS user 'mysql' is missing (reinstall mariadb-server)"
                ;;
        esac
    done
}

# ---------------------------------------------------------------- services

# Where services whose OS user cannot reach $STATE keep their files instead (a clone in
# root's home, whose directory others may not enter): one directory per checkout.
OUTSIDE=/tmp/rotgen-services-$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)

# fresh_dir SERVICE [OWNER]: an empty directory for SERVICE (owned by OWNER), in
# $svc_dir: $STATE/SERVICE, or, when OWNER cannot reach that, $OUTSIDE/SERVICE with a
# link to it at $STATE/SERVICE (so its logs are where the others are).
fresh_dir() {
    svc_dir=$STATE/$1
    rm -rf -- "$svc_dir" "${OUTSIDE:?}/$1"
    mkdir -p -- "$svc_dir"
    if [[ -n ${2:-} ]]; then
        chown "$2:$2" "$svc_dir"
        if ! runuser -u "$2" -- test -w "$svc_dir"; then
            log "the OS user '$2' cannot reach ${svc_dir#"$ROOT"/} (a directory above it is closed to others): using $OUTSIDE/$1"
            rm -rf -- "$svc_dir"
            mkdir -p -m 755 -- "$OUTSIDE"
            mkdir -p -- "$OUTSIDE/$1"
            chown "$2:$2" "$OUTSIDE/$1"
            ln -s -- "$OUTSIDE/$1" "$svc_dir"
            svc_dir=$OUTSIDE/$1
            runuser -u "$2" -- test -w "$svc_dir" || die "the OS user '$2' cannot write $svc_dir either"
        fi
    fi
}

launch_moto() {
    local port dir=$STATE/moto
    port_for ROTGEN_MOTO_PORT
    fresh_dir moto
    log "starting moto on 127.0.0.1:$port"
    (cd -- "$dir" && exec "$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
        </dev/null >"$dir/moto.log" 2>&1 9>&-) &
    moto_pid=$!
    record_pid moto "$moto_pid"
    started+=(moto)
    moto_port=$port
}

# moto_answers PORT: any HTTP answer at all.
moto_answers() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/moto-api/") || true
    [[ $code != 000 && -n $code ]]
}

finish_moto() {
    wait_for moto "$moto_pid" "$STATE/moto/moto.log" moto_answers "$moto_port"
    curl -sf -o /dev/null --max-time 10 -X POST "http://127.0.0.1:$moto_port/moto-api/reset" \
        || die "moto answered, but POST /moto-api/reset failed"
    write_fragment moto \
        "MOTO_PORT=$moto_port" \
        "AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port" \
        AWS_ACCESS_KEY_ID=testing \
        AWS_SECRET_ACCESS_KEY=testing \
        AWS_REGION=us-east-1 \
        AWS_DEFAULT_REGION=us-east-1 \
        AWS_EC2_METADATA_DISABLED=true
    log "moto ready: http://127.0.0.1:$moto_port (pid $moto_pid, at $(elapsed))"
}

start_postgres() {
    local port dir pid
    port_for ROTGEN_PG_PORT
    fresh_dir postgres postgres
    dir=$svc_dir
    runuser -u postgres -- mkdir -m 700 "$dir/data"
    runuser -u postgres -- mkdir -m 755 "$dir/run"
    (umask 077 && printf '%s\n' "$PG_SUPERPASSWORD" >"$dir/pwfile")
    chown postgres:postgres "$dir/pwfile"
    log "initialising PostgreSQL in ${dir#"$ROOT"/}/data"
    if ! (cd -- "$dir" && runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" \
        -U "$PG_SUPERUSER" --pwfile="$dir/pwfile" \
        --auth-host=scram-sha-256 --auth-local=trust --no-sync \
        -E UTF8 --locale=C.UTF-8 9>&-) >"$dir/initdb.log" 2>&1; then
        show_log "$dir/initdb.log"
        die "initdb failed"
    fi
    rm -f -- "$dir/pwfile"
    # Settings go in the configuration file rather than on pg_ctl's -o,
    # which a shell would re-split.
    cat >>"$dir/data/postgresql.conf" <<EOF

# scripts/services.sh: a throw-away test server on loopback
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${dir//\'/\'\'}/run'
fsync = off
synchronous_commit = off
full_page_writes = off
# Every statement is logged, as a strict audit setting would: the tests check that no
# password rotgen sets ever appears in this log.
log_statement = 'all'
EOF
    log "starting PostgreSQL on 127.0.0.1:$port"
    runuser -u postgres -- touch "$dir/postgres.log"
    if ! (cd -- "$dir" && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" \
        -l "$dir/postgres.log" -w -t "$STARTUP_TIMEOUT" start 9>&- </dev/null) >"$dir/pg_ctl.log" 2>&1; then
        # pg_ctl may have started a postmaster that then failed to answer.
        pid=
        [[ -s $dir/data/postmaster.pid ]] && read -r pid <"$dir/data/postmaster.pid"
        if [[ $pid =~ ^[0-9]+$ ]] && proc_starttime "$pid" >/dev/null; then
            record_pid postgres "$pid"
            started+=(postgres)
        fi
        show_log "$dir/pg_ctl.log"
        show_log "$dir/postgres.log"
        die "PostgreSQL did not start"
    fi
    read -r pid <"$dir/data/postmaster.pid" || die "PostgreSQL started but wrote no postmaster.pid"
    record_pid postgres "$pid"
    started+=(postgres)
    wait_for postgres "$pid" "$dir/postgres.log" \
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" -d postgres
    PGPASSWORD=$PG_SUPERPASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -w -At \
        -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" -d postgres -c 'SELECT 1' >/dev/null \
        || die "PostgreSQL answers, but password login as $PG_SUPERUSER over TCP fails"
    write_fragment postgres \
        PG_HOST=127.0.0.1 \
        "PG_PORT=$port" \
        "PG_SUPERUSER=$PG_SUPERUSER" \
        "PG_SUPERPASSWORD=$PG_SUPERPASSWORD" \
        PG_DATABASE=postgres \
        "PG_SOCKET_DIR=$dir/run" \
        "PG_LOG=$dir/postgres.log"
    log "PostgreSQL ready: 127.0.0.1:$port (pid $pid, at $(elapsed))"
}

# SQL run once as root over the socket: passwords, the admin user, and no
# password-less accounts left.
mariadb_setup_sql() {
    cat <<EOF
ALTER USER 'root'@'localhost' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
CREATE USER '$MYSQL_ADMIN_USER'@'%' IDENTIFIED BY '$MYSQL_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_ADMIN_USER'@'%' WITH GRANT OPTION;
CREATE USER '$MYSQL_ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_ADMIN_USER'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER '$MYSQL_ADMIN_USER'@'localhost' IDENTIFIED BY '$MYSQL_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_ADMIN_USER'@'localhost' WITH GRANT OPTION;
DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', ''@'localhost';
EOF
}

# Accounts that still log in without a password (there must be none).
MARIADB_PASSWORDLESS_SQL="SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.global_priv
 WHERE IFNULL(JSON_VALUE(Priv, '\$.is_role'), 'false') NOT IN ('true', '1')
   AND IFNULL(JSON_VALUE(Priv, '\$.account_locked'), 'false') NOT IN ('true', '1')
   AND IFNULL(JSON_VALUE(Priv, '\$.authentication_string'), '') = ''
   AND IFNULL(JSON_VALUE(Priv, '\$.plugin'), 'mysql_native_password')
       IN ('', 'mysql_native_password', 'mysql_old_password')"

start_mariadb() {
    local port dir pid sock accounts
    port_for ROTGEN_MYSQL_PORT
    fresh_dir mariadb mysql
    dir=$svc_dir
    runuser -u mysql -- mkdir -m 750 "$dir/data"
    runuser -u mysql -- mkdir -m 755 "$dir/run"
    sock=$dir/run/mysqld.sock
    log "initialising MariaDB in ${dir#"$ROOT"/}/data"
    if ! (cd -- "$dir" && mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" \
        --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
        9>&- </dev/null) >"$dir/install-db.log" 2>&1; then
        show_log "$dir/install-db.log"
        die "mariadb-install-db failed"
    fi
    log "starting MariaDB on 127.0.0.1:$port"
    runuser -u mysql -- touch "$dir/mariadb.log"
    (cd -- "$dir" && exec mariadbd --no-defaults --user=mysql --datadir="$dir/data" \
        --bind-address=127.0.0.1 --port="$port" --socket="$sock" \
        --pid-file="$dir/run/mariadbd.pid" --log-error="$dir/mariadb.log" \
        --skip-grant-tables=0 --skip-name-resolve \
        --general-log=1 --general-log-file="$dir/general.log" \
        --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 \
        </dev/null >>"$dir/mariadb.log" 2>&1 9>&-) &
    pid=$!
    record_pid mariadb "$pid"
    started+=(mariadb)
    wait_for mariadb "$pid" "$dir/mariadb.log" \
        mariadb-admin --no-defaults --protocol=socket --socket="$sock" -uroot --connect-timeout=2 ping
    mariadb_setup_sql | mariadb --no-defaults --protocol=socket --socket="$sock" -uroot \
        || die "setting up MariaDB's accounts failed"
    accounts=$(MYSQL_PWD=$MYSQL_ROOT_PASSWORD mariadb --no-defaults --protocol=socket \
        --socket="$sock" -uroot -N -B -e "$MARIADB_PASSWORDLESS_SQL") \
        || die "listing MariaDB's accounts failed"
    if [[ -n $accounts ]]; then
        log "dropping password-less MariaDB accounts: ${accounts//$'\n'/ }"
        MYSQL_PWD=$MYSQL_ROOT_PASSWORD mariadb --no-defaults --protocol=socket --socket="$sock" \
            -uroot -e "DROP USER ${accounts//$'\n'/, }" || die "dropping password-less accounts failed"
    fi
    MYSQL_PWD=$MYSQL_ADMIN_PASSWORD mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$port" \
        -u "$MYSQL_ADMIN_USER" --connect-timeout=5 -N -B -e 'SELECT 1' >/dev/null \
        || die "MariaDB answers, but password login as $MYSQL_ADMIN_USER over TCP fails"
    write_fragment mariadb \
        MYSQL_HOST=127.0.0.1 \
        "MYSQL_PORT=$port" \
        "MYSQL_ADMIN_USER=$MYSQL_ADMIN_USER" \
        "MYSQL_ADMIN_PASSWORD=$MYSQL_ADMIN_PASSWORD" \
        "MYSQL_ROOT_PASSWORD=$MYSQL_ROOT_PASSWORD" \
        "MYSQL_SOCKET=$sock" \
        "MYSQL_GENERAL_LOG=$dir/general.log"
    log "MariaDB ready: 127.0.0.1:$port (pid $pid, at $(elapsed))"
}

start_redis() {
    local port dir=$STATE/redis pid i
    port_for ROTGEN_REDIS_PORT
    fresh_dir redis
    (umask 077 && printf '%s\n' \
        'user default off' \
        "user $REDIS_ADMIN_USER on >$REDIS_ADMIN_PASSWORD ~* &* +@all" >"$dir/users.acl")
    log "starting Redis on 127.0.0.1:$port"
    if ! (cd -- "$dir" && redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
        --aclfile "$dir/users.acl" --save '' --appendonly no --dir "$dir" \
        --pidfile "$dir/redis-server.pid" --logfile "$dir/redis.log" \
        9>&- </dev/null) >"$dir/redis-start.log" 2>&1; then
        show_log "$dir/redis-start.log"
        show_log "$dir/redis.log"
        die "redis-server did not start"
    fi
    # The daemon writes its pid file just after it forks away.
    for ((i = 0; i < 100; i++)); do
        [[ -s $dir/redis-server.pid ]] && break
        sleep 0.05
    done
    read -r pid <"$dir/redis-server.pid" 2>/dev/null || {
        show_log "$dir/redis.log"
        die "redis-server wrote no pid file"
    }
    record_pid redis "$pid"
    started+=(redis)
    wait_for redis "$pid" "$dir/redis.log" redis_answers "$port"
    write_fragment redis \
        REDIS_HOST=127.0.0.1 \
        "REDIS_PORT=$port" \
        "REDIS_ADMIN_USER=$REDIS_ADMIN_USER" \
        "REDIS_ADMIN_PASSWORD=$REDIS_ADMIN_PASSWORD"
    log "Redis ready: 127.0.0.1:$port (pid $pid, at $(elapsed))"
}

RABBITMQ_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server

# launch_rabbitmq: the broker with the management plugin, TLS only, its state
# (node database, logs, Erlang cookie) in target/services/rabbitmq.
launch_rabbitmq() {
    local port amqps dist epmd_port dir
    port_for ROTGEN_RABBITMQ_PORT
    amqps=${picked_ports[0]} dist=${picked_ports[1]} epmd_port=${picked_ports[2]}
    picked_ports=("${picked_ports[@]:3}")
    fresh_dir rabbitmq
    dir=$svc_dir
    cat >"$dir/rabbitmq.conf" <<EOF_CONF
listeners.tcp = none
listeners.ssl.default = 127.0.0.1:$amqps
ssl_options.cacertfile = $TLS_FIXTURES/ca.pem
ssl_options.certfile = $TLS_FIXTURES/server.pem
ssl_options.keyfile = $TLS_FIXTURES/server.key
management.tcp.port = 0
management.ssl.port = $port
management.ssl.ip = 127.0.0.1
management.ssl.cacertfile = $TLS_FIXTURES/ca.pem
management.ssl.certfile = $TLS_FIXTURES/server.pem
management.ssl.keyfile = $TLS_FIXTURES/server.key
loopback_users = none
default_user = $RABBITMQ_ADMIN_USER
default_pass = $RABBITMQ_ADMIN_PASSWORD
default_user_tags.administrator = true
EOF_CONF
    echo '[rabbitmq_management].' >"$dir/enabled_plugins"
    printf '%s\n' "$epmd_port" >"$dir/epmd.port"
    log "starting RabbitMQ: management API https://127.0.0.1:$port"
    (cd -- "$dir" && HOME=$dir RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf \
        RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins \
        RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log \
        RABBITMQ_NODENAME=rotgen@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd_port ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_PID_FILE=$dir/rabbitmq.pid \
        exec "$RABBITMQ_SERVER" </dev/null >"$dir/rabbitmq.out" 2>&1 9>&-) &
    rabbitmq_pid=$!
    record_pid rabbitmq "$rabbitmq_pid"
    started+=(rabbitmq)
    rabbitmq_port=$port
}

# rabbitmq_answers PORT: the admin logs in to the management API.
rabbitmq_answers() {
    curl -sf -o /dev/null --max-time 2 --cacert "$TLS_FIXTURES/ca.pem" \
        -u "$RABBITMQ_ADMIN_USER:$RABBITMQ_ADMIN_PASSWORD" "https://127.0.0.1:$1/api/whoami"
}

finish_rabbitmq() {
    wait_for rabbitmq "$rabbitmq_pid" "$STATE/rabbitmq/rabbitmq.out" rabbitmq_answers "$rabbitmq_port"
    write_fragment rabbitmq \
        RABBITMQ_HOST=127.0.0.1 \
        "RABBITMQ_PORT=$rabbitmq_port" \
        "RABBITMQ_ADMIN_USER=$RABBITMQ_ADMIN_USER" \
        "RABBITMQ_ADMIN_PASSWORD=$RABBITMQ_ADMIN_PASSWORD" \
        "RABBITMQ_CA_FILE=$TLS_FIXTURES/ca.pem"
    log "RabbitMQ ready: https://127.0.0.1:$rabbitmq_port (pid $rabbitmq_pid, at $(elapsed))"
}

# start_ldap: OpenLDAP's slapd with one suffix, the password policy overlay (a
# default policy, and a strict one no generated password passes, for the tests),
# StartTLS and LDAPS with the test certificate.
start_ldap() {
    local port ldaps dir pid
    port_for ROTGEN_LDAP_PORT
    ldaps=${picked_ports[0]}
    picked_ports=("${picked_ports[@]:1}")
    fresh_dir ldap
    dir=$svc_dir
    mkdir -p -- "$dir/db"
    cat >"$dir/slapd.conf" <<EOF_CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile $dir/slapd.pid
TLSCACertificateFile $TLS_FIXTURES/ca.pem
TLSCertificateFile $TLS_FIXTURES/server.pem
TLSCertificateKeyFile $TLS_FIXTURES/server.key
database mdb
maxsize 104857600
suffix "$LDAP_BASE"
rootdn "$LDAP_ADMIN_DN"
rootpw $LDAP_ADMIN_PASSWORD
directory $dir/db
overlay ppolicy
ppolicy_default "cn=default,ou=policies,$LDAP_BASE"
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
EOF_CONF
    cat >"$dir/seed.ldif" <<EOF_LDIF
dn: $LDAP_BASE
objectClass: dcObject
objectClass: organization
dc: rotgen
o: rotgen

dn: ou=people,$LDAP_BASE
objectClass: organizationalUnit
ou: people

dn: ou=policies,$LDAP_BASE
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$LDAP_BASE
objectClass: pwdPolicy
objectClass: device
cn: default
pwdAttribute: userPassword
pwdMinLength: 8
pwdCheckQuality: 1

dn: cn=strict,ou=policies,$LDAP_BASE
objectClass: pwdPolicy
objectClass: device
cn: strict
pwdAttribute: userPassword
pwdMinLength: 200
pwdCheckQuality: 2
EOF_LDIF
    slapadd -f "$dir/slapd.conf" -l "$dir/seed.ldif" >"$dir/slapadd.log" 2>&1 || {
        show_log "$dir/slapadd.log"
        die "slapadd could not load the directory's first entries"
    }
    log "starting OpenLDAP: ldap://127.0.0.1:$port (StartTLS), ldaps://127.0.0.1:$ldaps"
    (cd -- "$dir" && exec slapd -d 0 -f "$dir/slapd.conf" \
        -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$ldaps/" \
        </dev/null >"$dir/slapd.log" 2>&1 9>&-) &
    pid=$!
    record_pid ldap "$pid"
    started+=(ldap)
    wait_for ldap "$pid" "$dir/slapd.log" ldap_answers "$port"
    write_fragment ldap \
        LDAP_HOST=127.0.0.1 \
        "LDAP_PORT=$port" \
        "LDAPS_PORT=$ldaps" \
        "LDAP_BASE=$LDAP_BASE" \
        "LDAP_ADMIN_DN=$LDAP_ADMIN_DN" \
        "LDAP_ADMIN_PASSWORD=$LDAP_ADMIN_PASSWORD" \
        "LDAP_STRICT_POLICY=cn=strict,ou=policies,$LDAP_BASE" \
        "LDAP_CA_FILE=$TLS_FIXTURES/ca.pem"
    log "OpenLDAP ready: 127.0.0.1:$port and :$ldaps (pid $pid, at $(elapsed))"
}

ldap_answers() {
    ldapwhoami -x -H "ldap://127.0.0.1:$1" -D "$LDAP_ADMIN_DN" -w "$LDAP_ADMIN_PASSWORD" >/dev/null 2>&1
}

redis_answers() {
    [[ $(REDISCLI_AUTH=$REDIS_ADMIN_PASSWORD redis-cli -h 127.0.0.1 -p "$1" \
        --user "$REDIS_ADMIN_USER" ping 2>/dev/null) == PONG ]]
}

# ---------------------------------------------------------------- commands

# select_services ARG...: sets names to the named services (all when none),
# validated, de-duplicated, in the canonical order.
select_services() {
    local want=" $* " name arg known
    for arg in "$@"; do
        known=0
        for name in "${ALL_SERVICES[@]}"; do [[ $arg == "$name" ]] && known=1; done
        ((known)) || die "unknown service '$arg' (known: ${ALL_SERVICES[*]})"
    done
    names=()
    for name in "${ALL_SERVICES[@]}"; do
        if [[ $# -eq 0 || $want == *" $name "* ]]; then names+=("$name"); fi
    done
}

# On a failed start, stop what this run started, so nothing is left behind.
on_start_exit() {
    local rc=$? name
    ((rc == 0)) && return 0
    if ((${#started[@]})); then
        warn "start failed; stopping what this run started: ${started[*]}"
        for name in "${started[@]}"; do stop_service "$name" || true; done
        write_env || true
    fi
    exit "$rc"
}

cmd_start() {
    local name sock_max
    select_services "$@"
    mkdir -p -- "$STATE"
    # Unix socket paths are limited to 107 bytes.
    sock_max="$STATE/postgres/run/.s.PGSQL.65535"
    ((${#sock_max} <= 107)) || die "$STATE is too deep for Unix sockets (${#sock_max} > 107 bytes); use a shorter checkout path"

    if [[ $(id -u) != 0 && " ${names[*]} " == *" "@(postgres|mariadb)" "* ]]; then
        die "starting postgres or mariadb needs root (they run as the OS users postgres and mysql)"
    fi
    warn_orphans
    ensure_software "${names[@]}"
    for name in "${names[@]}"; do stop_service "$name"; done
    write_env

    local count=0
    for name in "${names[@]}"; do
        case $name in
            moto) [[ -z ${ROTGEN_MOTO_PORT:-} ]] && count=$((count + 1)) ;;
            postgres) [[ -z ${ROTGEN_PG_PORT:-} ]] && count=$((count + 1)) ;;
            mariadb) [[ -z ${ROTGEN_MYSQL_PORT:-} ]] && count=$((count + 1)) ;;
            redis) [[ -z ${ROTGEN_REDIS_PORT:-} ]] && count=$((count + 1)) ;;
            rabbitmq) count=$((count + 3)) && [[ -z ${ROTGEN_RABBITMQ_PORT:-} ]] && count=$((count + 1)) ;;
            ldap) count=$((count + 1)) && [[ -z ${ROTGEN_LDAP_PORT:-} ]] && count=$((count + 1)) ;;
        esac
    done
    picked_ports=()
    if ((count)); then
        read -r -a picked_ports < <(pick_ports "$count") || die "could not find $count free ports"
    fi

    started=()
    trap on_start_exit EXIT
    # Interrupted (Ctrl-C, a CI timeout): exit, so the EXIT trap cleans up.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    # moto and RabbitMQ take the longest to boot (Python imports, an Erlang
    # VM): they boot while the others start.
    if [[ " ${names[*]} " == *" moto "* ]]; then launch_moto; fi
    for name in "${names[@]}"; do
        case $name in
            postgres) start_postgres ;;
            mariadb) start_mariadb ;;
            redis) start_redis ;;
            rabbitmq) launch_rabbitmq ;;
            ldap) start_ldap ;;
        esac
    done
    if [[ " ${names[*]} " == *" moto "* ]]; then finish_moto; fi
    if [[ " ${names[*]} " == *" rabbitmq "* ]]; then finish_rabbitmq; fi
    write_env
    trap - EXIT INT TERM HUP
    log "started: ${names[*]} in $(elapsed); environment in ${STATE#"$ROOT"/}/env"
}

cmd_stop() {
    local name
    select_services "$@"
    [[ -d $STATE ]] || {
        log "nothing to stop (${STATE#"$ROOT"/} does not exist)"
        return 0
    }
    for name in "${names[@]}"; do stop_service "$name"; done
    write_env
}

cmd_env() {
    [[ -f $STATE/env ]] || die "no services are running (${STATE#"$ROOT"/}/env is missing): run scripts/services.sh start"
    cat -- "$STATE/env"
}

cmd_status() {
    local name pid any=0
    for name in "${ALL_SERVICES[@]}"; do
        if pid=$(recorded_pid "$name"); then
            printf '%-9s running (pid %s)\n' "$name" "$pid"
            any=1
        elif [[ -f $STATE/$name.pid ]]; then
            printf '%-9s not running (stale record)\n' "$name"
        else
            printf '%-9s not running\n' "$name"
        fi
    done
    warn_orphans
    ((any)) && [[ -f $STATE/env ]] && printf 'environment: %s\n' "$STATE/env"
    return 0
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        start | stop | env | status | clean) ;;
        -h | --help | help)
            usage
            return 0
            ;;
        '')
            usage >&2
            die "no command given"
            ;;
        *)
            usage >&2
            die "unknown command '$cmd'"
            ;;
    esac
    if [[ $cmd == env || $cmd == status || $cmd == clean ]] && (($#)); then
        die "'$cmd' takes no arguments"
    fi

    # One invocation at a time. Every process started below gets 9>&-, so
    # no service inherits (and holds) this lock.
    exec 9<"${BASH_SOURCE[0]}"
    flock 9

    case $cmd in
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        env) cmd_env ;;
        status) cmd_status ;;
        clean)
            cmd_stop
            rm -rf -- "$STATE" "$OUTSIDE"
            log "removed ${STATE#"$ROOT"/}"
            ;;
    esac
}

names=()
started=()
picked_ports=()
port=
proc_state=
proc_start=
moto_pid=
moto_port=
main "$@"
