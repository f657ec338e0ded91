#!/usr/bin/env bash
# Follows the event flow in the cluster: the JSON log lines of every consumer replica (and on
# request the dead-letter display and the producer) in one stream, each prefixed by its pod.
# consumer-priority (k8s/components/priority-routing) is a consumer too: selected whenever present.
set -euo pipefail

NAMESPACE="${NAMESPACE:-knative-demo}"
KUBECTL="${KUBECTL:-kubectl}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-120s}"
# kubectl's default of 5 concurrent streams is too few for 2 consumers, a dead-letter display,
# the producer and a rollout's surge pod.
MAX_LOG_REQUESTS="${MAX_LOG_REQUESTS:-10}"
COMPONENTS=(consumer consumer-priority)
TAIL=10

usage() {
  cat <<EOF
Usage: $(basename "$0") [--dead-letter] [--producer] [--all] [--tail N] [-n NAMESPACE]

Waits until the pods are ready, then follows their logs with 'kubectl logs --selector
--prefix --follow': one JSON line per event from every consumer replica (consumer-priority's
too, with the priority-routing component), prefixed with
[pod/<name>/app]. Pods started later (a rollout, a scale-up) are not picked up: run it again.

  --dead-letter        also the dead-letter display (events that exhausted their retries)
  --producer           also the producer (sent, retry, failed lines)
  --all                consumers, dead-letter display and producer
  --tail N             lines of history per pod before following (default 10; -1 = all)
  -n, --namespace NS   namespace of the demo (default: \$NAMESPACE, else knative-demo)
  -h, --help           show this help

Environment: NAMESPACE (knative-demo), KUBECTL (kubectl), WAIT_TIMEOUT (120s),
MAX_LOG_REQUESTS (10, concurrent log streams).
EOF
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dead-letter) COMPONENTS+=(dead-letter) ;;
      --producer) COMPONENTS+=(producer) ;;
      --all) COMPONENTS=(consumer consumer-priority dead-letter producer) ;;
      --tail)
        [[ $# -ge 2 ]] || { echo "error: --tail needs a number" >&2; exit 2; }
        TAIL="$2"
        shift
        ;;
      -n | --namespace)
        [[ $# -ge 2 ]] || { echo "error: $1 needs a namespace" >&2; exit 2; }
        NAMESPACE="$2"
        shift
        ;;
      -h | --help) usage; exit 0 ;;
      *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
}

# The demo's pods of the chosen components, as one set-based label selector.
selector() {
  local unique
  unique="$(printf '%s\n' "${COMPONENTS[@]}" | sort -u | paste -sd, -)"
  echo "app.kubernetes.io/name=knative-eventing-demo,app.kubernetes.io/component in ($unique)"
}

main() {
  parse_args "$@"
  local pods
  pods="$(selector)"
  echo "Waiting up to $WAIT_TIMEOUT for pods '$pods' in namespace $NAMESPACE to be ready" >&2
  "$KUBECTL" wait pod --namespace "$NAMESPACE" --selector "$pods" --for condition=Ready --timeout "$WAIT_TIMEOUT"
  echo "Following their logs (Ctrl-C stops)" >&2
  exec "$KUBECTL" logs --namespace "$NAMESPACE" --selector "$pods" --prefix --follow \
    --tail "$TAIL" --max-log-requests "$MAX_LOG_REQUESTS"
}

main "$@"
