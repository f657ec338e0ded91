#!/usr/bin/env bash
# A stand-in kubectl that plays a cluster with a Kafka-backed Broker for scripts/replay.sh
# (scripts/ReplayScriptTest sets its state up as files beside it): the namespace's Brokers, the
# Broker's class and status, a KafkaChannel <broker>-kne-trigger, the Services, a replay's
# KafkaSource, and Kafka's tools run in a pod, whose answers are the outputs Apache Kafka 3.9's kafka-get-offsets.sh and kafka-consumer-groups.sh
# print. It records every call's arguments like support/FakeKubectl, and what was applied.
set -euo pipefail
dir="$(dirname "$0")"
n=$(($(cat "$dir/count" 2>/dev/null || echo 0) + 1))
echo "$n" >"$dir/count"
printf '%s\0' "$@" >"$dir/call-$n"

not_found() {
  echo "Error from server (NotFound): $1 \"$2\" not found" >&2
  exit 1
}

# Kafka's tools in the pod: the end offsets of the topic's three partitions; the reset's table;
# the group's progress, one file per look (progress-1, progress-2, ...), the last one repeated.
kafka_tool() {
  local tool
  for ((i = 1; i <= $#; i++)); do [[ ${!i} == -- ]] && break; done
  tool="$(basename "${@:i+1:1}")"
  case "$tool $*" in
    kafka-get-offsets.sh*) cat "$dir/end-offsets" ;;
    *--reset-offsets*)
      echo
      echo "GROUP                          TOPIC                                    PARTITION  NEW-OFFSET"
      echo "knative-replay-knative-demo-r1 knative-broker-knative-demo-default-kafka 0          0" ;;
    *--describe*)
      local look
      look=$(($(cat "$dir/looks" 2>/dev/null || echo 0) + 1))
      [[ -e $dir/progress-$look ]] || look=$((look - 1))
      echo "$look" >"$dir/looks"
      cat "$dir/progress-$look" ;;
    *) echo "stand-in kubectl: unexpected tool: $*" >&2; exit 1 ;;
  esac
}

case "$1" in
  run) kafka_tool "$@"; exit ;;
  apply) cat >"$dir/applied-$n"; echo "kafkasource.sources.knative.dev/replay configured"; exit ;;
esac

case "$1 $2" in
  'get brokers.eventing.knative.dev') cat "$dir/brokers" ;;
  'get broker')
    [[ " $(cat "$dir/brokers") " == *" $3 "* ]] || not_found brokers.eventing.knative.dev "$3"
    case "$*" in
      *broker\\.class*) cat "$dir/broker-class" ;;
      *default\\.topic*) [[ ! -e $dir/broker-topic ]] || cat "$dir/broker-topic" ;;
      *bootstrap\\.servers*) [[ ! -e $dir/broker-topic ]] || printf 'my-cluster-kafka-bootstrap.kafka:9092' ;;
      *) echo "stand-in kubectl: unexpected: $*" >&2; exit 1 ;;
    esac ;;
  'get kafkachannels.messaging.knative.dev')
    [[ -e $dir/channel-topic && " $(cat "$dir/brokers") " == *" ${3%-kne-trigger} "* ]] || not_found kafkachannels.messaging.knative.dev "$3"
    case "$*" in
      *default\\.topic*) cat "$dir/channel-topic" ;;
      *) echo "kafkachannel.messaging.knative.dev/$3" ;;
    esac ;;
  'get crd') echo "customresourcedefinition.apiextensions.k8s.io/$3" ;;
  'get configmap') printf 'channel-kafka-bootstrap.kafka-channel:9092' ;;
  'get service')
    [[ -e $dir/service-$3 ]] || not_found services "$3"
    cat "$dir/service-$3" ;;
  'get kafkasources.sources.knative.dev') [[ ! -e $dir/source-until ]] || cat "$dir/source-until" ;;
  'delete pod') ;;
  'wait kafkasources.sources.knative.dev') echo "kafkasource.sources.knative.dev/$3 condition met" ;;
  'delete kafkasources.sources.knative.dev,networkpolicies.networking.k8s.io') echo "kafkasource.sources.knative.dev deleted" ;;
  *) echo "stand-in kubectl: unexpected: $*" >&2; exit 1 ;;
esac
