#!/usr/bin/env bash
# Runs the event flow on this machine: consumer.java on CONSUMER_PORT, producer.java sending to it
# (standing in for the Broker), both through scripts/jbang, their JSON logs interleaved with a prefix.
set -euo pipefail

usage() {
  cat <<USAGE
usage: scripts/run-local.sh [--duration SECONDS]

Starts consumer.java, waits until it listens, then starts producer.java with
K_SINK pointing at it. Stops both gracefully (SIGTERM, drain) on Ctrl-C or
after --duration seconds. Needs only a JDK 17+: JBang is fetched by scripts/jbang.

Environment (defaults):
  CONSUMER_PORT  8080   port of the consumer (POST /, /healthz, /readyz, /metrics)
  PRODUCER_PORT  8081   port of the producer's /healthz, /readyz, /metrics
  RATE           2      events per second the producer emits
  any other setting of producer.java or consumer.java (see README) passes through
USAGE
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSUMER_PORT="${CONSUMER_PORT:-8080}"
PRODUCER_PORT="${PRODUCER_PORT:-8081}"
RATE="${RATE:-2}"
START_TIMEOUT="${START_TIMEOUT:-300}"
WORK="$(mktemp -d)"
consumer_pid=""
producer_pid=""

stop() {
  # Producer first, so it can deliver what it holds while the consumer still listens.
  local pid status=0
  for pid in "$producer_pid" "$consumer_pid"; do
    [[ -n "$pid" ]] || continue
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; fi
    wait "$pid" || status=$?
  done
  producer_pid=""
  consumer_pid=""
  return "$status"
}

# Follows a program's stdout with a prefix; the program's own PID is what we signal later.
start_program() {
  local name="$1"; shift
  mkfifo "$WORK/$name"
  sed -u "s/^/[$name] /" <"$WORK/$name" | tee "$WORK/$name.log" &
  "$ROOT/scripts/jbang" "$@" >"$WORK/$name" &
}

await_line() {
  local file="$1" pattern="$2" deadline=$((SECONDS + START_TIMEOUT))
  until grep -q "$pattern" "$file" 2>/dev/null; do
    if ((SECONDS > deadline)); then echo "run-local: timed out waiting for $pattern in $file" >&2; return 1; fi
    sleep 0.2
  done
}

main() {
  local duration=""
  while (($#)); do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --duration) duration="${2:?--duration needs seconds}"; shift 2 ;;
      *) echo "run-local: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
  done
  trap 'exit 130' INT TERM
  trap 'stop; rm -rf "$WORK"' EXIT

  echo "run-local: starting consumer on port $CONSUMER_PORT (the first start fetches JBang and compiles)"
  PORT="$CONSUMER_PORT" start_program consumer "$ROOT/consumer.java"
  consumer_pid=$!
  await_line "$WORK/consumer.log" '"msg":"listening"'

  echo "run-local: starting producer at $RATE events/s, K_SINK=http://localhost:$CONSUMER_PORT"
  PORT="$PRODUCER_PORT" K_SINK="http://localhost:$CONSUMER_PORT" RATE="$RATE" \
    start_program producer "$ROOT/producer.java"
  producer_pid=$!

  if [[ -n "$duration" ]]; then
    sleep "$duration"
    echo "run-local: $duration s elapsed, stopping"
  else
    wait "$producer_pid"
  fi
  stop
}

main "$@"
