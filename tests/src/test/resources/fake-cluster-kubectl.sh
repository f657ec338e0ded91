#!/usr/bin/env bash
# A stand-in kubectl that plays a cluster for scripts/deploy.sh, scripts/install-knative.sh and
# scripts/migrate-broker.sh (support/FakeCluster.java sets its state up as files beside it): it
# records every call's arguments like support/FakeKubectl and answers from those files. With a
# folder objects/ it holds a namespace's objects as files (Kind.name.yaml) that get, apply, wait,
# annotate and delete work on; the real kubectl on the PATH renders, and evaluates jsonpath offline.
set -euo pipefail
dir="$(dirname "$0")"
seeding=false
if [[ ${1:-} == __seed ]]; then
  # FakeCluster puts objects in place without a recorded call.
  shift
  seeding=true
else
  n=$(($(cat "$dir/count" 2>/dev/null || echo 0) + 1))
  echo "$n" >"$dir/count"
  printf '%s\0' "$@" >"$dir/call-$n"
fi

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

# --- Objects: a namespace's objects as files, for scripts/migrate-broker.sh ------------------------

objects="$dir/objects"

kind_of() {
  local kind="${1%%.*}"
  case "${kind,,}" in
    broker | brokers) echo Broker ;;
    trigger | triggers) echo Trigger ;;
    sinkbinding | sinkbindings) echo SinkBinding ;;
    pod | pods) echo Pod ;;
    deployment | deployments) echo Deployment ;;
    networkpolicy | networkpolicies) echo NetworkPolicy ;;
    configmap | configmaps) echo ConfigMap ;;
    subscription | subscriptions) echo Subscription ;;
    *) echo "stand-in kubectl: unknown kind $1" >&2; exit 1 ;;
  esac
}

# A jsonpath template evaluated on object files, offline, by the real kubectl.
jsonpath() {
  local template="$1" files=() file
  shift
  for file in "$@"; do files+=(--filename "$file"); done
  [[ $# -eq 0 ]] || command kubectl annotate --local "${files[@]}" stand-in/read=1 --output "jsonpath=$template"
}

# Whether an object file carries every label of a selector a=b,c=d.
selected() {
  local pair labels
  [[ -n $2 ]] || return 0
  labels="$(jsonpath '{.metadata.labels}' "$1")"
  for pair in ${2//,/ }; do
    [[ $labels == *"\"${pair%%=*}\":\"${pair#*=}\""* ]] || return 1
  done
}

objects_get() {
  local kind name="" template selector files=() file
  kind="$(kind_of "$2")"
  [[ ${3:-} == -* ]] || name="$3"
  template="$(option --output "$@")"
  template="${template#jsonpath=}"
  selector="$(option --selector "$@")"
  if [[ -n $name ]]; then
    file="$objects/$kind.$name.yaml"
    if [[ ! -e $file ]]; then
      [[ " $* " == *' --ignore-not-found '* ]] && return
      not_found "$2" "$name"
    fi
    files=("$file")
  else
    for file in "$objects/$kind".*.yaml; do
      if [[ -e $file ]] && selected "$file" "$selector"; then files+=("$file"); fi
    done
    # A list: the template's range over .items applies to each object.
    template="${template#"{range .items[*]}"}"
    template="${template%"{end}"}"
  fi
  jsonpath "$template" "${files[@]}"
}

# The status Knative would give: an address for a Broker, a Ready condition (False for the object
# FakeCluster.neverReady names).
add_status() {
  local file="$1" kind="$2" name="$3" host=broker-ingress namespace ready=True reason=Ready message=""
  local never="$dir/never-ready-${kind,,}"
  namespace="$(jsonpath '{.metadata.namespace}' "$file")"
  [[ "$(jsonpath '{.metadata.annotations.eventing\.knative\.dev/broker\.class}' "$file")" != Kafka ]] || host=kafka-broker-ingress
  if [[ -e $never && "$(cut -f 1 "$never")" == "$kind/$name" ]]; then
    ready=False
    reason="$(cut -f 3 "$never")"
    message="$(cut -f 4 "$never")"
  fi
  {
    echo "status:"
    [[ $kind != Broker ]] || printf '  address:\n    url: http://%s.knative-eventing.svc.cluster.local/%s/%s\n' "$host" "$namespace" "$name"
    printf '  conditions:\n    - type: Ready\n      status: "%s"\n      reason: %s\n      message: %s\n' "$ready" "$reason" "'${message//\'/\'\'}'"
  } >>"$file"
}

# What Knative does once a SinkBinding names a Broker: the subject rolls, and its new pod gets the
# Broker's address as K_SINK; the old pods stay until they are gone.
roll_subject() {
  local binding="$1" subject sink url pod namespace
  subject="$(jsonpath '{.spec.subject.name}' "$binding")"
  sink="$(jsonpath '{.spec.sink.ref.name}' "$binding")"
  namespace="$(jsonpath '{.metadata.namespace}' "$binding")"
  url="$(jsonpath '{.status.address.url}' "$objects/Broker.$sink.yaml")"
  pod="$subject-$sink"
  [[ ! -e $objects/Pod.$pod.yaml ]] || return 0
  cat >"$objects/Pod.$pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $pod
  namespace: $namespace
  labels: $(jsonpath '{.spec.template.metadata.labels}' "$objects/Deployment.$subject.yaml")
spec:
  containers:
    - name: app
      env:
        - name: K_SINK
          value: $url
EOF
}

objects_apply() {
  local file="$1" kind name target verb=created
  read -r kind name < <(jsonpath '{.kind} {.metadata.name}{"\n"}' "$file")
  target="$objects/$kind.$name.yaml"
  [[ ! -e $target ]] || verb=configured
  cp "$file" "$target"
  case "$kind" in Broker | Trigger | SinkBinding) add_status "$target" "$kind" "$name" ;; esac
  [[ $kind != SinkBinding ]] || roll_subject "$target"
  echo "${kind,,}/$name $verb"
}

objects_wait() {
  local target
  if [[ $2 == pod/* ]]; then
    for target in "${@:2}"; do
      [[ $target == pod/* ]] || break
      rm -f "$objects/Pod.${target#pod/}.yaml"
      echo "$target condition met"
    done
    return
  fi
  target="$objects/$(kind_of "$2").$3.yaml"
  [[ -e $target ]] || not_found "$2" "$3"
  if [[ "$(jsonpath '{.status.conditions[?(@.type=="Ready")].status}' "$target")" != True ]]; then
    echo "error: timed out waiting for the condition on ${2}s/$3" >&2
    exit 1
  fi
  echo "$2/$3 condition met"
}

objects_delete() {
  local kind selector name file
  kind="$(kind_of "$2")"
  selector="$(option --selector "$@")"
  if [[ -n $selector ]]; then
    for file in "$objects/$kind".*.yaml; do
      if [[ -e $file ]] && selected "$file" "$selector"; then
        rm "$file"
        echo "${kind,,} deleted"
      fi
    done
    return
  fi
  for name in "${@:3}"; do
    [[ $name != -* ]] || break
    rm -f "$objects/$kind.$name.yaml"
    echo "${kind,,} \"$name\" deleted"
  done
}

objects_annotate() {
  local file
  file="$objects/$(kind_of "$2").$3.yaml"
  command kubectl annotate --local --filename "$file" "$4" --output yaml >"$file.new"
  mv "$file.new" "$file"
  echo "$2/$3 annotated"
}

# A run cut short: the n-th change (FakeCluster.interruptedAfterChange) happens, then the connection drops.
interrupt() {
  local changes
  changes=$(($(cat "$dir/changes" 2>/dev/null || echo 0) + 1))
  echo "$changes" >"$dir/changes"
  if [[ -e $dir/interrupt-after && $changes == "$(cat "$dir/interrupt-after")" ]]; then
    rm "$dir/interrupt-after"
    echo "stand-in kubectl: the connection to the server was lost after this change" >&2
    exit 1
  fi
}

if [[ $seeding == true ]]; then
  mkdir -p "$objects"
  for file in "$@"; do objects_apply "$file" >/dev/null; done
  exit 0
fi

if [[ -d $objects ]]; then
  case "$1" in
    kustomize) exec kubectl "$@" ;;
    get) objects_get "$@"; exit ;;
    apply) objects_apply "$(option --filename "$@")"; interrupt; exit ;;
    wait) objects_wait "$@"; exit ;;
    delete) objects_delete "$@"; interrupt; exit ;;
    annotate) objects_annotate "$@"; interrupt; exit ;;
  esac
fi

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
