#!/usr/bin/env bash
# Runs the event flow on this machine: consumer.java on CONSUMER_PORT, producer.java sending to it
# (standing in for the Broker), both through scripts/jbang, their output interleaved with a prefix.
set -euo pipefail

usage() {
  cat <<USAGE
usage: scripts/run-local.sh [--duration SECONDS]

Starts consumer.java, waits until it listens, then starts producer.java with
K_SINK pointing at it, and prints where to look: the live page, the metrics, and
a curl line that sends one event by hand. Needs only a JDK 17+: JBang is fetched
by scripts/jbang.

Runs until Ctrl-C, until --duration seconds have passed, or until the producer
ends a bounded run (COUNT). Then it stops the producer first (SIGTERM: it delivers
what it holds and prints its books, the "stopped" line), then the consumer, and
removes its temporary folder. A second Ctrl-C kills what still runs.

If a program exits before it is ready (a port taken, a compile error), the script
stops at once and names the program, its exit code and its last lines.

Exit status: 0 when both stopped cleanly after --duration or a bounded run;
130 after Ctrl-C (143 after SIGTERM), however the programs stopped; 1 when a
program failed to start, ended by itself, or stopped with an error.

Environment (defaults):
  CONSUMER_PORT  8080   port of the consumer (POST /, the live page GET /, /healthz, /readyz, /metrics)
  PRODUCER_PORT  8081   port of the producer's /healthz, /readyz, /metrics
  RATE           2      events per second the producer emits
  START_TIMEOUT  300    seconds each program may take to become ready: the first start
                        fetches JBang and the dependencies and compiles, later ones take seconds
  any other setting of producer.java or consumer.java (see README) passes through
USAGE
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSUMER_PORT="${CONSUMER_PORT:-8080}"
PRODUCER_PORT="${PRODUCER_PORT:-8081}"
RATE="${RATE:-2}"
START_TIMEOUT="${START_TIMEOUT:-300}"
# Created once the traps are set, so that every way out removes it.
WORK=""
# Per program: the line that says it is ready, the PID to signal, starting/running/ended, its exit code, and the
# PID of its follower.
consumer_ready='"msg":"listening"' consumer_pid="" consumer_state="" consumer_status="" consumer_follower=""
producer_ready='"msg":"started"' producer_pid="" producer_state="" producer_status="" producer_follower=""

# The value of a per-program variable above: `get producer state`.
get() {
  local var="${1}_$2"
  printf '%s' "${!var}"
}

# Starts a program with its output going through a follower (below). The program's own PID is what we
# signal later: scripts/jbang replaces itself with the program's JVM. Ctrl-C in a terminal reaches every
# process of the group: the program ignores it, so that this script stops the two in order.
start_program() {
  local name="$1"; shift
  mkfifo "$WORK/$name.out"
  : >"$WORK/$name.log"
  follow "$name" "$(get "$name" ready)" <"$WORK/$name.out" 3>&- &
  printf -v "${name}_follower" %s "$!"
  (trap '' INT; exec "$ROOT/scripts/jbang" "$@") >"$WORK/$name.out" 2>&1 3>&- &
  printf -v "${name}_pid" %s "$!"
  printf -v "${name}_state" starting
}

# Prints the program's lines with a [name] prefix and tells the main loop, through the events FIFO, when the
# program has logged its ready line and when it has ended (closed its output). Until it is ready the lines are
# read one by one, to spot that line and to keep them for a failure report; then sed passes on the rest at
# full speed. It ends with the program's output, never on a signal sent to the whole group: the script waits
# for its "ended".
follow() {
  local name="$1" ready="$2" line
  trap '' INT TERM
  while IFS= read -r line || [[ -n "$line" ]]; do
    printf '[%s] %s\n' "$name" "$line"
    printf '%s\n' "$line" >>"$WORK/$name.log"
    if [[ "$line" == *"$ready"* ]]; then
      echo "ready $name" >"$WORK/events"
      break
    fi
  done
  sed -u "s/^/[$name] /"
  echo "ended $name" >"$WORK/events"
}

# Waits up to $1 seconds (no argument: as long as it takes) for one event from a follower and records it.
# A timeout or a trapped signal ends the wait having recorded nothing: callers check the state they wait for.
next_event() {
  local event name status=0
  read -r -u 3 ${1:+-t "$1"} event name || return 0
  case "$event" in
    ready) printf -v "${name}_state" running ;;
    ended)
      printf -v "${name}_state" ended
      wait "$(get "$name" pid)" || status=$?
      printf -v "${name}_status" %s "$status"
      ;;
  esac
}

# Waits until the program has logged its ready line; ends the run at once, saying why, when a program
# ends first or START_TIMEOUT passes.
await_ready() {
  local name="$1" ready deadline=$((SECONDS + START_TIMEOUT))
  ready="$(get "$name" ready)"
  until [[ "$(get "$name" state)" == running ]]; do
    if [[ "$consumer_state" == ended || "$producer_state" == ended ]]; then fail_ended "$name"; fi
    if ((SECONDS >= deadline)); then
      echo "run-local: $name did not log $ready within START_TIMEOUT=$START_TIMEOUT s; its output is above." \
        "On a slow machine or network, allow more with START_TIMEOUT" >&2
      exit 1
    fi
    next_event $((deadline - SECONDS))
  done
}

# Names each program that has ended, with its exit code, and ends the run with status 1. Argument: the program
# that was starting (its lines until then are kept), none once both ran.
fail_ended() {
  local starting="${1:-}" name port_var when="while running"
  if [[ -n "$starting" ]]; then when="while the $starting was starting"; fi
  for name in consumer producer; do
    [[ "$(get "$name" state)" == ended ]] || continue
    if [[ "$name" != "$starting" ]]; then
      echo "run-local: $name exited with code $(get "$name" status) $when; its last lines are above" >&2
      continue
    fi
    echo "run-local: $name exited with code $(get "$name" status) during start-up, before it logged $(get "$name" ready);" \
      "its last lines:" >&2
    tail -n 15 "$WORK/$name.log" | sed 's/^/  /' >&2
    if grep -q 'Address already in use' "$WORK/$name.log"; then
      port_var="$(tr '[:lower:]' '[:upper:]' <<<"$name")_PORT"
      echo "run-local: port ${!port_var} is taken: stop what listens there, or choose another with $port_var" >&2
    fi
  done
  exit 1
}

# What to open and what to paste once both run. The curl line is a complete, valid demo.event in binary mode.
print_where_to_look() {
  local consumer="http://localhost:$CONSUMER_PORT" here=""
  [[ "$PWD" == "$ROOT" ]] || here="cd $(printf '%q' "$ROOT") && "
  cat <<EOF
run-local: both are running. Where to look:
  live page         $consumer/
  consumer metrics  $consumer/metrics
  producer metrics  http://localhost:$PRODUCER_PORT/metrics
run-local: send one event by hand (binary mode; the consumer answers 202 and logs it, as a duplicate if the ce-id comes again):
  curl -sS -w '%{http_code}\n' $consumer/ -H 'ce-specversion: 1.0' -H 'ce-id: hello-1' -H 'ce-source: /local/curl' -H 'ce-type: demo.event' -H 'content-type: application/json' -d '{"message":"hello"}'
run-local: to see the dead-letter display, start a consumer in dead-letter mode in another terminal,
  ${here}PORT=8082 scripts/jbang consumer.java --dead-letter
  then open http://localhost:8082/ and send it the curl line above with port 8082: it lists every event it gets
run-local: Ctrl-C stops both, the producer first (it delivers what it holds), then the consumer
EOF
}

# Runs until the duration has passed (none: until Ctrl-C, which the INT trap handles) or a program ends by
# itself: the producer after a bounded run (COUNT), anything else is a failure. Then stops both.
run() {
  local duration="$1" deadline=$((SECONDS + ${1:-0}))
  while [[ "$consumer_state" == running && "$producer_state" == running ]]; do
    if [[ -n "$duration" ]] && ((SECONDS >= deadline)); then
      echo "run-local: $duration s elapsed, stopping"
      break
    fi
    next_event ${duration:+$((deadline - SECONDS))}
  done
  if [[ "$consumer_state" == ended || ("$producer_state" == ended && "$producer_status" != 0) ]]; then fail_ended; fi
  if [[ "$producer_state" == ended ]]; then echo "run-local: the producer has finished its bounded run"; fi
  stop_all
}

# Stops whatever still runs, the producer first so that it can deliver what it holds while the consumer
# still listens. Fails when a program stopped with an error.
stop_all() {
  case "$consumer_state $producer_state" in *starting* | *running*) ;; *) return 0 ;; esac
  echo "run-local: stopping the producer first (it delivers what it holds and prints its books), then the consumer"
  stop_program producer
  stop_program consumer
  [[ "${producer_status:-0}" == 0 && "${consumer_status:-0}" == 0 ]]
}

# SIGTERM (the programs drain on it), then waits until the program's follower has passed on its last line.
stop_program() {
  local name="$1"
  [[ "$(get "$name" state)" == starting || "$(get "$name" state)" == running ]] || return 0
  signal_tree TERM "$(get "$name" pid)"
  until [[ "$(get "$name" state)" == ended ]]; do next_event; done
  echo "run-local: $name stopped (exit $(get "$name" status))"
}

# Until scripts/jbang has replaced itself with the program's JVM, the JVM that fetches or compiles is its
# child, and would hold up the launcher's exit: the signal goes to every descendant too.
signal_tree() {
  local signal="$1" pid="$2" child
  for child in $(pgrep -P "$pid"); do signal_tree "$signal" "$child"; done
  # A process that has ended meanwhile is what we want, not an error.
  kill "-$signal" "$pid" 2>/dev/null || return 0
}

# A second Ctrl-C while stopping: kill what still runs.
kill_all() {
  local name
  echo "run-local: killing what still runs" >&2
  for name in producer consumer; do
    if [[ "$(get "$name" state)" != ended && -n "$(get "$name" pid)" ]]; then signal_tree KILL "$(get "$name" pid)"; fi
  done
}

# Every way out comes here (the end, a failure, Ctrl-C, SIGTERM, a timeout): no program, follower or
# temporary file outlives the script. The exit status stays the one the script was leaving with.
cleanup() {
  local status=$? name follower
  trap kill_all INT TERM
  if ! stop_all && ((status == 0)); then status=1; fi
  for name in consumer producer; do
    follower="$(get "$name" follower)"
    if [[ -n "$follower" ]]; then wait "$follower" || status=1; fi
  done
  if [[ -n "$WORK" ]]; then rm -rf "$WORK"; fi
  exit "$status"
}

main() {
  local duration=""
  while (($#)); do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --duration)
        duration="${2:-}"
        [[ "$duration" =~ ^[0-9]+$ ]] || { echo "run-local: --duration needs whole seconds" >&2; exit 2; }
        shift 2 ;;
      *) echo "run-local: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
  done
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap cleanup EXIT
  WORK="$(mktemp -d)"
  mkfifo "$WORK/events"
  # Read and write: opening does not wait for a writer, and the FIFO never reports end-of-file.
  exec 3<>"$WORK/events"

  echo "run-local: starting consumer on port $CONSUMER_PORT (the first start fetches JBang and compiles;" \
    "up to START_TIMEOUT=$START_TIMEOUT s)"
  # EVENT_SCHEMAS defaults to k8s/schemas of the working directory: name this repository's, wherever we run from.
  PORT="$CONSUMER_PORT" EVENT_SCHEMAS="${EVENT_SCHEMAS:-$ROOT/k8s/schemas}" start_program consumer "$ROOT/consumer.java"
  await_ready consumer

  echo "run-local: starting producer at $RATE events/s, K_SINK=http://localhost:$CONSUMER_PORT"
  PORT="$PRODUCER_PORT" K_SINK="http://localhost:$CONSUMER_PORT" RATE="$RATE" \
    start_program producer "$ROOT/producer.java"
  await_ready producer

  print_where_to_look
  run "$duration"
}

main "$@"
