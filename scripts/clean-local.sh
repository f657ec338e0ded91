#!/usr/bin/env bash
# Removes what local runs of the programs keep on this machine: JBang's state and build cache, and the files
# the locks pinned into the local Maven repository. Other Maven artifacts there stay.
set -euo pipefail

usage() {
  cat <<USAGE
usage: scripts/clean-local.sh [--dry-run]

Removes JBANG_DIR (JBang's state, build and launch caches, class-data archives)
and, under JBANG_REPO, every file that scripts/jbang.lock and scripts/deps.lock
name, then the folders that leaves empty. Nothing else in the Maven repository
is touched. The next run fetches and builds again (about a minute).

Options:
  --dry-run   print what would be removed, remove nothing
Environment (defaults as scripts/jbang uses them):
  JBANG_DIR   \$HOME/.jbang
  JBANG_REPO  \$HOME/.m2/repository
USAGE
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

main() {
  local dry_run=0 jbang_dir repo path removed=0
  case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    --dry-run) dry_run=1 ;;
    '') ;;
    *) echo "clean-local: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  jbang_dir="${JBANG_DIR:-$HOME/.jbang}"
  repo="${JBANG_REPO:-$HOME/.m2/repository}"

  if [[ -e "$jbang_dir" ]]; then
    echo "clean-local: $jbang_dir ($(du -sh "$jbang_dir" | cut -f1))"
    ((dry_run)) || rm -rf -- "$jbang_dir"
  fi
  # Lock lines are "<sha256>  <path>"; comments start with #.
  while read -r path; do
    [[ -e "$repo/$path" ]] || continue
    ((dry_run)) && echo "clean-local: $repo/$path"
    ((dry_run)) || rm -f -- "$repo/$path"
    removed=$((removed + 1))
  done < <(awk '!/^#/ && NF == 2 { print $2 }' "$ROOT/scripts/jbang.lock" "$ROOT/scripts/deps.lock")
  if ((!dry_run)); then
    rm -f -- "$repo/.verified-locks" "$repo/.fetch.lock"
    [[ -d "$repo" ]] && find "$repo" -mindepth 1 -type d -empty -delete
  fi
  echo "clean-local: $removed locked files under $repo$( ((dry_run)) && echo ' would be removed' || echo ' removed')"
}

main "$@"
