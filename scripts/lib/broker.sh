# Sourced by scripts/send-event.sh and scripts/replay.sh (with NAMESPACE, KUBECTL and BROKER set):
# the Broker they act on when --broker is not given.

# The namespace's one Broker: a durable component declares it under a name of its own
# (default-kafka, default-kafka-channel, default-nats), and while scripts/migrate-broker.sh moves
# the system there are two, so then the caller chooses.
find_broker() {
  local names brokers
  names="$("$KUBECTL" get brokers.eventing.knative.dev --namespace "$NAMESPACE" --output 'jsonpath={.items[*].metadata.name}')"
  read -ra brokers <<<"$names"
  case ${#brokers[@]} in
    1) BROKER="${brokers[0]}" ;;
    0) echo "error: no Broker in namespace $NAMESPACE: deploy the demo (scripts/deploy.sh) or give -n NAMESPACE" >&2; exit 1 ;;
    *) echo "error: namespace $NAMESPACE has the Brokers ${brokers[*]} (two while scripts/migrate-broker.sh moves the system): choose one with --broker NAME" >&2; exit 1 ;;
  esac
}
