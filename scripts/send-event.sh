#!/usr/bin/env bash
# Sends one test CloudEvent to the demo's Broker from inside the cluster: a short-lived curl pod
# posts it in binary mode to the Broker's address, prints the answer, and is deleted.
set -euo pipefail
# find_broker: without --broker, the namespace's one Broker, whatever a durable component named it.
source "$(dirname "${BASH_SOURCE[0]}")/lib/broker.sh"

NAMESPACE="${NAMESPACE:-knative-demo}"
KUBECTL="${KUBECTL:-kubectl}"
# Pinned; the tag names curl's release (github.com/curl/curl-container), published to Docker Hub.
CURL_IMAGE="${CURL_IMAGE:-curlimages/curl:8.21.0}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-120s}"
BROKER=""
TYPE=demo.event
DATA=""
ID=""

usage() {
  cat <<EOF
Usage: $(basename "$0") [--type TYPE] [--data JSON] [--id ID] [--broker NAME] [-n NAMESPACE]

Posts one CloudEvent (binary mode, JSON data) to the Broker's address (status.address.url)
from a pod in the namespace, and prints the Broker's HTTP status: 202 means accepted. The
consumer's log then shows it (scripts/follow-events.sh). The pod runs $CURL_IMAGE
under the namespace's "restricted" Pod Security level and carries the producer's component
label, so the NetworkPolicies that let the producer reach the Broker let it through too.

  --type TYPE          event type (default demo.event); a type no Trigger filters on is
                       accepted by the Broker and delivered nowhere
  --data JSON          event data (default: a valid sample for demo.event, user.created,
                       order.placed); invalid data is refused by the consumer and ends up
                       at the dead-letter display, e.g. --data '{"message":""}'
  --id ID              event id (default: a new UUID); the same id again is a duplicate
  --broker NAME        Broker name (default: the namespace's one Broker, default, or after
                       scripts/migrate-broker.sh default-kafka, default-kafka-channel, default-nats)
  -n, --namespace NS   namespace of the demo (default: \$NAMESPACE, else knative-demo)
  -h, --help           show this help

Environment: NAMESPACE (knative-demo), KUBECTL (kubectl), CURL_IMAGE ($CURL_IMAGE),
WAIT_TIMEOUT (120s, for the Broker to be ready and for the pod to start).

With Knative's authentication-oidc feature enabled the Broker takes only events with a token,
which the curl pod does not have: the script then stops and says how to send from the producer.
EOF
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --type | --data | --id | --broker | -n | --namespace)
        [[ $# -ge 2 ]] || { echo "error: $1 needs a value" >&2; exit 2; }
        case "$1" in
          --type) TYPE="$2" ;;
          --data) DATA="$2" ;;
          --id) ID="$2" ;;
          --broker) BROKER="$2" ;;
          *) NAMESPACE="$2" ;;
        esac
        shift
        ;;
      -h | --help) usage; exit 0 ;;
      *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
}

new_id() {
  if command -v uuidgen >/dev/null; then uuidgen | tr '[:upper:]' '[:lower:]'; else cat /proc/sys/kernel/random/uuid; fi
}

# Data the consumer accepts for each type it handles (README, the event table).
sample_data() {
  case "$1" in
    user.created) echo '{"user_id":"u-send-event","username":"send-event","email":"send-event@example.com"}' ;;
    order.placed) echo '{"order_id":"o-send-event","user_id":"u-send-event","amount":9.99,"items":[{"sku":"demo","quantity":1}]}' ;;
    *) echo '{"message":"sent by scripts/send-event.sh"}' ;;
  esac
}

# A DNS-1123 pod name from the event id: the pod is easy to match with the event it sent.
pod_name() {
  local suffix
  suffix="$(tr '[:upper:]' '[:lower:]' <<<"$1" | tr -c 'a-z0-9\n' '-' | cut -c1-40 | sed 's/-*$//')"
  echo "send-event-${suffix:-x}"
}

# Restricted Pod Security: non-root (the image's user is a name the kubelet cannot check, so a
# numeric one is set), no privilege escalation, no capabilities, RuntimeDefault seccomp. No API
# token, and small requests and limits. Strategic merge keeps kubectl run's own container fields.
overrides() {
  cat <<EOF
{"apiVersion":"v1","spec":{"automountServiceAccountToken":false,"enableServiceLinks":false,
"securityContext":{"runAsNonRoot":true,"runAsUser":10001,"runAsGroup":10001,"seccompProfile":{"type":"RuntimeDefault"}},
"containers":[{"name":"$1","securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}},
"resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"memory":"64Mi"}}}]}}
EOF
}

# Knative gives a Broker an audience exactly when its authentication-oidc feature is enabled; the
# ingress then answers 401 to a request without a token for it, and a curl pod has none.
refuse_if_a_token_is_required() {
  local audience
  audience="$("$KUBECTL" get broker "$BROKER" --namespace "$NAMESPACE" --output 'jsonpath={.status.address.audience}')"
  [[ -n "$audience" ]] || return 0
  cat >&2 <<EOF
error: broker/$BROKER accepts only events with an OIDC token for audience $audience: Knative's
authentication-oidc feature is enabled (config-features in knative-eventing), and this script's
curl pod has no token. Send the event from the producer, whose SinkBinding mounts one:
  kubectl --namespace $NAMESPACE exec deployment/producer -- sh /opt/boot/jbang /opt/app/producer.java --once $TYPE
(add --data JSON for your own data), or set authentication-oidc to "disabled" to use this script.
EOF
  exit 1
}

main() {
  parse_args "$@"
  [[ -n $BROKER ]] || find_broker
  ID="${ID:-$(new_id)}"
  DATA="${DATA:-$(sample_data "$TYPE")}"
  local pod url
  pod="$(pod_name "$ID")"

  echo "Waiting up to $WAIT_TIMEOUT for broker/$BROKER in namespace $NAMESPACE to be ready" >&2
  "$KUBECTL" wait broker "$BROKER" --namespace "$NAMESPACE" --for condition=Ready --timeout "$WAIT_TIMEOUT"
  url="$("$KUBECTL" get broker "$BROKER" --namespace "$NAMESPACE" --output 'jsonpath={.status.address.url}')"
  [[ -n "$url" ]] || { echo "error: broker/$BROKER has no status.address.url" >&2; exit 1; }
  refuse_if_a_token_is_required


  # A pod of an interrupted earlier run with the same id would block the name.
  "$KUBECTL" delete pod "$pod" --namespace "$NAMESPACE" --ignore-not-found --wait --timeout "$WAIT_TIMEOUT"

  echo "Sending $TYPE id=$ID to $url from pod $pod" >&2
  # The labels put the pod under the producer's NetworkPolicies (DNS, egress to the broker
  # ingress); the base's default-deny would block any other pod. The data goes through stdin,
  # so curl starts sending only once kubectl is attached and no output is lost.
  printf '%s' "$DATA" | "$KUBECTL" run "$pod" --namespace "$NAMESPACE" --image "$CURL_IMAGE" \
    --restart Never --rm --stdin --quiet --pod-running-timeout "$WAIT_TIMEOUT" \
    --labels "app.kubernetes.io/name=send-event,app.kubernetes.io/part-of=knative-eventing-demo,app.kubernetes.io/component=producer" \
    --override-type strategic --overrides "$(overrides "$pod")" \
    -- curl --silent --show-error --fail-with-body --max-time 30 \
    --header "ce-specversion: 1.0" --header "ce-id: $ID" --header "ce-type: $TYPE" \
    --header "ce-source: /apis/v1/namespaces/$NAMESPACE/pods/$pod" \
    --header "ce-time: $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --header "content-type: application/json" \
    --data-binary @- --write-out 'broker answered HTTP %{http_code}\n' "$url"
}

main "$@"
