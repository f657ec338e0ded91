#!/usr/bin/env bash
# Replays what a durable Broker keeps in Kafka (k8s/components/kafka-broker, or kafka-channel)
# into the consumer or another subscriber: a KafkaSource with a consumer group of its own reads
# the Broker's topic from the beginning of retention or from a point in time, marks every copy
# with the CloudEvents extension replay=<name>, and is deleted once it has delivered everything
# the topic held when the replay started. The Triggers and their consumer groups are untouched.
set -euo pipefail
# find_broker: without --broker, the namespace's one Broker, whatever a durable component named it.
source "$(dirname "${BASH_SOURCE[0]}")/lib/broker.sh"
# The durable Triggers' retry timing, read from the one file that states it, so the replay retries alike.
readonly DURABLE_DELIVERY="$(dirname "${BASH_SOURCE[0]}")/../k8s/durable-delivery.yaml"

NAMESPACE="${NAMESPACE:-knative-demo}"
KUBECTL="${KUBECTL:-kubectl}"
# Pinned; Apache Kafka's own image, for its command-line tools (kafka-get-offsets.sh,
# kafka-consumer-groups.sh), the version the durable path was measured on.
KAFKA_IMAGE="${KAFKA_IMAGE:-apache/kafka:3.9.1}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-120s}"
REPLAY_TIMEOUT="${REPLAY_TIMEOUT:-3600}"
POLL_SECONDS="${POLL_SECONDS:-10}"
BROKER=""
NAME=""
START=""
SINCE=""
TO=consumer
TOPIC=""
BOOTSTRAP=""
KAFKA_NAMESPACE=""
DRY_RUN=false
DELETE=false
WAIT=true
# Where a replay records, on its KafkaSource, the end offsets it replays up to.
UNTIL_ANNOTATION=knative-eventing-demo/replay-until

usage() {
  cat <<EOF
Usage: $(basename "$0") (--from-beginning | --since TIME) [--to SERVICE] [--name NAME] [options]
       $(basename "$0") --delete --name NAME

Replays the events a Kafka Broker (k8s/components/kafka-broker) or the KafkaChannel of a
channel-based Broker (k8s/components/kafka-channel) holds into a Service of the namespace:

  1. notes the topic's end offsets: the replay ends there (events stored later are not replayed);
  2. positions a new consumer group, knative-replay-<namespace>-<name>, at the beginning of
     retention or at TIME (Kafka's kafka-consumer-groups.sh, from a pod running $KAFKA_IMAGE);
  3. applies a KafkaSource reading the topic with that group into the Service, adding the
     extension replay=<name> to every event (the consumer processes each replay run once more,
     and a redelivery of it once only), and NetworkPolicies that let the KafkaSource dispatcher
     reach the Service and the dead-letter display;
  4. waits until the group has passed the noted offsets, then deletes the KafkaSource (Knative
     deletes its consumer group) and the NetworkPolicies.

Run again with the same --name, an interrupted replay goes on where it stopped.

  --from-beginning       replay everything the topic still holds (its retention)
  --since TIME           replay what was stored at or after TIME: RFC 3339 (2026-12-01T08:00:00Z)
                         or anything GNU date reads ('2 hours ago')
  --to SERVICE           Service to replay into (default consumer); events of every type go
                         to it, the Triggers' filters do not apply
  --name NAME            name of the replay: KafkaSource, consumer group, replay extension
                         (default replay-<UTC date and time>, printed)
  --broker NAME          the Broker whose events are replayed (default: the namespace's one
                         Broker, default-kafka with kafka-broker, default-kafka-channel with kafka-channel)
  --topic TOPIC          Kafka topic (default: the Broker's or its KafkaChannel's status)
  --bootstrap-servers B  Kafka bootstrap servers (default: from the same place)
  --kafka-namespace NS   where the Kafka tool pod runs (default: the namespace in the
                         bootstrap address, e.g. kafka for my-cluster-kafka-bootstrap.kafka:9092)
  --no-wait              leave the KafkaSource running; delete it later with --delete
  --delete               delete the replay named by --name
  --dry-run              print the objects (stdout) and the steps (stderr); change nothing
  -n, --namespace NS     namespace of the demo (default: \$NAMESPACE, else knative-demo)
  -h, --help             show this help

Environment: NAMESPACE (knative-demo), KUBECTL (kubectl), KAFKA_IMAGE ($KAFKA_IMAGE),
WAIT_TIMEOUT (120s, for the KafkaSource to be Ready and for pods), REPLAY_TIMEOUT (3600,
seconds the replay may take), POLL_SECONDS (10, between looks at its progress).
EOF
}

fail() {
  echo "error: $*" >&2
  exit 1
}

# retry, backoffPolicy and backoffDelay of k8s/durable-delivery.yaml, indented for the KafkaSource's delivery.
durable_retries() {
  grep -E '^    (retry|backoffPolicy|backoffDelay):' "$DURABLE_DELIVERY"
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --since | --to | --name | --broker | --topic | --bootstrap-servers | --kafka-namespace | -n | --namespace)
        [[ $# -ge 2 ]] || { echo "error: $1 needs a value" >&2; exit 2; }
        case "$1" in
          --since) START=since; SINCE="$2" ;;
          --to) TO="$2" ;;
          --name) NAME="$2" ;;
          --broker) BROKER="$2" ;;
          --topic) TOPIC="$2" ;;
          --bootstrap-servers) BOOTSTRAP="$2" ;;
          --kafka-namespace) KAFKA_NAMESPACE="$2" ;;
          *) NAMESPACE="$2" ;;
        esac
        shift
        ;;
      --from-beginning) START=beginning ;;
      --no-wait) WAIT=false ;;
      --delete) DELETE=true ;;
      --dry-run) DRY_RUN=true ;;
      -h | --help) usage; exit 0 ;;
      *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  if $DELETE; then
    [[ -n $NAME ]] || { echo "error: --delete needs --name NAME (kubectl get kafkasources -l app.kubernetes.io/component=replay lists them)" >&2; exit 2; }
  else
    [[ -n $START ]] || { echo "error: say where the replay starts: --from-beginning or --since TIME (see --help)" >&2; exit 2; }
  fi
  NAME="${NAME:-replay-$(date -u +%Y%m%d-%H%M%S)}"
  # The name becomes a KafkaSource, pods and NetworkPolicies: a DNS-1123 label with room for suffixes.
  [[ $NAME =~ ^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$ ]] \
    || { echo "error: --name '$NAME' must be lower-case letters, digits and '-', at most 40" >&2; exit 2; }
  if [[ $START == since ]]; then
    # Kafka's --to-datetime takes yyyy-MM-ddTHH:mm:ss.SSS with a zone; every TIME is turned into that, in UTC.
    local utc
    utc="$(date -u -d "$SINCE" +%Y-%m-%dT%H:%M:%S.%3NZ 2>/dev/null)" \
      || { echo "error: --since '$SINCE' is not a time (RFC 3339, e.g. 2026-12-01T08:00:00Z)" >&2; exit 2; }
    SINCE="$utc"
  fi
}

group() {
  echo "knative-replay-$NAMESPACE-$NAME"
}

selector() {
  echo "app.kubernetes.io/component=replay,app.kubernetes.io/instance=$NAME"
}

# Where the Broker keeps its events: the Kafka Broker names its topic and bootstrap servers in its
# status annotations (eventing-kafka-broker control-plane/pkg/reconciler/broker/broker.go); a
# channel-based Broker's KafkaChannel <broker>-kne-trigger names its topic there too, and reads
# its bootstrap servers from kafka-channel-config in knative-eventing.
locate_topic() {
  [[ -z $TOPIC || -z $BOOTSTRAP ]] || return 0
  [[ -n $BROKER ]] || find_broker
  local class channel
  class="$("$KUBECTL" get broker "$BROKER" --namespace "$NAMESPACE" \
    --output 'jsonpath={.metadata.annotations.eventing\.knative\.dev/broker\.class}')"
  if [[ $class == Kafka ]]; then
    TOPIC="${TOPIC:-$("$KUBECTL" get broker "$BROKER" --namespace "$NAMESPACE" --output 'jsonpath={.status.annotations.default\.topic}')}"
    BOOTSTRAP="${BOOTSTRAP:-$("$KUBECTL" get broker "$BROKER" --namespace "$NAMESPACE" --output 'jsonpath={.status.annotations.bootstrap\.servers}')}"
  else
    channel="$BROKER-kne-trigger"
    "$KUBECTL" get kafkachannels.messaging.knative.dev "$channel" --namespace "$NAMESPACE" --output name >/dev/null 2>&1 \
      || fail "broker/$BROKER ($class) keeps its events in no Kafka topic: an InMemoryChannel holds nothing to replay. Use k8s/components/kafka-broker or kafka-channel, or give --topic and --bootstrap-servers"
    TOPIC="${TOPIC:-$("$KUBECTL" get kafkachannels.messaging.knative.dev "$channel" --namespace "$NAMESPACE" --output 'jsonpath={.status.annotations.default\.topic}')}"
    BOOTSTRAP="${BOOTSTRAP:-$("$KUBECTL" get configmap kafka-channel-config --namespace knative-eventing --output 'jsonpath={.data.bootstrap\.servers}')}"
  fi
  [[ -n $TOPIC && -n $BOOTSTRAP ]] || fail "broker/$BROKER has no Kafka topic or bootstrap servers in its status yet: is it Ready? (or give --topic and --bootstrap-servers)"
}

# my-cluster-kafka-bootstrap.kafka:9092 -> kafka: the Service's namespace, where a pod may reach it.
kafka_namespace() {
  local host
  host="${BOOTSTRAP%%,*}"
  host="${host%:*}"
  if [[ -n $KAFKA_NAMESPACE ]]; then echo "$KAFKA_NAMESPACE"
  elif [[ ! $host =~ ^[0-9.]+$ && $host =~ ^[a-z0-9-]+\.([a-z0-9-]+)(\.|$) ]]; then echo "${BASH_REMATCH[1]}"
  else echo "$NAMESPACE"; fi
}

# Restricted Pod Security, whatever the Kafka namespace enforces: non-root as the image's user
# (appuser, 1000), no privilege escalation, no capabilities, RuntimeDefault seccomp, no API token.
kafka_pod_overrides() {
  cat <<EOF
{"apiVersion":"v1","spec":{"automountServiceAccountToken":false,
"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"runAsGroup":1000,"seccompProfile":{"type":"RuntimeDefault"}},
"containers":[{"name":"$1","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}},
"resources":{"requests":{"cpu":"100m","memory":"256Mi"},"limits":{"memory":"512Mi"}}}]}}
EOF
}

# Runs one of Kafka's tools against the cluster in a short-lived pod beside Kafka (the demo's
# namespace denies egress to it) and prints its output.
kafka_tool() {
  local step="$1" namespace pod
  shift
  namespace="$(kafka_namespace)"
  pod="$NAME-$step"
  "$KUBECTL" delete pod "$pod" --namespace "$namespace" --ignore-not-found --wait --timeout "$WAIT_TIMEOUT" >/dev/null
  "$KUBECTL" run "$pod" --namespace "$namespace" --image "$KAFKA_IMAGE" --restart Never --rm --attach --quiet \
    --pod-running-timeout "$WAIT_TIMEOUT" --labels "$(selector)" \
    --override-type strategic --overrides "$(kafka_pod_overrides "$pod")" \
    --command -- "/opt/kafka/bin/$1" --bootstrap-server "$BOOTSTRAP" "${@:2}"
}

# partition:offset,... of the topic's end: what the replay delivers up to.
end_offsets() {
  kafka_tool offsets kafka-get-offsets.sh --topic "$TOPIC" --time -1 \
    | awk -F: -v topic="$TOPIC" '$1 == topic && NF == 3 { print $2 ":" $3 }' | paste -sd, -
}

position_group() {
  local where=(--to-earliest)
  [[ $START == beginning ]] || where=(--to-datetime "$SINCE")
  kafka_tool position kafka-consumer-groups.sh --group "$(group)" --topic "$TOPIC" --reset-offsets "${where[@]}" --execute >&2
}

# What is still to deliver: the noted end offsets less the group's committed ones, summed over
# the partitions (kafka-consumer-groups.sh --describe: GROUP TOPIC PARTITION CURRENT-OFFSET ...).
remaining() {
  local until="$1"
  kafka_tool progress kafka-consumer-groups.sh --group "$(group)" --describe \
    | awk -v topic="$TOPIC" -v until="$until" '
        BEGIN { n = split(until, parts, ","); for (i = 1; i <= n; i++) { split(parts[i], kv, ":"); end[kv[1]] = kv[2] } }
        $2 == topic && $3 in end { current[$3] = ($4 == "-" ? -1 : $4) }
        END {
          left = 0
          for (p in end) {
            c = (p in current) && current[p] > 0 ? current[p] : 0
            if (c < end[p]) left += end[p] - c
          }
          print left
        }'
}

# A Service's pods by its selector ({"key":"value",...} is YAML too). Read before any object is
# written: a policy with an empty selector would open every pod of the namespace.
pods_of() {
  local labels
  labels="$("$KUBECTL" get service "$1" --namespace "$NAMESPACE" --output 'jsonpath={.spec.selector}')" \
    && [[ $labels == '{'*'}' ]] || fail "service/$1 in namespace $NAMESPACE does not exist or selects no pods"
  echo "$labels"
}

metadata() {
  cat <<EOF
metadata:
  name: $1
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: knative-eventing-demo
    app.kubernetes.io/part-of: knative-eventing-demo
    app.kubernetes.io/component: replay
    app.kubernetes.io/instance: $NAME
EOF
}

# The demo's NetworkPolicies let only the broker's and channels' dispatchers in; the KafkaSource
# dispatcher (eventing-kafka-broker data-plane/config/source/500-dispatcher.yaml: app:
# kafka-source-dispatcher) is let in to this Service's pods for as long as the replay lasts.
network_policy() {
  cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
$(metadata "$NAME-to-$1")
spec:
  podSelector:
    matchLabels: $2
  policyTypes:
    - Ingress
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: knative-eventing
          podSelector:
            matchLabels:
              app: kafka-source-dispatcher
EOF
}

# initialOffset earliest: the control plane then commits no offsets of its own for the group
# (eventing-kafka-broker control-plane/pkg/reconciler/consumergroup/consumergroup.go,
# reconcileInitialOffset), so the positions set before are where reading starts. The delivery is
# that of the Triggers it replays for, which are durable ones (k8s/durable-delivery.yaml, with the
# dead-letter Service of k8s/trigger-delivery.yaml); the source's default would be 10 retries, no dead letter.
objects() {
  local until="$1"
  cat <<EOF
---
apiVersion: sources.knative.dev/v1
kind: KafkaSource
$(metadata "$NAME")
  annotations:
    $UNTIL_ANNOTATION: "$until"
spec:
  bootstrapServers: ["$(sed 's/,/", "/g' <<<"$BOOTSTRAP")"]
  topics: ["$TOPIC"]
  consumerGroup: $(group)
  initialOffset: earliest
  ceOverrides:
    extensions:
      replay: $NAME
  sink:
    ref:
      apiVersion: v1
      kind: Service
      name: $TO
  delivery:
$DURABLE_RETRIES
    deadLetterSink:
      ref:
        apiVersion: v1
        kind: Service
        name: dead-letter
EOF
  network_policy "$TO" "$SUBSCRIBER_PODS"
  [[ $TO == dead-letter ]] || network_policy dead-letter "$DEAD_LETTER_PODS"
}

delete_replay() {
  echo "Deleting replay $NAME (its KafkaSource, whose consumer group Knative deletes, and NetworkPolicies)" >&2
  "$KUBECTL" delete kafkasources.sources.knative.dev,networkpolicies.networking.k8s.io --namespace "$NAMESPACE" \
    --selector "$(selector)" --ignore-not-found --wait --timeout "$WAIT_TIMEOUT"
}

existing_until() {
  "$KUBECTL" get kafkasources.sources.knative.dev "$NAME" --namespace "$NAMESPACE" --ignore-not-found \
    --output "jsonpath={.metadata.annotations.$UNTIL_ANNOTATION}"
}

describe() {
  local from="the beginning of retention"
  [[ $START == beginning ]] || from="$SINCE"
  echo "Replay $NAME: topic $TOPIC ($BOOTSTRAP), from $from, into service/$TO, consumer group $(group)" >&2
}

await_replay() {
  local until="$1" left deadline=$((SECONDS + REPLAY_TIMEOUT))
  while :; do
    left="$(remaining "$until")"
    [[ $left =~ ^[0-9]+$ ]] || fail "cannot read the progress of consumer group $(group)"
    if ((left == 0)); then
      echo "Replay $NAME delivered everything up to offsets $until" >&2
      return 0
    fi
    ((SECONDS < deadline)) || fail "replay $NAME still has $left events to deliver after ${REPLAY_TIMEOUT}s; it goes on: run again with --name $NAME to wait, or --delete --name $NAME to stop it"
    echo "Replay $NAME: $left events still to deliver" >&2
    sleep "$POLL_SECONDS"
  done
}

main() {
  parse_args "$@"
  DURABLE_RETRIES="$(durable_retries)" || fail "no retry timing in $DURABLE_DELIVERY"
  if $DELETE; then
    $DRY_RUN && { echo "Would delete: kafkasources and networkpolicies with labels $(selector) in $NAMESPACE" >&2; return 0; }
    delete_replay
    return 0
  fi
  locate_topic
  SUBSCRIBER_PODS="$(pods_of "$TO")"
  DEAD_LETTER_PODS="$(pods_of dead-letter)"
  describe
  if $DRY_RUN; then
    echo "Would note the end offsets of $TOPIC, position the group ($KAFKA_IMAGE in namespace $(kafka_namespace)), apply:" >&2
    objects "<end offsets of $TOPIC when the replay starts>"
    return 0
  fi
  "$KUBECTL" get crd kafkasources.sources.knative.dev --output name >/dev/null \
    || fail "no KafkaSource in this cluster: install eventing-kafka-source.yaml of eventing-kafka-broker, the Broker's release"
  local until
  until="$(existing_until)"
  if [[ -n $until ]]; then
    echo "Replay $NAME exists: going on up to offsets $until" >&2
  else
    until="$(end_offsets)"
    [[ -n $until ]] || fail "no partition of topic $TOPIC found on $BOOTSTRAP"
    echo "Replaying up to the end offsets $until (partition:offset)" >&2
    position_group
  fi
  objects "$until" | "$KUBECTL" apply --namespace "$NAMESPACE" --filename -
  # From here on the replay runs in the cluster whatever becomes of this script.
  trap 'echo "Interrupted: replay $NAME goes on; run again with --name $NAME to wait for it, or --delete --name $NAME" >&2; exit 130' INT TERM
  "$KUBECTL" wait kafkasources.sources.knative.dev "$NAME" --namespace "$NAMESPACE" --for condition=Ready --timeout "$WAIT_TIMEOUT"
  if ! $WAIT; then
    echo "Replay $NAME runs; it also delivers events stored from now on until deleted: $(basename "$0") --delete --name $NAME" >&2
    return 0
  fi
  await_replay "$until"
  delete_replay
}

main "$@"
