#!/usr/bin/env bash
# Deploys the demo in one command: checks that kubectl, the cluster and Knative Eventing are there
# and that Knative's features fit the kustomization, applies it, and waits until every object is
# Ready and every Deployment rolled out. With --delete it removes all of it and waits until it is gone.
set -euo pipefail

KUBECTL="${KUBECTL:-kubectl}"
NAMESPACE="${NAMESPACE:-knative-demo}"
TIMEOUT="${TIMEOUT:-300s}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OVERLAY="$ROOT"
DELETE=false
# The installed Knative's major.minor as version_number gives it, 0 when unknown (set by check_knative).
KNATIVE_VERSION=0
# The oldest Knative Eventing whose CRDs serve every field the base uses (k8s/README.md, "Knative
# versions"); scripts/install-knative.sh installs it on Kubernetes 1.26.
readonly MIN_KNATIVE=1.12
# The first release whose Triggers take the Subscriptions API filters always (k8s/components/unmatched-events).
readonly FILTERS_GA_KNATIVE=1.15
# Components whose Triggers use those filters (DeployScriptTest finds them in k8s/components/ and compares).
readonly FILTER_COMPONENTS=(unmatched-events priority-routing)
# What k8s/components/autoscaling and autoscaling-keda read their metrics from.
readonly CUSTOM_METRICS_API=/apis/custom.metrics.k8s.io/v1beta1
readonly KEDA_CRD=scaledobjects.keda.sh
# The CRDs of the kinds the base creates.
readonly CRDS=(brokers.eventing.knative.dev triggers.eventing.knative.dev sinkbindings.sources.knative.dev)
# Kinds that report a Ready condition, in the order they become Ready.
readonly KINDS=(broker trigger sinkbinding)

usage() {
  cat <<EOF
Usage: $(basename "$0") [--overlay DIR] [--timeout DURATION] [--delete] [-n NAMESPACE]

Deploys the demo: checks the prerequisites (kubectl, a reachable cluster, Knative Eventing
$MIN_KNATIVE or newer, Knative's config-features against the components the kustomization
lists), runs 'kubectl apply -k', waits until the Broker, the Triggers and the SinkBinding are
Ready and every Deployment has rolled out, then prints how to watch the events. Whatever never
gets Ready is named with its condition's reason and message, and the script exits 1.
Running it again applies the same objects again and changes nothing.

  --overlay DIR        kustomization to apply (default: the repository root)
  --timeout DURATION   how long each wait may take (default \$TIMEOUT, else 300s)
  --delete             delete everything the kustomization creates ('kubectl delete -k'),
                       waiting until it is gone, the namespace included
  -n, --namespace NS   namespace the kustomization deploys to (default: \$NAMESPACE, else knative-demo)
  -h, --help           show this help

Environment: KUBECTL (kubectl), NAMESPACE (knative-demo), TIMEOUT (300s).
Knative Eventing itself: scripts/install-knative.sh.
EOF
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --overlay | --timeout | -n | --namespace)
        [[ $# -ge 2 ]] || { echo "error: $1 needs a value" >&2; exit 2; }
        case "$1" in
          --overlay) OVERLAY="$2" ;;
          --timeout) TIMEOUT="$2" ;;
          *) NAMESPACE="$2" ;;
        esac
        shift
        ;;
      --delete) DELETE=true ;;
      -h | --help) usage; exit 0 ;;
      *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  [[ -f $OVERLAY/kustomization.yaml ]] || { echo "error: $OVERLAY has no kustomization.yaml" >&2; exit 2; }
}

fail() {
  echo "error: $*" >&2
  exit 1
}

check_cluster() {
  command -v "$KUBECTL" >/dev/null || fail "$KUBECTL not found: install kubectl (https://kubernetes.io/docs/tasks/tools/)"
  "$KUBECTL" get --raw /version >/dev/null || fail "the cluster of kubectl's current context is not reachable ('$KUBECTL config current-context' names it)"
}

# major.minor of a version such as 1.22.2, v1.22.2 or knative-v1.22.2, as one comparable number.
version_number() {
  local version="${1#knative-}"
  version="${version#v}"
  [[ $version =~ ^([0-9]+)\.([0-9]+) ]] || return 1
  echo $((BASH_REMATCH[1] * 1000 + BASH_REMATCH[2]))
}

check_knative() {
  local crd version
  for crd in "${CRDS[@]}"; do
    "$KUBECTL" get crd "$crd" --output name >/dev/null 2>&1 ||
      fail "Knative Eventing is not installed: CRD $crd is missing. Install it with scripts/install-knative.sh"
  done
  version="$("$KUBECTL" get crd "${CRDS[0]}" --output 'jsonpath={.metadata.labels.app\.kubernetes\.io/version}')"
  if ! version_number "$version" >/dev/null; then
    echo "Knative Eventing installed (version unknown: the CRDs carry no app.kubernetes.io/version label)"
  elif (($(version_number "$version") < $(version_number "$MIN_KNATIVE"))); then
    fail "Knative Eventing $version is too old: the manifests need $MIN_KNATIVE or newer (scripts/install-knative.sh installs one)"
  else
    echo "Knative Eventing $version installed"
    KNATIVE_VERSION="$(version_number "$version")"
  fi
}

# Whether the kustomization lists a component of k8s/components/ (a line not commented out).
lists_component() {
  grep --quiet --extended-regexp "^[[:space:]]*-[[:space:]]*(\\./)?([^#[:space:]]*/)?k8s/components/$1/?[[:space:]]*$" "$OVERLAY/kustomization.yaml"
}

# Knative features that change what the demo needs: each names the component that fits it.
check_features() {
  local oidc encryption filters retry_after component
  oidc="$("$KUBECTL" get configmap config-features --namespace knative-eventing --ignore-not-found \
    --output 'jsonpath={.data.authentication-oidc}')"
  encryption="$("$KUBECTL" get configmap config-features --namespace knative-eventing --ignore-not-found \
    --output 'jsonpath={.data.transport-encryption}')"
  filters="$("$KUBECTL" get configmap config-features --namespace knative-eventing --ignore-not-found \
    --output 'jsonpath={.data.new-trigger-filters}')"
  retry_after="$("$KUBECTL" get configmap config-features --namespace knative-eventing --ignore-not-found \
    --output 'jsonpath={.data.delivery-retryafter}')"
  if [[ $oidc == enabled ]] && ! lists_component security; then
    echo "note: Knative's authentication-oidc is enabled: k8s/components/security is recommended (its EventPolicy lets only the producer send to the Broker; it needs Knative 1.15 or newer)"
  fi
  if [[ $encryption == strict ]] && ! lists_component tls; then
    fail "Knative's transport-encryption is strict: k8s/components/tls is required (Knative delivers only to https receivers); list it under components: in $OVERLAY/kustomization.yaml"
  fi
  if lists_component retry-after && [[ $retry_after != enabled ]]; then
    # Knative's webhook refuses a Trigger with retryAfterMax while the flag is off: the apply would fail half-way.
    fail "Knative's delivery-retryafter is not enabled: k8s/components/retry-after sets the Triggers' retryAfterMax, which Knative refuses without it. Enable it: $KUBECTL patch configmap config-features --namespace knative-eventing --type merge --patch '{\"data\":{\"delivery-retryafter\":\"enabled\"}}'"
  elif [[ $retry_after == enabled ]] && ! lists_component retry-after; then
    echo "note: Knative's delivery-retryafter is enabled: k8s/components/retry-after makes the Triggers wait as long as a full consumer's 429 asks (Retry-After)"
  fi
  if ((KNATIVE_VERSION >= $(version_number "$FILTERS_GA_KNATIVE"))); then
    lists_component unmatched-events ||
      echo "note: through the Broker, an event of a type no Trigger filters is accepted and then dropped: k8s/components/unmatched-events shows such events in the dead-letter display"
  elif ((KNATIVE_VERSION > 0)) && [[ $filters == disabled ]]; then
    # Before 1.15 the broker filter ignores spec.filters with the flag off, so such a Trigger would pass every event.
    for component in "${FILTER_COMPONENTS[@]}"; do
      if lists_component "$component"; then
        fail "Knative's new-trigger-filters is disabled: k8s/components/$component needs it (its Trigger would receive every event); enable it in config-features or use Knative $FILTERS_GA_KNATIVE or newer"
      fi
    done
  fi
}

# What the autoscaling components read their metrics from.
check_autoscaling() {
  if lists_component autoscaling && ! "$KUBECTL" get --raw "$CUSTOM_METRICS_API" >/dev/null 2>&1; then
    echo "note: the cluster serves no custom metrics API ($CUSTOM_METRICS_API): k8s/components/autoscaling scales the consumer up on CPU only, and never down, until the Prometheus adapter serves consumer_in_flight (its README)"
  fi
  if lists_component autoscaling-keda && ! "$KUBECTL" get crd "$KEDA_CRD" --output name >/dev/null 2>&1; then
    fail "KEDA is not installed (CRD $KEDA_CRD is missing): k8s/components/autoscaling-keda needs it (https://keda.sh/docs/latest/deploy/)"
  fi
}

# Every object of a kind whose Ready condition is not True, with that condition's reason and message.
not_ready() {
  "$KUBECTL" get "$1" --namespace "$NAMESPACE" --output \
    'jsonpath={range .items[*]}{.kind}/{.metadata.name}{"\t"}{range .status.conditions[?(@.type=="Ready")]}{.status}{"\t"}{.reason}{"\t"}{.message}{end}{"\n"}{end}' |
    awk -F '\t' '$2 != "True" { printf "  %s: Ready is %s, reason %s: %s\n", $1, ($2 == "" ? "not reported" : $2), ($3 == "" ? "none" : $3), $4 }'
}

wait_ready() {
  local kind deployment
  for kind in "${KINDS[@]}"; do
    echo "Waiting up to $TIMEOUT for every $kind in $NAMESPACE to be Ready"
    "$KUBECTL" wait "$kind" --all --namespace "$NAMESPACE" --for condition=Ready --timeout "$TIMEOUT" ||
      fail "not Ready after $TIMEOUT:"$'\n'"$(not_ready "$kind")"$'\n'"More: kubectl --namespace $NAMESPACE describe $kind"
  done
  for deployment in $("$KUBECTL" get deployments --namespace "$NAMESPACE" --output name); do
    echo "Waiting up to $TIMEOUT for $deployment to roll out"
    "$KUBECTL" rollout status "$deployment" --namespace "$NAMESPACE" --timeout "$TIMEOUT" ||
      fail "$deployment did not roll out in $TIMEOUT. More: kubectl --namespace $NAMESPACE describe $deployment; kubectl --namespace $NAMESPACE logs $deployment"
  done
}

print_next_steps() {
  cat <<EOF

The demo runs in namespace $NAMESPACE. To watch it:
  scripts/follow-events.sh -n $NAMESPACE --all        # the consumers' log lines, one per event
  kubectl --namespace $NAMESPACE port-forward service/consumer 8080:80
                                                       # then the live page: http://localhost:8080/
  scripts/send-event.sh -n $NAMESPACE --type order.placed   # one event of your own
EOF
}

main() {
  parse_args "$@"
  check_cluster
  if [[ $DELETE == true ]]; then
    echo "Deleting what $OVERLAY/kustomization.yaml creates, waiting up to $TIMEOUT until it is gone"
    "$KUBECTL" delete --kustomize "$OVERLAY" --ignore-not-found --wait=true --timeout "$TIMEOUT"
    echo "Deleted. Knative Eventing itself stays installed."
    return
  fi
  check_knative
  check_features
  check_autoscaling
  echo "Applying $OVERLAY/kustomization.yaml"
  "$KUBECTL" apply --kustomize "$OVERLAY"
  wait_ready
  echo "Ready: Broker, Triggers and SinkBinding Ready, every Deployment rolled out."
  print_next_steps
}

main "$@"
