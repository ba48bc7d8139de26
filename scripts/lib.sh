# shellcheck shell=bash
# Shell helpers shared by scripts/test, scripts/dev-up, scripts/dev-down and
# tests/clients/run. Source it; it defines functions and sets nothing else.
#
# Everything here talks to 127.0.0.1 only and every wait is bounded.

# log MESSAGE...: a progress line on stderr.
log() { printf '==> %s\n' "$*" >&2; }

# die MESSAGE...: an error line on stderr, then exit 1.
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

_APT_UPDATED=0

# apt_install PACKAGE...: install Debian packages (root only), running
# `apt-get update` once per process first.
apt_install() {
    [ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
    command -v apt-get >/dev/null || die "no apt-get to install $*"
    if [ "$_APT_UPDATED" = 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
        _APT_UPDATED=1
    fi
    log "apt-get install $*"
    # Packages must not start their daemons (nginx on :80, ...): the scripts
    # start what they need themselves. policy-rc.d exit 101 = "action forbidden".
    local policy=/usr/sbin/policy-rc.d ours=0 rc=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || rc=$?
    if [ "$ours" = 1 ]; then
        rm -f "$policy"
    fi
    [ "$rc" = 0 ] || die "apt-get install $* failed"
}

# pg_version: the newest PostgreSQL major version with a cluster config, or nothing.
pg_version() {
    find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1
}

# pg_can_connect URL: true when `psql` reaches URL (a server URL without a
# database; "postgres" is used) without a password.
pg_can_connect() {
    psql -w -d "${1%/}/postgres" -qAtc 'SELECT 1' >/dev/null 2>&1
}

# ensure_postgres URL: make PostgreSQL answer on 127.0.0.1:5432 with trust auth
# for 127.0.0.1, installing and starting the Debian cluster when needed.
ensure_postgres() {
    local url=${1%/} ver hba
    if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 && pg_can_connect "$url"; then
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null || [ -z "$(pg_version)" ]; then
        apt_install postgresql
    fi
    ver=$(pg_version)
    [ -n "$ver" ] || die "postgresql installed but /etc/postgresql is empty"
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$ver main"; then
        log "creating PostgreSQL $ver cluster main"
        pg_createcluster "$ver" main >&2 || die "pg_createcluster $ver main failed"
    fi
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        log "trusting 127.0.0.1 in $hba"
        # first match wins in pg_hba.conf: put ours on top
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    if pg_isready -q -h 127.0.0.1 -p 5432; then
        pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >&2 || true
    else
        log "starting PostgreSQL $ver main"
        pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 \
            || die "could not start PostgreSQL (see /var/log/postgresql/postgresql-$ver-main.log)"
    fi
    for _ in $(seq 1 60); do
        if pg_isready -q -h 127.0.0.1 -p 5432 && pg_can_connect "$url"; then
            return 0
        fi
        sleep 0.5
    done
    die "PostgreSQL does not accept connections at $url after 30 s"
}

# ensure_pg_connections URL N: make sure PostgreSQL allows at least N connections (the test suite
# runs several multi-node clusters, each node with its own pool), restarting it if it must.
ensure_pg_connections() {
    local url=${1%/} want=$2 have ver
    have=$(psql -w -d "$url/postgres" -qAtc "SHOW max_connections" 2>/dev/null || echo 0)
    [ "${have:-0}" -ge "$want" ] && return 0
    ver=$(pg_version)
    log "raising PostgreSQL max_connections from $have to $want"
    psql -w -d "$url/postgres" -qAtc "ALTER SYSTEM SET max_connections = $want" >/dev/null \
        || die "cannot set max_connections"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main restart >&2 || die "cannot restart PostgreSQL"
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && pg_can_connect "$url" && return 0
        sleep 0.5
    done
    die "PostgreSQL did not come back after the restart"
}

# alive PID: true while the process runs (an exited child that was not yet
# reaped is a zombie: kill -0 still succeeds on it, so look at its state).
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# http_status URL: print the HTTP status of a GET (000 when nothing answers).
http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

# wait_for_ping BASE_URL PID SECONDS: wait until GET BASE_URL/api/v4/system/ping
# answers 200. Fails early when process PID dies.
wait_for_ping() {
    local base=$1 pid=$2 limit=$3 deadline
    deadline=$(( $(date +%s) + limit ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if ! alive "$pid"; then
            log "the server (pid $pid) exited before answering ping"
            return 1
        fi
        if [ "$(http_status "$base/api/v4/system/ping")" = 200 ]; then
            return 0
        fi
        sleep 0.5
    done
    log "no 200 from $base/api/v4/system/ping within ${limit} s"
    return 1
}

# stop_pid PID [SECONDS]: SIGTERM the process, wait for it (default 15 s),
# then SIGKILL it. Safe to call when it is already gone.
stop_pid() {
    local pid=$1 limit=${2:-15}
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 $(( limit * 5 ))); do
        alive "$pid" || return 0
        sleep 0.2
    done
    log "pid $pid ignored SIGTERM for ${limit} s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}
