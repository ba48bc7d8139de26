# shellcheck shell=bash
# Three release nodes on a fresh database, for the benchmark scripts (bench-compare, bench-cluster).
# Source it after lib.sh with ROOT, PG (a server URL) and WORK (a scratch directory) set; it defines
#   start_nodes BIN_DIR TAG: a database of its own, nodes on HTTP 9065/9165/9265 and gossip
#     9074/9174/9274 (cluster name cmpTAG), logs under WORK/TAG; the starling processes' pids in
#     `node_pids` (what to measure), their `timeout` wrappers' in `pids`, the database in `DB`;
#   stop_nodes: SIGKILL the nodes and drop the database;
# and U1, U2, U3: the harness's --url arguments for the first one, two or three nodes.

pids=()
node_pids=()
DB=""
U1="--url http://127.0.0.1:9065"
U2="$U1 --url http://127.0.0.1:9165"
U3="$U2 --url http://127.0.0.1:9265"
stop_nodes() {
    # each node runs in a process group of its own (setsid), so its `timeout` wrapper goes too
    for p in "${pids[@]}"; do kill -9 -- "-$p" 2>/dev/null || kill -9 "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    node_pids=()
    if [ -n "$DB" ]; then
        psql -w -d "$PG/postgres" -qAtc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    DB=""
}

start_nodes() { # BIN_DIR TAG
    DB=starling_cmp_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    psql -w -d "$PG/postgres" -qAtc "CREATE DATABASE \"$DB\"" >/dev/null
    for n in 1 2 3; do
        off=$(( (n - 1) * 100 ))
        dir=$WORK/$2/n$n
        mkdir -p "$dir"
        MM_SQLSETTINGS_DATASOURCE="$PG/$DB?sslmode=disable" MM_SQLSETTINGS_MAXOPENCONNS=24 \
        MM_SERVICESETTINGS_LISTENADDRESS="127.0.0.1:$((9065 + off))" \
        MM_FILESETTINGS_DIRECTORY="$WORK/$2/data/" MM_PLUGINSETTINGS_DIRECTORY="$dir/plugins" \
        MM_LOGSETTINGS_FILELOCATION="$dir" MM_LOGSETTINGS_CONSOLELEVEL=WARN \
        MM_TEAMSETTINGS_ENABLEOPENSERVER=true MM_TEAMSETTINGS_MAXUSERSPERTEAM=100000 MM_METRICSSETTINGS_ENABLE=false \
        MM_CLUSTERSETTINGS_ENABLE=true MM_CLUSTERSETTINGS_CLUSTERNAME="cmp$2" \
        MM_CLUSTERSETTINGS_GOSSIPPORT="$((9074 + off))" MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME=127.0.0.1 \
        MM_CLUSTERSETTINGS_BINDADDRESS=127.0.0.1 \
            setsid timeout 1800 "$1/starling" serve --config "$ROOT/config.example.json" >"$dir/out.log" 2>&1 &
        pids+=($!)
    done
    for n in 1 2 3; do
        wait_for_ping "http://127.0.0.1:$((9065 + (n - 1) * 100))" "${pids[$((n - 1))]}" 60 \
            || { tail -n 30 "$WORK/$2/n$n/out.log" >&2; die "node $n of $2 did not come up"; }
    done
    # The node itself is the wrapper's child: its pid is the one whose CPU and RSS mean anything.
    for p in "${pids[@]}"; do
        child=$(pgrep -P "$p" -x starling | head -n 1)
        [ -n "$child" ] || die "no starling process under pid $p"
        node_pids+=("$child")
    done
    sleep 2 # the cluster links
}
