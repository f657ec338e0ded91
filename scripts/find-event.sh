#!/usr/bin/env bash
# Tells the story of one event from the logs: when the producer created it, sent it and retried
# it, what every consumer replica made of it (processed, duplicate, rejected, failed), whether it
# was dead-lettered and redriven, and its replays, with times and pods, in the order they happened.
set -euo pipefail

NAMESPACE="${NAMESPACE:-knative-demo}"
KUBECTL="${KUBECTL:-kubectl}"
MAX_LOG_REQUESTS="${MAX_LOG_REQUESTS:-20}"
ID=""
TRACE=""
LOGS=()

usage() {
  cat <<EOF
Usage: $(basename "$0") ID [--logs PATH]... [-n NAMESPACE]
       $(basename "$0") --trace TRACE_ID [--logs PATH]... [-n NAMESPACE]

Prints every step of the event with this id, or of the events of this trace, from the JSON log
lines of the producer, every consumer replica (the priority consumer's too) and the dead-letter
display, sorted by time:

  TIME                            POD                  STEP
  2026-12-06T13:32:26.315749823Z  producer-7d9f-x2x9z  created (demo.event)
  2026-12-06T13:32:27.896594015Z  producer-7d9f-x2x9z  retried: attempt 1 got 503: ..., next in 20 ms
  2026-12-06T13:32:27.949883087Z  producer-7d9f-x2x9z  sent: the broker answered 202 (attempt 2)
  2026-12-06T13:32:37.152773120Z  consumer-5b7c-aaaaa  processed: 202 in 6.5 ms

Steps: created, sent, retried, failed, undelivered (producer); processed, duplicate, rejected,
failed, deferred, with the replay's name for a replayed copy (consumer); dead-lettered and the
dead letter's code, destination and reason, redriven (dead-letter display).

Without --logs it reads the logs of the running pods with 'kubectl logs --selector --prefix'
(the current containers only: lines of a restarted container's previous run or of a deleted
pod are not there; export them from your log store and give them with --logs).

  --trace TRACE_ID     the events whose lines carry this trace id (32 hex digits)
  --logs PATH          read recorded logs instead: a file, or a directory of files, of JSON
                       lines, each plain or prefixed [pod/<name>/<container>] as 'kubectl logs
                       --prefix' writes them; a plain line's pod is its "pod" field, else the
                       file's name without extension. Repeatable
  -n, --namespace NS   namespace of the demo (default: \$NAMESPACE, else knative-demo)
  -h, --help           show this help

Needs jq. Environment: NAMESPACE (knative-demo), KUBECTL (kubectl), MAX_LOG_REQUESTS (20,
concurrent log streams).
EOF
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --trace | --logs | -n | --namespace)
        [[ $# -ge 2 ]] || { echo "error: $1 needs a value" >&2; exit 2; }
        case "$1" in
          --trace) TRACE="$2" ;;
          --logs) LOGS+=("$2") ;;
          *) NAMESPACE="$2" ;;
        esac
        shift
        ;;
      -h | --help) usage; exit 0 ;;
      -*) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
      *)
        [[ -z $ID ]] || { echo "error: one event id at a time ('$ID', then '$1')" >&2; exit 2; }
        ID="$1"
        ;;
    esac
    shift
  done
  [[ -n $ID || -n $TRACE ]] || { echo "error: give an event id or --trace TRACE_ID (see --help)" >&2; exit 2; }
  [[ -z $ID || -z $TRACE ]] || { echo "error: an event id or --trace, not both" >&2; exit 2; }
  command -v jq >/dev/null || { echo "error: find-event.sh needs jq (Debian: apt-get install jq)" >&2; exit 1; }
}

# Every log line as [pod/<name>/<container>] <line>: recorded files get their name as the pod,
# which a line's own "pod" field overrides later.
recorded_logs() {
  local path file
  for path in "${LOGS[@]}"; do
    [[ -e $path ]] || { echo "error: --logs $path does not exist" >&2; exit 1; }
    while IFS= read -r file; do
      sed -E "/^\[pod\//! s|^|[pod/$(basename "${file%.*}")/-] |" "$file"
    done < <(find "$path" -type f | sort)
  done
}

# Every Deployment that runs a program, consumer-priority of k8s/components/priority-routing included
# (a component not listed has no pods, and the others still match).
cluster_logs() {
  "$KUBECTL" logs --namespace "$NAMESPACE" --prefix --tail -1 --max-log-requests "$MAX_LOG_REQUESTS" \
    --selector 'app.kubernetes.io/name=knative-eventing-demo,app.kubernetes.io/component in (consumer,consumer-priority,dead-letter,producer)'
}

# The story as jq tells it, one line per step. Times sort as text once every fraction has nine
# digits (Instant prints 0, 3, 6 or 9). The producer's lines carry the event's time: its creation.
STORY='
def sortable: capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$") as $t | $t.s + "." + (($t.f // "") + "000000000")[:9];
def pad($width): . + (" " * ($width - length + 2));
def replay: if .replay then " (replay \(.replay))" else "" end;
def reason: if (.reason // "") != "" then ": \(.reason)" else "" end;
def step:
  if .msg == "event" and .outcome == "dead-letter" then "dead-lettered: received by the dead-letter display\(replay)"
  elif .msg == "event" then "\(.outcome)\(replay): \(.status)\(reason) in \(.duration_ms) ms"
  elif .msg == "sent" then "sent: the broker answered \(.status) (attempt \(.attempts))"
  elif .msg == "retry" then "retried: attempt \(.attempt) got \(.status)\(reason), next in \(.delay_ms) ms"
  elif .msg == "failed" then "failed: the producer gave up after \(.attempts) attempts, \(.status)\(reason)"
  elif .msg == "undelivered" then "undelivered: still held at shutdown after \(.attempts) attempts"
  elif .msg == "dead letter" then "dead letter: code \(.knativeerrorcode // "none") from \(.knativeerrordest // "no destination")\(if .knativeerrordata then ": \(.knativeerrordata)" else "" end)"
  elif (.msg | test("redriv")) then "redriven\(if .status then ": \(.status)" else "" end)"
  else .msg end;
[ inputs
  | capture("^\\[pod/(?<pod>[^/]+)/[^\\]]*\\] (?<text>.*)$")
  | .pod as $pod | .text | fromjson? | objects | select(.id != null and .ts != null)
  | . + {pod: (.pod // $pod)} ]
| (if $trace == "" then [$id] else [.[] | select(.trace_id == $trace) | .id] | unique end) as $ids
| [.[] | select(.id as $x | any($ids[]; . == $x))]
| if length == 0 then "" | halt_error(1) else . end
| [(group_by(.id)[] | map(select(.time != null)) | first // empty | {ts: .time, pod, text: "created (\(.type))"}),
   (.[] | {ts, pod, text: step})]
| sort_by(.ts | sortable)
| (map(.pod | length) + [3] | max) as $width
| ("TIME" | pad(30)) + ("POD" | pad($width)) + "STEP",
  (.[] | (.ts | pad(30)) + (.pod | pad($width)) + .text)
'

main() {
  parse_args "$@"
  local lines story
  if ((${#LOGS[@]} > 0)); then lines="$(recorded_logs)"; else lines="$(cluster_logs)"; fi
  if ! story="$(jq --null-input --raw-input --raw-output --arg id "$ID" --arg trace "$TRACE" "$STORY" <<<"$lines")"; then
    echo "No log line mentions ${ID:+event $ID}${TRACE:+trace $TRACE} ($(grep -c . <<<"$lines") lines read)" >&2
    exit 1
  fi
  echo "Event ${ID:-of trace $TRACE}:"
  echo "$story"
}

main "$@"
