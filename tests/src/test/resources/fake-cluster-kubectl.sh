#!/usr/bin/env bash
# A stand-in kubectl that plays a cluster for scripts/deploy.sh and scripts/install-knative.sh
# (support/FakeCluster.java sets its state up as files beside it): it records every call's
# arguments like support/FakeKubectl and answers from those files.
set -euo pipefail
dir="$(dirname "$0")"
n=$(($(cat "$dir/count" 2>/dev/null || echo 0) + 1))
echo "$n" >"$dir/count"
printf '%s\0' "$@" >"$dir/call-$n"

# The value of an option such as --namespace or --output.
option() {
  local name="$1"
  shift
  while [[ $# -gt 0 ]]; do
    [[ $1 == "$name" ]] && { echo "$2"; return; }
    shift
  done
}

not_found() {
  echo "Error from server (NotFound): $1 \"$2\" not found" >&2
  exit 1
}

# What applying a release file does to the state: its knative-eventing Namespace and its CRDs
# appear, labelled with the release's version.
apply_file() {
  local version
  version="$(sed -n 's/^ *app.kubernetes.io\/version: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$1" | head -n 1)"
  if grep -q '^kind: Namespace' "$1" && grep -q '^  name: knative-eventing$' "$1"; then
    echo "$version" >"$dir/knative-eventing-version"
    echo "namespace/knative-eventing configured"
  fi
  if grep -q '^kind: CustomResourceDefinition' "$1"; then
    mkdir -p "$dir/crds"
    sed -n 's/^  name: \(.*\..*\)$/\1/p' "$1" | while read -r crd; do
      echo "$version" >"$dir/crds/$crd"
      echo "customresourcedefinition.apiextensions.k8s.io/$crd configured"
    done
  fi
  cp "$1" "$dir/applied-$n"
}

[[ ! -e $dir/unreachable ]] || { echo "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?" >&2; exit 1; }

case "$1 $2" in
  'get --raw')
    case "$3" in
      /version) printf '{"major":"1","gitVersion":"%s","platform":"linux/amd64"}\n' "$(cat "$dir/server-version")" ;;
      # Another API group answers only when it is served (an aggregated API such as custom metrics).
      *) [[ -e $dir/served$3 ]] || { echo "Error from server (NotFound): the server could not find the requested resource" >&2; exit 1; }
         echo '{"kind":"APIResourceList"}' ;;
    esac ;;
  'get crd')
    [[ -e $dir/crds/$3 ]] || not_found customresourcedefinitions.apiextensions.k8s.io "$3"
    case "$(option --output "$@")" in
      name) echo "customresourcedefinition.apiextensions.k8s.io/$3" ;;
      *) cat "$dir/crds/$3" ;;
    esac ;;
  'get configmap')
    key="$(option --output "$@" | sed 's/^jsonpath={.data.\(.*\)}$/\1/')"
    [[ ! -e $dir/features/$key ]] || cat "$dir/features/$key" ;;
  'get namespace')
    if [[ -e $dir/knative-eventing-version ]]; then cat "$dir/knative-eventing-version"
    elif [[ " $* " != *' --ignore-not-found '* ]]; then not_found namespaces "$3"; fi ;;
  'get deployments') cat "$dir/deployments" ;;
  'get broker' | 'get trigger' | 'get sinkbinding')
    # Every object of the kind that never gets Ready: kind/name, status, reason, message.
    [[ ! -e $dir/never-ready-$2 ]] || cat "$dir/never-ready-$2" ;;
  'apply --kustomize') echo "applied $3" ;;
  'apply --filename') apply_file "$3" ;;
  'wait broker' | 'wait trigger' | 'wait sinkbinding')
    if [[ -e $dir/never-ready-$2 ]]; then
      echo "error: timed out waiting for the condition on ${2}s/$(cut -f1 "$dir/never-ready-$2" | head -n 1 | cut -d/ -f2)" >&2
      exit 1
    fi
    echo "$2.eventing.knative.dev condition met" ;;
  'wait deployment')
    [[ ! -e $dir/not-available ]] || { echo "error: timed out waiting for the condition on deployments/$(cat "$dir/not-available")" >&2; exit 1; }
    echo "deployment.apps condition met" ;;
  'wait --for') echo "customresourcedefinition.apiextensions.k8s.io condition met" ;;
  'rollout status') echo "deployment \"${3#deployment.apps/}\" successfully rolled out" ;;
  'delete --kustomize') echo "namespace \"knative-demo\" deleted" ;;
  *) echo "stand-in kubectl: unexpected: $*" >&2; exit 1 ;;
esac
