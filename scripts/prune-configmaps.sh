#!/usr/bin/env bash
# Deletes the script ConfigMaps that `kubectl apply -k .` generated and nothing uses any more.
# Every edit of a script leaves the previous ConfigMap behind, on purpose: ReplicaSets kept
# for `kubectl rollout undo` still mount it. Those stay; only unreferenced ones go.
set -euo pipefail

readonly LABEL="knative-eventing-demo/script-configmap=true"
NAMESPACE="${NAMESPACE:-knative-demo}"
KUBECTL="${KUBECTL:-kubectl}"
APPLY=false

usage() {
  cat <<EOF
Usage: $(basename "$0") [--apply] [-n NAMESPACE]

Lists the ConfigMaps generated from producer.java, consumer.java and scripts/ (label
$LABEL) that no Deployment, ReplicaSet or Pod in the namespace refers to, and with
--apply deletes them. ConfigMaps of the ReplicaSets Kubernetes keeps for
'kubectl rollout undo' are never deleted. Run it after a rollout, not during an apply.

  --apply              delete them (default: dry run, only print)
  -n, --namespace NS   namespace to prune (default: \$NAMESPACE, else knative-demo)
  -h, --help           show this help

Environment: NAMESPACE (default knative-demo), KUBECTL (default kubectl).
EOF
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --apply) APPLY=true ;;
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

# Names of the generated ConfigMaps, one per line.
generated_configmaps() {
  "$KUBECTL" get configmaps --namespace "$NAMESPACE" --selector "$LABEL" \
    --output 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}'
}

# Names of every ConfigMap a Deployment, ReplicaSet or Pod mounts or reads env from,
# one per line. Deployments count too: their newest template may not have a ReplicaSet yet.
referenced_configmaps() {
  "$KUBECTL" get deployments,replicasets,pods --namespace "$NAMESPACE" \
    --output 'jsonpath={..configMap.name} {..configMapRef.name} {..configMapKeyRef.name}' |
    tr ' ' '\n' | sed '/^$/d' | sort -u
}

main() {
  parse_args "$@"
  echo "Pruning generated ConfigMaps in namespace $NAMESPACE ($([[ $APPLY == true ]] && echo "deleting" || echo "dry run; --apply deletes"))"

  # Generated ones first, references second: a ConfigMap created by an apply that has
  # already reached its Deployment is then seen as referenced.
  local generated referenced
  generated="$(generated_configmaps)"
  referenced="$(referenced_configmaps)"

  local name kept=0 unused=0
  while IFS= read -r name; do
    [[ -n "$name" ]] || continue
    if grep --quiet --line-regexp --fixed-strings -- "$name" <<<"$referenced"; then
      echo "keep    configmap/$name (in use)"
      kept=$((kept + 1))
    elif [[ $APPLY == true ]]; then
      "$KUBECTL" delete configmap "$name" --namespace "$NAMESPACE" --ignore-not-found
      unused=$((unused + 1))
    else
      echo "unused  configmap/$name (would be deleted with --apply)"
      unused=$((unused + 1))
    fi
  done <<<"$generated"

  echo "Done: $kept in use, $unused $([[ $APPLY == true ]] && echo "deleted" || echo "to delete")."
}

main "$@"
