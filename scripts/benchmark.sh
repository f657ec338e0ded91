#!/usr/bin/env bash
# Measures consumer.java and producer.java on this machine (throughput, latency at a fixed rate, memory,
# start-up, the producer's rate) and, when a folder of peer consumers is present, the same for those peers,
# then writes the table with machine, versions, method and ratios to tests/benchmark/RESULTS.md.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/benchmark.sh [--smoke] [--no-peers]

Runs, side by side and interleaved, every consumer through the same steps:
start -> ready (GET /readyz, peers /healthz) -> idle RSS -> warm-up -> saturation
(wrk -t$THREADS -c$CONNS, or the JDK-only tests/benchmark/LoadGenerator.java) ->
open-loop latency at $RATE ev/s -> stop. consumer.java runs as users start it
(scripts/jbang consumer.java) with PROCESSING_TIME_MS=0: the peers do no simulated
work either. Then warm and cold starts of consumer.java, then producer.java at
$PRODUCER_RATE ev/s for $PRODUCER_DURATION s against a fast sink. Runs disturbed by
other processes (more than $OTHER_MAX cores) are repeated and left out of the medians.
Writes $RESULTS; raw outputs stay in $WORK_DIR/<time>/. A full run takes about 12 min.

  --smoke     a few seconds: consumer.java only, built-in load generator, no
              start-up or producer phases; prints the RESULT line, writes no document
  --no-peers  leave the peer consumers out even when PEERS_DIR exists

Environment (defaults):
  RUNS 2               rounds over all consumers (each round interleaves them)
  PIN 1                consumer on the second allowed CPU, load tools on the first (0: no pinning)
  WARMUP 10  DURATION 15  THREADS 2  CONNS 32     saturation test (JIT warm-up: about 8 s on one core)
  RATE 2000  FIXED_DURATION 15                     open-loop latency test
  IDLE_SETTLE 10       seconds between ready and the idle RSS snapshot (start-up JIT work done)
  LOAD auto            wrk when installed, else java (LoadGenerator.java)
  STARTS 5  COLD 1     warm starts of consumer.java; 1 = also one cold start
                       (empty JBang and Maven caches: downloads from MAVEN_REPO_URL)
  PRODUCER_RATE 5000  PRODUCER_DURATION 60    producer phase (0 skips it)
  JDK25_HOME           a JDK 25 (the cluster image's): consumer.java runs on it too, as
                       consumer.java@jdk25 [the first /usr/lib/jvm/*25* with bin/java; empty: none]
  VARIANTS             more consumers to compare, one "label=command" a line, run
                       from the repository root with PORT set, e.g.
                       'serial=JAVA_TOOL_OPTIONS=-XX:+UseSerialGC PROCESSING_TIME_MS=0 exec scripts/jbang consumer.java'
  PEERS_DIR ../shared/peers (beside this repository)   peer consumers, used when present
  PEERS_WORK ~/.cache/ce-peers   where that folder's setup.sh built them
  PEERS "go node python"   which of them (empty: none)
  OTHER_MAX 0.10  QUIET_WAIT 60  RETRIES 1     quiet-machine detection
  PORT 18180  HEALTH_TIMEOUT 180  KEEP_LOGS 0 (1 keeps every log line; they are deleted once counted)
  RESULTS tests/benchmark/RESULTS.md   WORK_DIR tests/target/benchmark
Needs a JDK 17+ and util-linux (taskset, setsid); wrk (Debian package wrk) for the reference saturation test.
USAGE
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMOKE=0
USE_PEERS=1
RUNS="${RUNS:-2}"
PIN="${PIN:-1}"
WARMUP="${WARMUP:-10}"
DURATION="${DURATION:-15}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
RATE="${RATE:-2000}"
FIXED_DURATION="${FIXED_DURATION:-15}"
IDLE_SETTLE="${IDLE_SETTLE:-10}"
LOAD="${LOAD:-auto}"
STARTS="${STARTS:-5}"
COLD="${COLD:-1}"
PRODUCER_RATE="${PRODUCER_RATE:-5000}"
PRODUCER_DURATION="${PRODUCER_DURATION:-60}"
VARIANTS="${VARIANTS:-}"
PEERS_DIR="${PEERS_DIR:-$ROOT/../shared/peers}"
PEERS_WORK="${PEERS_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/ce-peers}"
PEERS="${PEERS-go node python}"
OTHER_MAX="${OTHER_MAX:-0.10}"
QUIET_WAIT="${QUIET_WAIT:-60}"
RETRIES="${RETRIES:-1}"
PORT="${PORT:-18180}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-180}"
KEEP_LOGS="${KEEP_LOGS:-0}"
RESULTS="${RESULTS:-$ROOT/tests/benchmark/RESULTS.md}"
WORK_DIR="${WORK_DIR:-$ROOT/tests/target/benchmark}"
OURS="consumer.java"
OURS_COMMAND="CONSUMER_MODE=events FAILURE_RATE=0 PROCESSING_TIME_MS=0 POD_NAME=benchmark exec scripts/jbang consumer.java"
OURS_JDK25="consumer.java@jdk25"
if [[ -z "${JDK25_HOME+set}" ]]; then
  JDK25_HOME=$(for home in /usr/lib/jvm/*25*; do [[ -x "$home/bin/java" ]] && { echo "$home"; break; }; done || true)
fi

say() { echo "[benchmark $(date +%H:%M:%S)] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ------------------------------------------------------------------ processes and CPU

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

# ------------------------------------------------------------------ load

LOADGEN_CLASSES=""
loadgen() { # loadgen fixed|closed --flag=value...
  on_cpu "$LOAD_CPU" java -XX:+UseSerialGC -Xmx256m -cp "$LOADGEN_CLASSES" LoadGenerator "$@"
}
compile_loadgen() {
  LOADGEN_CLASSES="$WORK_DIR/loadgen"
  local source="$ROOT/tests/benchmark/LoadGenerator.java"
  if [[ ! "$LOADGEN_CLASSES/LoadGenerator.class" -nt "$source" ]]; then
    say "compiling tests/benchmark/LoadGenerator.java"
    mkdir -p "$LOADGEN_CLASSES"
    javac -d "$LOADGEN_CLASSES" "$source"
  fi
}

# saturate <seconds> <url> <output file>: closed loop; prints "requests=… rps=… p50_ms=… p99_ms=… non2xx=… sock_err=…"
saturate() {
  local seconds="$1" url="$2" out="$3"
  if [[ "$LOAD" == wrk ]]; then
    on_cpu "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNS" -d"${seconds}s" --timeout 5s \
      -s "$ROOT/tests/benchmark/events.lua" "$url" >"$out" 2>&1
    grep '^WRK ' "$out" || { cat "$out" >&2; die "wrk printed no result"; }
  else
    loadgen closed --url="$url" --seconds="$seconds" --connections="$CONNS" >"$out" 2>&1
    grep '^LOAD ' "$out" || { cat "$out" >&2; die "LoadGenerator printed no result"; }
  fi
}

# ------------------------------------------------------------------ one consumer, one run

# measure <label> <dir> <health path> <command>: prints one RESULT line and appends it to results.log.
measure() {
  local label="$1" dir="$2" health="$3" command="$4"
  local run url="http://127.0.0.1:$PORT"
  run="$RUN_DIR/$(date +%H%M%S)-$label"
  mkdir -p "$run"
  echo "$command" >"$run/command"
  await_quiet
  say "$label: starting ($command)"
  local t0; t0=$(date +%s%N)
  start_server "$dir" "$command" "$run/stdout.log" "$run/stderr.log" "$PORT" "$SERVER_CPU"
  local pid=$SERVER_PID ready idle
  ready=$(await_ready "$PORT" "$health" "$pid" "$run/stderr.log" "$t0")
  sleep "$IDLE_SETTLE"
  idle=$(snapshot "$pid")
  say "$label: ready after ${ready}s, idle $(mib "$(kv rss_kib "$idle")") MiB"

  start_sampler "$pid" "$run/peak_kib"
  say "$label: warm-up ${WARMUP}s"
  saturate "$WARMUP" "$url/" "$run/warmup.txt" >/dev/null
  local cpu_a m_a sat cpu_b m_b
  cpu_a=$(kv cpu_ticks "$(snapshot "$pid")"); m_a=$(mark)
  say "$label: saturation ${DURATION}s ($LOAD, $CONNS connections)"
  sat=$(saturate "$DURATION" "$url/" "$run/saturation.txt")
  m_b=$(mark); cpu_b=$(kv cpu_ticks "$(snapshot "$pid")")
  kill -0 "$pid" 2>/dev/null || die "$label died under load (see $run)"
  sleep 2
  say "$label: open loop at $RATE ev/s for ${FIXED_DURATION}s"
  local m_c fixed m_d
  m_c=$(mark)
  fixed=$(loadgen fixed --url="$url/" --rate="$RATE" --seconds="$((FIXED_DURATION + 1))" --warmup=1 \
    --connections="$CONNS" | tee "$run/fixed.txt")
  m_d=$(mark)
  stop_sampler
  local peak after
  peak=$(cat "$run/peak_kib" 2>/dev/null || echo 0)
  sleep 1
  after=$(snapshot "$pid")
  stop_server "$pid"

  local lines others_sat others_fixed quiet=yes
  # one log line per event is part of the work measured: count what reached stdout
  lines=$(wc -l <"$run/stdout.log")
  drop_log "$run/stdout.log"
  others_sat=$(cores_between "$m_a" "$m_b")
  others_fixed=$(cores_between "$m_c" "$m_d")
  le "$others_sat" "$OTHER_MAX" && le "$others_fixed" "$OTHER_MAX" || quiet=no
  local requests; requests=$(kv requests "$sat")
  local line
  line=$(awk -v label="$label" -v rps="$(kv rps "$sat")" -v p50="$(kv p50_ms "$sat")" -v p99="$(kv p99_ms "$sat")" \
    -v frate="$RATE" -v fach="$(kv rps "$fixed")" -v fp50="$(kv p50_ms "$fixed")" -v fp99="$(kv p99_ms "$fixed")" \
    -v fmax="$(kv max_ms "$fixed")" -v flate="$(kv late_p99_ms "$fixed")" -v fdrop="$(kv dropped "$fixed")" \
    -v idle="$(kv rss_kib "$idle")" -v peak="$peak" -v after="$(kv rss_kib "$after")" \
    -v non2xx="$(($(kv non2xx "$sat") + $(kv non2xx "$fixed")))" \
    -v sockerr="$(($(kv sock_err "$sat") + $(kv sock_err "$fixed")))" \
    -v cpu="$(((cpu_b - cpu_a) * 1000000 / CLK_TCK))" -v requests="$requests" -v seconds="$DURATION" \
    -v ready="$ready" -v lines="$lines" -v procs="$(kv procs "$idle")" -v load="$LOAD" \
    -v pin="${SERVER_CPU:+cpu$SERVER_CPU}" -v othr="$others_sat" -v ofix="$others_fixed" -v quiet="$quiet" 'BEGIN {
      printf "RESULT name=%s load=%s pin=%s rps=%.0f p50_ms=%.2f p99_ms=%.2f", label, load, (pin == "" ? "none" : pin), rps, p50, p99
      printf " fixed_rate=%s fixed_achieved=%.0f fixed_p50_ms=%.2f fixed_p99_ms=%.2f fixed_max_ms=%.1f fixed_late_p99_ms=%.2f fixed_dropped=%d",
        frate, fach, fp50, fp99, fmax, flate, fdrop
      printf " idle_rss_mib=%.1f peak_rss_mib=%.1f after_rss_mib=%.1f procs=%d", idle / 1024, peak / 1024, after / 1024, procs
      printf " cpu_us_per_ev=%.1f srv_cores=%.2f ready_s=%s non2xx=%d sock_err=%d loglines=%d", \
        (requests > 0 ? cpu / requests : 0), cpu / 1e6 / seconds, ready, non2xx, sockerr, lines
      printf " other_cores=%s/%s quiet=%s\n", othr, ofix, quiet }')
  echo "$line" | tee -a "$RUN_DIR/results.log"
  say "$label: $(kv rps "$line") req/s, p99 $(kv fixed_p99_ms "$line") ms at $RATE ev/s, peak $(kv peak_rss_mib "$line") MiB, quiet=$quiet"
}

mib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }

# A run logs a line per event, hundreds of MB: keep its first lines as a sample unless KEEP_LOGS=1.
drop_log() {
  [[ "$KEEP_LOGS" == 1 ]] && return 0
  head -n 3 "$1" >"$1.head"
  rm -f -- "$1"
}

measure_until_quiet() { # as measure, repeated up to RETRIES times when other processes took CPU
  local attempt line
  for attempt in $(seq 0 "$RETRIES"); do
    line=$(measure "$@")
    echo "$line"
    [[ "$line" == *" quiet=no"* ]] || return 0
    ((attempt < RETRIES)) && say "$1: the machine was busy during that run: again"
  done
  return 0
}

# ------------------------------------------------------------------ start-up and producer

# start_once <label> <warm|cold> <dir> <health> <command>: one start to ready, unpinned (the Deployment sets
# no CPU limit), appended to starts.log.
start_once() {
  local label="$1" kind="$2" dir="$3" health="$4" command="$5" out m t0 ready others quiet=yes
  out="$RUN_DIR/start-$kind-$label-$(date +%H%M%S%N)"
  m=$(mark); t0=$(date +%s%N)
  start_server "$dir" "$command" "$out.stdout" "$out.stderr" "$PORT"
  ready=$(await_ready "$PORT" "$health" "$SERVER_PID" "$out.stderr" "$t0")
  others=$(cores_between "$m" "$(mark)")
  stop_server
  le "$others" "$OTHER_MAX" || quiet=no
  echo "START name=$label kind=$kind ready_s=$ready other_cores=$others quiet=$quiet" | tee -a "$RUN_DIR/starts.log" >&2
}

# Warm starts of consumer.java and the VARIANTS (interleaved), then one cold start of consumer.java with empty
# JBang and Maven caches, as a new pod does it.
measure_starts() {
  local round entry label dir health command
  ((STARTS > 0)) && say "start-up: $STARTS warm starts each"
  for round in $(seq 1 "$STARTS"); do
    for entry in "$@"; do
      IFS='|' read -r label dir health command <<<"$entry"
      [[ "$dir" == "$ROOT" ]] || continue
      await_quiet
      say "start-up $round/$STARTS: $label"
      start_once "$label" warm "$dir" "$health" "$command"
    done
  done
  ((COLD)) || return 0
  local cold="$RUN_DIR/cold-caches"
  say "start-up: one cold start (JBang and every dependency fetched from ${MAVEN_REPO_URL:-Maven Central}, then compiled)"
  await_quiet
  start_once "$OURS" cold "$ROOT" /readyz \
    "JBANG_DIR='$cold/jbang' JBANG_CACHE_DIR='$cold/jbang/cache' JBANG_REPO='$cold/m2' $OURS_COMMAND"
  rm -rf "$cold"
}

scrape_producer() { # scrape_producer <port>: sent/skipped/failed/retried totals from the producer's /metrics
  http_get "$1" /metrics | awk '
    /^producer_events_sent_total/ { s += $NF } /^producer_events_skipped_total/ { k += $NF }
    /^producer_events_failed_total/ { f += $NF } /^producer_events_retried_total/ { r += $NF }
    END { printf "sent=%d skipped=%d failed=%d retried=%d\n", s, k, f, r }'
}

PRODUCER_PID=""
SINK_PID=""
# producer.java at PRODUCER_RATE for PRODUCER_DURATION seconds (after 5 s of warm-up), counted on its /metrics.
measure_producer() {
  ((PRODUCER_DURATION > 0)) || return 0
  local sink_label="$OURS" sink_dir="$ROOT" sink_health=/readyz sink_command="$OURS_COMMAND" entry
  for entry in "$@"; do
    # the Go peer is the lightest sink, so the producer has the machine to itself as far as possible
    [[ "$entry" == go\|* ]] && IFS='|' read -r sink_label sink_dir sink_health sink_command <<<"$entry"
  done
  local sink_port=$((PORT + 1)) producer_port=$((PORT + 2)) out="$RUN_DIR/producer"
  mkdir -p "$out"
  await_quiet
  say "producer: $PRODUCER_RATE ev/s for ${PRODUCER_DURATION}s into $sink_label"
  start_server "$sink_dir" "$sink_command" "$out/sink.stdout" "$out/sink.stderr" "$sink_port" "$LOAD_CPU"
  SINK_PID=$SERVER_PID SERVER_PID=""
  await_ready "$sink_port" "$sink_health" "$SINK_PID" "$out/sink.stderr" "$(date +%s%N)" >/dev/null
  start_server "$ROOT" "RATE=$PRODUCER_RATE K_SINK=http://127.0.0.1:$sink_port POD_NAME=benchmark exec scripts/jbang producer.java" \
    "$out/producer.stdout" "$out/producer.stderr" "$producer_port" "$SERVER_CPU"
  PRODUCER_PID=$SERVER_PID SERVER_PID=""
  await_ready "$producer_port" /readyz "$PRODUCER_PID" "$out/producer.stderr" "$(date +%s%N)" >/dev/null
  sleep 5
  local a b ta tb m_a m_b
  a=$(scrape_producer "$producer_port"); ta=$(date +%s%N); m_a=$(mark)
  sleep "$PRODUCER_DURATION"
  b=$(scrape_producer "$producer_port"); tb=$(date +%s%N); m_b=$(mark)
  stop_server "$PRODUCER_PID"; PRODUCER_PID=""
  stop_server "$SINK_PID"; SINK_PID=""
  local books others quiet=yes
  books=$(grep -o '"msg":"stopped",.*' "$out/producer.stdout" | tr -d '"{} ' | sed 's/^msg:stopped,//')
  drop_log "$out/producer.stdout"
  drop_log "$out/sink.stdout"
  others=$(cores_between "$m_a" "$m_b")
  le "$others" "$OTHER_MAX" || quiet=no
  awk -v rate="$PRODUCER_RATE" -v sink="$sink_label" -v a="$a" -v b="$b" -v ta="$ta" -v tb="$tb" -v books="$books" \
    -v others="$others" -v quiet="$quiet" '
    function get(line, key,   n, i, kv) { n = split(line, kv, "[ =]"); for (i = 1; i < n; i += 2) if (kv[i] == key) return kv[i + 1]; return 0 }
    BEGIN {
      seconds = (tb - ta) / 1e9; sent = get(b, "sent") - get(a, "sent"); achieved = sent / seconds
      printf "PRODUCER name=producer.java sink=%s rate=%s seconds=%.2f sent=%d achieved=%.1f deviation_pct=%.2f", sink, rate, seconds, sent, achieved, (achieved - rate) * 100 / rate
      printf " skipped=%d failed=%d retried=%d books=%s other_cores=%s quiet=%s\n", get(b, "skipped") - get(a, "skipped"),
        get(b, "failed") - get(a, "failed"), get(b, "retried") - get(a, "retried"), (books == "" ? "none" : books), others, quiet
    }' | tee -a "$RUN_DIR/producer.log" >&2
}

# ------------------------------------------------------------------ the document

versions() {
  local lock="$ROOT/scripts/deps.lock" entry py
  echo "- Java: $(java -version 2>&1 | sed -n 2p) (the cluster's image runs JDK 25)"
  [[ -n "$JDK25_HOME" ]] && echo "- $OURS_JDK25: $("$JDK25_HOME/bin/java" -version 2>&1 | sed -n 2p), as in the image"
  echo "- JBang $(sed -n 's/.*jbang-cli:\([^ ;]*\).*/\1/p' "$ROOT/scripts/jbang.lock" | head -n1)," \
    "Vert.x $(grep -o 'vertx-core/[^/]*' "$lock" | head -n1 | cut -d/ -f2)," \
    "Netty $(grep -o 'netty-common/[^/]*' "$lock" | head -n1 | cut -d/ -f2)," \
    "CloudEvents SDK $(grep -o 'cloudevents-core/[^/]*' "$lock" | head -n1 | cut -d/ -f2)," \
    "Jackson $(grep -o 'jackson-core/2[^/]*' "$lock" | head -n1 | cut -d/ -f2) (from scripts/*.lock)"
  if [[ "$LOAD" == wrk ]]; then
    echo "- load: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2) with tests/benchmark/events.lua; open loop: tests/benchmark/LoadGenerator.java"
  else
    echo "- load: tests/benchmark/LoadGenerator.java, closed and open loop (wrk was not installed)"
  fi
  for entry in "$@"; do
    case "$entry" in
      go\|*) echo "- peer go: standard library only$(command -v go >/dev/null && go version "$PEERS_WORK/.build/ce-consumer-go" | sed 's/.*: */, /')" ;;
      node\|*) echo "- peer node: Node.js $(node --version), cloudevents" \
        "$(node -p "require('$PEERS_WORK/node/node_modules/cloudevents/package.json').version"), express" \
        "$(node -p "require('$PEERS_WORK/node/node_modules/express/package.json').version")" ;;
      python\|*) py=$(head -n1 "$(command -v gunicorn)" | sed 's/^#! *//')
        echo "- peer python: $(gunicorn --version 2>&1 | tr -d '()') (1 worker x 8 threads), Flask" \
          "$($py -c 'import importlib.metadata as m; print(m.version("flask"))'), $($py --version)" ;;
    esac
  done
}

# shellcheck disable=SC2016 # an awk program: its $ are awk's
# The tables: medians (with [min–max]) of the quiet runs per consumer, ratios to the Go peer, start-up,
# producer rate, and the issue's targets.
TABLES_AWK='
  function fmt(x) { return (x >= 100 || x == int(x)) ? sprintf("%.0f", x) : sprintf("%.3g", x) }
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo = a[1]; hi = a[n]
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function stat(k, c,   i, a, n) {
    n = 0
    for (i = 1; i <= runs[k]; i++) if (quiet[k] == 0 || val[k, i, "quiet"] == "yes") a[++n] = val[k, i, c] + 0
    return n ? median(a, n) : ""
  }
  function cell(k, c,   m) {
    m = stat(k, c)
    return m == "" ? "–" : fmt(m) (lo != hi ? " [" fmt(lo) "–" fmt(hi) "]" : "")
  }
  function targets(k, on,   t) {
    if (hasgo) {
      t = stat(k, "rps") / go_rps
      printf "| saturation throughput ≥ 1.0× Go%s | %.2f× | %s |\n", on, t, (t >= 1.0 ? "yes" : "no")
      t = stat(k, "fixed_p99_ms") / go_p99
      printf "| p99 at %s ev/s ≤ 1.5× Go%s | %.2f× | %s |\n", rate, on, t, (t <= 1.5 ? "yes" : "no")
    }
    t = stat(k, "idle_rss_mib")
    printf "| idle RSS ≤ 64 MiB%s | %s MiB | %s |\n", on, fmt(t), (t <= 64 ? "yes" : "no")
    stat(k, "peak_rss_mib"); t = hi
    printf "| peak RSS under load ≤ 160 MiB%s | %s MiB (highest kept run) | %s |\n", on, fmt(t), (t <= 160 ? "yes" : "no")
    if ((k SUBSEP "warm") in startMedian) {
      t = startMedian[k, "warm"]; printf "| warm start to ready ≤ 0.5 s%s | %s s | %s |\n", on, fmt(t), (t <= 0.5 ? "yes" : "no")
    }
    if ((k SUBSEP "cold") in startMedian) {
      t = startMedian[k, "cold"]; printf "| cold start to ready ≤ 8 s%s | %s s | %s |\n", on, fmt(t), (t <= 8 ? "yes" : "no")
    }
  }
  function ratio(x, y) { return (y > 0 && x != "") ? sprintf("%.2f", x / y) : "–" }
  function fields(line, arr,   i, n, f, p) {
    n = split(line, f, " ")
    for (i = 2; i <= n; i++) { p = index(f[i], "="); arr[substr(f[i], 1, p - 1)] = substr(f[i], p + 1) }
  }
  /^RESULT / {
    delete v; fields($0, v); k = v["name"]
    if (!(k in runs)) order[++nk] = k
    i = ++runs[k]; quiet[k] += (v["quiet"] == "yes")
    for (c in v) val[k, i, c] = v[c]
    val[k, i, "errors"] = v["non2xx"] + v["sock_err"]
  }
  /^START / {
    delete v; fields($0, v); k = v["name"] SUBSEP v["kind"]
    if (!(k in starts)) sorder[++ns] = k
    sval[k, ++starts[k]] = v["ready_s"] + 0; squiet[k] += (v["quiet"] == "yes")
  }
  /^PRODUCER / { fields($0, prod); producer = 1 }
  END {
    hasgo = ("go" in runs)
    if (hasgo) { go_rps = stat("go", "rps"); go_p99 = stat("go", "fixed_p99_ms") }
    print "## Consumers\n"
    print "Median of the kept runs, [min–max] when they differ; × Go is the ratio to the Go peer (req/s: higher is"
    print "better, p99: lower is better). Errors: non-2xx answers and socket errors of both tests.\n"
    print "| consumer | runs kept | req/s | × Go | CPU µs/event | p99 ms at " rate " ev/s | × Go | p50 ms at " rate " ev/s | idle RSS MiB | peak RSS MiB | ready s | errors | log lines |"
    print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    for (x = 1; x <= nk; x++) {
      k = order[x]
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", (k == ours ? "**" k "**" : k),
        (quiet[k] ? quiet[k] "/" runs[k] : "0/" runs[k] ", all shown"), cell(k, "rps"),
        (hasgo ? ratio(stat(k, "rps"), go_rps) : "–"), cell(k, "cpu_us_per_ev"), cell(k, "fixed_p99_ms"),
        (hasgo ? ratio(stat(k, "fixed_p99_ms"), go_p99) : "–"), cell(k, "fixed_p50_ms"), cell(k, "idle_rss_mib"),
        cell(k, "peak_rss_mib"), cell(k, "ready_s"), cell(k, "errors"), cell(k, "loglines")
    }
    if (ns) {
      print "\n## Start-up\n"
      print "From launch to the first 2xx on /readyz, not pinned (the Deployment sets no CPU limit). Warm: JBang cache"
      print "and local Maven repository filled, as for a restarted container. Cold: both empty, as for a new pod:"
      print "JBang and every dependency fetched, verified and the script compiled.\n"
      print "| consumer | start | runs (quiet) | ready s |"
      print "|---|---|--:|--:|"
      for (x = 1; x <= ns; x++) {
        k = sorder[x]; split(k, nameKind, SUBSEP); delete a
        for (i = 1; i <= starts[k]; i++) a[i] = sval[k, i]
        startMedian[k] = median(a, starts[k])
        printf "| %s | %s | %d (%d) | %s%s |\n", nameKind[1], nameKind[2], starts[k], squiet[k], fmt(startMedian[k]),
          (lo != hi ? " [" fmt(lo) "–" fmt(hi) "]" : "")
      }
    }
    if (producer) {
      print "\n## Producer rate\n"
      print "producer.java with RATE=" prod["rate"] " into the " prod["sink"] " consumer, counted on its /metrics"
      print "(producer_events_sent_total) over " prod["seconds"] " s after 5 s of warm-up. Books: its own \"stopped\" line,"
      print "counted from its start, so they include the warm-up.\n"
      print "| asked ev/s | achieved ev/s | deviation | skipped | failed | retried | books | quiet |"
      print "|--:|--:|--:|--:|--:|--:|---|---|"
      printf "| %s | %s | %s %% | %s | %s | %s | %s | %s |\n", prod["rate"], prod["achieved"], prod["deviation_pct"],
        prod["skipped"], prod["failed"], prod["retried"], prod["books"], prod["quiet"]
    }
    if (!(ours in runs)) exit
    print "\n## Targets\n"
    print "| target | measured | met |"
    print "|---|--:|---|"
    targets(ours, "")
    if (ours25 in runs) targets(ours25, " (" ours25 ")")
    if (producer) {
      t = prod["deviation_pct"] + 0; t = (t < 0 ? -t : t)
      printf "| producer holds %s ev/s within 1 %% | %s %% | %s |\n", prod["rate"], prod["deviation_pct"],
        (t <= 1 && prod["skipped"] + 0 == 0 ? "yes" : "no")
    }
  }'

write_results() {
  local pinning="consumer on CPU $SERVER_CPU, load tools on CPU $LOAD_CPU"
  [[ -n "$SERVER_CPU" ]] || pinning="nothing pinned"
  mkdir -p "$(dirname "$RESULTS")"
  {
    cat <<DOC
# Benchmark results

Written by \`scripts/benchmark.sh\` on $(date -u +"%Y-%m-%d %H:%M UTC") in $(((SECONDS + 59) / 60)) min; run it again to
refresh this page. Raw outputs of that run: \`${RUN_DIR#"$ROOT/"}/\` (not in git).

## Machine and versions

- $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores$(lscpu | sed -n 's/^Hypervisor vendor: *\(.*\)/ (\1 guest)/p'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)$([[ -f /etc/debian_version ]] && echo ", Debian $(cat /etc/debian_version)")
$(versions "$@")

## Method

- Every consumer goes through the same steps, one at a time, interleaved over $RUNS rounds so that slow drift
  of the machine hits all alike; $pinning. Before each run the script waits (up to ${QUIET_WAIT} s) until
  processes outside it use at most $OTHER_MAX cores; a run during which they used more is repeated (up to
  $RETRIES time(s)) and left out of the medians.
- consumer.java starts as users start it, \`scripts/jbang consumer.java\`, with **PROCESSING_TIME_MS=0**: the
  peers do no simulated work, so neither does it. Each event is decoded, validated, deduplicated, answered 202
  and logged as one JSON line; every consumer's stdout goes to a file.
- Saturation: $WARMUP s warm-up, then $DURATION s with $CONNS connections (\`$LOAD\`) posting binary-mode
  CloudEvents with data valid for each of the three types in turn, each with an id of its own. CPU µs/event
  is the consumer's CPU time per event answered: the figure least disturbed by the load tool on the same machine.
- Latency: open loop at $RATE ev/s for $FIXED_DURATION s (the first second left out), measured from each
  request's due time, so queueing shows instead of slowing the sender down.
- Memory: RSS of the consumer's whole process tree, $IDLE_SETTLE s after ready (idle) and the highest 200 ms
  sample under load (peak). Ready: from launch to the first 2xx on /readyz (peers: /healthz).
- Commands (from the repository root; peers from their built copy in \`PEERS_WORK\`):
$(for entry in "$@"; do IFS='|' read -r label _ _ command <<<"$entry"; echo "  - $label: \`$command\`"; done)

DOC
    awk -v ours="$OURS" -v ours25="$OURS_JDK25" -v rate="$RATE" "$TABLES_AWK" "$RUN_DIR/results.log" "$RUN_DIR/starts.log" "$RUN_DIR/producer.log"
    printf '\nWhy a target is missed, and every tuning step with the measurement that decided it: [TUNING.md](TUNING.md).\n'
  } >"$RESULTS.tmp"
  mv -f -- "$RESULTS.tmp" "$RESULTS"
}

# ------------------------------------------------------------------ main

main() {
  while (($#)); do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      --smoke) SMOKE=1; shift ;;
      --no-peers) USE_PEERS=0; shift ;;
      *) echo "benchmark: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
  done
  if ((SMOKE)); then
    RUNS=1 USE_PEERS=0 WARMUP=1 DURATION=2 RATE=200 FIXED_DURATION=2 IDLE_SETTLE=1 LOAD=java
    STARTS=0 COLD=0 PRODUCER_DURATION=0 VARIANTS="" JDK25_HOME="" QUIET_WAIT=0 RETRIES=0
  fi
  for tool in java javac taskset setsid timeout awk; do
    command -v "$tool" >/dev/null || die "$tool not found"
  done
  if [[ "$LOAD" == auto ]]; then
    if command -v wrk >/dev/null; then LOAD=wrk; else LOAD=java; say "wrk not found: saturating with LoadGenerator.java (apt-get install wrk for the reference setup)"; fi
  fi
  SERVER_CPU="" LOAD_CPU=""
  if [[ "$PIN" == 1 ]]; then
    # the first two CPUs this process may use (a container's cpuset need not start at 0)
    local cpus
    mapfile -t cpus < <(awk '/^Cpus_allowed_list/ { n = split($2, r, ","); for (i = 1; i <= n; i++) {
      if (split(r[i], b, "-") == 1) b[2] = b[1]; for (c = b[1]; c <= b[2]; c++) print c } }' /proc/self/status)
    if ((${#cpus[@]} >= 2)); then LOAD_CPU=${cpus[0]} SERVER_CPU=${cpus[1]}; fi
  fi

  RUN_DIR="$WORK_DIR/$(date +%Y%m%d-%H%M%S)"
  mkdir -p "$RUN_DIR"
  touch "$RUN_DIR/results.log" "$RUN_DIR/starts.log" "$RUN_DIR/producer.log"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  compile_loadgen

  local consumers=("$OURS|$ROOT|/readyz|$OURS_COMMAND")
  [[ -n "$JDK25_HOME" ]] && consumers+=("$OURS_JDK25|$ROOT|/readyz|JAVA_HOME='$JDK25_HOME' $OURS_COMMAND")
  local spec
  while IFS= read -r spec; do
    [[ -n "$spec" ]] && consumers+=("${spec%%=*}|$ROOT|/readyz|${spec#*=}")
  done <<<"$VARIANTS"
  if ((USE_PEERS)) && [[ -d "$PEERS_DIR" ]]; then
    local name
    for name in $PEERS; do
      case "$name" in
        go) [[ -x "$PEERS_WORK/.build/ce-consumer-go" ]] \
              && consumers+=("go|$PEERS_WORK|/healthz|exec .build/ce-consumer-go") ;;
        node) [[ -d "$PEERS_WORK/node/node_modules" ]] && command -v node >/dev/null \
              && consumers+=("node|$PEERS_WORK|/healthz|exec node node/server.js") ;;
        python) command -v gunicorn >/dev/null && [[ -f "$PEERS_WORK/python/app.py" ]] \
              && consumers+=("python|$PEERS_WORK|/healthz|exec gunicorn --chdir python --bind 127.0.0.1:\$PORT --workers 1 --threads 8 --timeout 0 app:app") ;;
        *) die "unknown peer $name (go, node, python)" ;;
      esac || say "peer $name is not built in $PEERS_WORK: run $PEERS_DIR/setup.sh once; going on without it"
    done
  elif ((USE_PEERS)); then
    say "no peers at $PEERS_DIR: measuring this project alone"
  fi

  say "consumers: $(printf '%s\n' "${consumers[@]}" | cut -d'|' -f1 | tr '\n' ' ')(load: $LOAD, pinned: ${SERVER_CPU:-no})"
  # The first start of a script compiles it; on JDK 25 its first exit also writes the class-data archive.
  local warm=$RUN_DIR/prepare entry label dir health command
  mkdir -p "$warm"
  for entry in "${consumers[@]}"; do
    IFS='|' read -r label dir health command <<<"$entry"
    [[ "$dir" == "$ROOT" ]] || continue
    say "making sure $label is built and its caches are filled"
    start_server "$ROOT" "$command" "$warm/stdout.log" "$warm/stderr.log" "$PORT"
    await_ready "$PORT" /readyz "$SERVER_PID" "$warm/stderr.log" "$(date +%s%N)" >/dev/null
    stop_server
  done

  local run
  for run in $(seq 1 "$RUNS"); do
    for entry in "${consumers[@]}"; do
      IFS='|' read -r label dir health command <<<"$entry"
      say "=== round $run/$RUNS: $label"
      measure_until_quiet "$label" "$dir" "$health" "$command"
    done
  done

  ((SMOKE)) && return 0
  measure_starts "${consumers[@]}"
  measure_producer "${consumers[@]}"
  write_results "${consumers[@]}"
  say "wrote ${RESULTS#"$ROOT/"}"
}

main "$@"
