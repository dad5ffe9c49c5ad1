# SPDX-License-Identifier: MIT
# Shared by tests/integration/redis.sh and tests/soak.sh; sourced after
# common.sh.  Finds redis-server, redis-cli and redis-benchmark (skipping
# without them), starts a server on 127.0.0.1 and a free port, stops it by
# its PID.  Needs $tmp (a directory of the test's own) before start_server.

server=$(command -v redis-server 2>/dev/null) || skip "redis-server is not installed"
cli=$(command -v redis-cli 2>/dev/null) || skip "redis-cli is not installed (redis-tools)"
bench=$(command -v redis-benchmark 2>/dev/null) ||
    skip "redis-benchmark is not installed (redis-tools)"
command -v timeout >/dev/null 2>&1 || fail "timeout(1) is required"
have_ss=no
command -v ss >/dev/null 2>&1 && have_ss=yes
pid=
port=

# alive PID: the process exists and is not a zombie (an exited child that was
# not reaped yet still answers kill -0).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local st
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ]
}

# stop_server: SIGTERM, wait up to 10 s, then SIGKILL and wait up to 5 s more.
# Sets server_rc to the server's exit status ("" if it could not be reaped).
server_rc=
stop_server() {
    [ -n "$pid" ] || return 0
    local n=0
    kill "$pid" 2>/dev/null
    while alive "$pid" && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    if alive "$pid"; then
        echo "$name: redis-server (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
        kill -9 "$pid" 2>/dev/null
        n=0
        while alive "$pid" && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    fi
    wait "$pid" 2>/dev/null
    server_rc=$?
    pid=
}

rcli() { timeout 30 "$cli" -h 127.0.0.1 -p "$port" "$@" </dev/null; }

# show_log LOG: redis' own crash report if there is one, else the last lines.
show_log() {
    if grep -q 'BUG REPORT START' "$1"; then
        echo "$name: crash report in the redis-server log:" >&2
        sed -n '/BUG REPORT START/,/^------ REGISTERS/p' "$1" | head -n 60 | sed 's/^/    /' >&2
    else
        echo "$name: last lines of the redis-server log:" >&2
        tail -n 40 "$1" | sed 's/^/    /' >&2
    fi
}

# start_server LABEL PRELOAD: start on a free port (bounded retries), with
# PRELOAD as LD_PRELOAD (none if empty), its log in $tmp/LABEL.log and its
# directory $tmp/LABEL.dir; sets pid and port.
start_server() {
    local label=$1 preload=$2 attempt=0 n r rc log=$tmp/$1.log
    while [ "$attempt" -lt 10 ]; do
        attempt=$((attempt + 1))
        r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        port=$((20000 + r % 20001))
        if [ "$have_ss" = yes ] &&
           [ -n "$(ss -Hltn "( sport = :$port )" 2>/dev/null)" ]; then
            continue            # somebody listens there: try another port
        fi
        mkdir -p "$tmp/$label.dir"
        (cd "$tmp/$label.dir" && exec env -u LIBSTRATA ${preload:+LD_PRELOAD="$preload"} \
            "$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --dir "$tmp/$label.dir" --logfile '' \
            </dev/null >"$log" 2>&1) &
        pid=$!
        n=0
        while [ "$n" -lt 100 ]; do
            [ "$(rcli ping 2>/dev/null)" = PONG ] && return 0
            alive "$pid" || break
            sleep 0.1; n=$((n + 1))
        done
        if alive "$pid"; then
            show_log "$log"
            fail "redis-server ($label, pid $pid, port $port) did not answer PING within 10 s"
        fi
        wait "$pid"
        rc=$?
        pid=
        grep -q 'Address already in use' "$log" && continue   # lost a race for the port
        show_log "$log"
        fail "redis-server ($label) exited at start-up ($(describe "$rc"))"
    done
    fail "found no free port in 10 tries"
}
