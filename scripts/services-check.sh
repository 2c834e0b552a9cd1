#!/usr/bin/env bash
# Checks the services started by scripts/services.sh with their own clients,
# using only what target/services/env says: psql, the mariadb client,
# redis-cli (AUTH as the admin user) and curl against moto.
#
# Usage: scripts/services-check.sh    (exit 1 when a running service fails)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
ENV_FILE=$ROOT/target/services/env

[[ -f $ENV_FILE ]] || {
    echo "services-check.sh: error: $ENV_FILE is missing: run scripts/services.sh start" >&2
    exit 1
}
# shellcheck source=/dev/null
. "$ENV_FILE"

failures=0
ok() { printf 'ok    %s\n' "$*"; }
bad() {
    printf 'FAIL  %s\n' "$*"
    failures=$((failures + 1))
}

if [[ -n ${MOTO_PORT:-} ]]; then
    if out=$(curl -sS --max-time 10 -X POST "$AWS_ENDPOINT_URL/moto-api/reset" 2>&1) \
        && [[ $out == *'"ok"'* ]]; then
        ok "moto: POST $AWS_ENDPOINT_URL/moto-api/reset -> $out"
    else
        bad "moto: POST $AWS_ENDPOINT_URL/moto-api/reset -> $out"
    fi
fi

if [[ -n ${PG_PORT:-} ]]; then
    if out=$(PGPASSWORD=$PG_SUPERPASSWORD PGCONNECT_TIMEOUT=5 psql -X -w -At \
        -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres \
        -c 'SELECT current_user, inet_server_addr(), version()' 2>&1); then
        ok "postgres: $out"
    else
        bad "postgres: $out"
    fi
fi

if [[ -n ${MYSQL_PORT:-} ]]; then
    # The client reads MYSQL_HOST itself; pass everything explicitly anyway.
    if out=$(MYSQL_PWD=$MYSQL_ADMIN_PASSWORD mariadb --no-defaults --protocol=tcp \
        -h "${MYSQL_HOST:?}" -P "$MYSQL_PORT" -u "$MYSQL_ADMIN_USER" --connect-timeout=5 -N -B \
        -e 'SELECT CURRENT_USER(), VERSION()' 2>&1); then
        ok "mariadb: ${out//$'\t'/ }"
    else
        bad "mariadb: $out"
    fi
fi

if [[ -n ${REDIS_PORT:-} ]]; then
    if out=$(REDISCLI_AUTH=$REDIS_ADMIN_PASSWORD redis-cli -h "${REDIS_HOST:?}" -p "$REDIS_PORT" \
        --user "$REDIS_ADMIN_USER" ACL WHOAMI 2>&1) && [[ $out == "$REDIS_ADMIN_USER" ]]; then
        ok "redis: ACL WHOAMI -> $out"
    else
        bad "redis: ACL WHOAMI -> $out"
    fi
fi

if ((failures)); then
    echo "services-check.sh: $failures service(s) failed" >&2
    exit 1
fi
