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
each of $PRODUCER_RATE ev/s for $PRODUCER_DURATION s against a fast sink. Runs disturbed by
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
  PRODUCER_RATE "2000 5000"  PRODUCER_DURATION 60    producer phase, one run per rate (0 s skips it)
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
PRODUCER_RATE="${PRODUCER_RATE:-2000 5000}"
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

# Measuring and reporting live next to the benchmark's other parts.
# shellcheck source=../tests/benchmark/processes.sh
source "$ROOT/tests/benchmark/processes.sh"
# shellcheck source=../tests/benchmark/load.sh
source "$ROOT/tests/benchmark/load.sh"
# shellcheck source=../tests/benchmark/measure.sh
source "$ROOT/tests/benchmark/measure.sh"
# shellcheck source=../tests/benchmark/report.sh
source "$ROOT/tests/benchmark/report.sh"

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
