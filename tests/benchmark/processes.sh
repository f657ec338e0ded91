# shellcheck shell=bash
# Sourced by scripts/benchmark.sh: processes, their memory and CPU, and the quiet-machine check.

PAGE_KIB=$(($(getconf PAGESIZE) / 1024))
CLK_TCK=$(getconf CLK_TCK)

# One pass over /proc: "rss_kib=… cpu_ticks=… procs=… others_ticks=…" for the process tree of $1, and the CPU
# time of every process outside the tree of $2 (this script): other sessions, daemons, their reaped children.
snapshot() {
  local tree="$1" self="${2:-$$}"
  # Processes end while we read: cat reports the vanished ones, and they are rightly left out.
  { cat /proc/[0-9]*/stat 2>/dev/null || [[ $? -eq 1 ]]; } | awk -v tree="$tree" -v self="$self" -v page="$PAGE_KIB" '
    {
      pid = $1; sub(/^.*\) /, "")
      parent[pid] = $2; ticks[pid] = $12 + $13 + $14 + $15; rss[pid] = $22 * page
    }
    function within(p, root,   hops) {
      for (hops = 0; p != "" && p > 0 && hops < 64; hops++) { if (p == root) return 1; p = parent[p] }
      return 0
    }
    END {
      for (p in parent) {
        if (within(p, tree)) { r += rss[p]; own += ticks[p]; n++ }
        if (!within(p, self)) others += ticks[p]
      }
      printf "rss_kib=%d cpu_ticks=%d procs=%d others_ticks=%d\n", r, own, n, others
    }'
}

kv() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2" | head -n1; }

# "others_ticks nanoseconds" now; cores_between turns two marks into cores used by other processes.
mark() { echo "$(kv others_ticks "$(snapshot 0)") $(date +%s%N)"; }
cores_between() {
  awk -v a="$1" -v b="$2" -v hz="$CLK_TCK" 'BEGIN { split(a, x, " "); split(b, y, " ")
    printf "%.2f", (y[1] - x[1]) / hz / ((y[2] - x[2]) / 1e9) }'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

await_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) busy m
  while :; do
    m=$(mark); sleep 2; busy=$(cores_between "$m" "$(mark)")
    le "$busy" "$OTHER_MAX" && return 0
    if ((SECONDS >= deadline)); then
      say "other processes still use $busy cores after ${QUIET_WAIT}s: going ahead"
      return 0
    fi
    say "other processes use $busy cores: waiting for a quiet machine"
  done
}

on_cpu() { # on_cpu <cpu or empty> command...
  local cpu="$1"; shift
  if [[ -n "$cpu" ]]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

SERVER_PID=""
SAMPLER_PID=""
# start_server <dir> <command> <stdout> <stderr> <port> [cpu]: own session, so the whole group can be signalled.
start_server() {
  local dir="$1" command="$2" out="$3" err="$4" port="$5" cpu="${6:-}"
  port_free "$port" || die "port $port is already in use (set PORT)"
  (cd "$dir" && PORT="$port" exec setsid ${cpu:+taskset -c "$cpu"} bash -c "$command") >"$out" 2>"$err" </dev/null &
  SERVER_PID=$!
}

# http_get <port> <path>: the raw response of GET http://127.0.0.1:<port><path> (HTTP/1.0, so the server closes
# the connection after it); bash's /dev/tcp, so the benchmark needs no HTTP client of its own.
http_get() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 && timeout 5 cat <&3) 2>/dev/null
}
http_ok() { [[ "$(http_get "$1" "$2" | head -n1)" =~ ^HTTP/1\.[01]\ 2 ]]; }

# await_ready <port> <path> <pid> <stderr file> <start ns>: polls every 20 ms; prints the seconds since the start.
await_ready() {
  local port="$1" path="$2" pid="$3" err="$4" started="$5" deadline=$((SECONDS + HEALTH_TIMEOUT))
  until http_ok "$port" "$path"; do
    if ! kill -0 "$pid" 2>/dev/null; then tail -n 20 "$err" >&2; die "the consumer exited before $path answered"; fi
    ((SECONDS < deadline)) || die "no 2xx from port $port $path within ${HEALTH_TIMEOUT}s"
    sleep 0.02
  done
  awk -v a="$started" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'
}

stop_server() {
  local pid="${1:-$SERVER_PID}"
  [[ -n "$pid" ]] || return 0
  if kill -TERM -- "-$pid" 2>/dev/null; then
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "process group $pid ignored SIGTERM for 30 s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || [[ $? -eq 1 ]]
    fi
  fi
  wait "$pid" 2>/dev/null || [[ $? -ne 127 ]]
  [[ "$pid" != "$SERVER_PID" ]] || SERVER_PID=""
}

# Highest RSS of the tree of $1, sampled every 200 ms into $2 until killed.
start_sampler() {
  local pid="$1" file="$2"
  (
    peak=0
    while kill -0 "$pid" 2>/dev/null; do
      rss=$(kv rss_kib "$(snapshot "$pid")")
      ((rss > peak)) && { peak=$rss; echo "$peak" >"$file"; }
      sleep 0.2
    done
  ) &
  SAMPLER_PID=$!
}
stop_sampler() {
  [[ -n "$SAMPLER_PID" ]] || return 0
  kill "$SAMPLER_PID" 2>/dev/null || [[ $? -eq 1 ]]
  wait "$SAMPLER_PID" 2>/dev/null || [[ $? -ne 127 ]]
  SAMPLER_PID=""
}

cleanup() {
  stop_sampler
  stop_server
  [[ -z "${PRODUCER_PID:-}" ]] || stop_server "$PRODUCER_PID"
  [[ -z "${SINK_PID:-}" ]] || stop_server "$SINK_PID"
}
