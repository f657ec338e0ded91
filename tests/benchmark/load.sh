# shellcheck shell=bash
# Sourced by scripts/benchmark.sh: the load generators (wrk, or the JDK-only LoadGenerator.java) and the saturation test.

LOADGEN_CLASSES=""
loadgen() { # loadgen fixed|closed --flag=value...
  on_cpu "$LOAD_CPU" java -XX:+UseSerialGC -Xmx256m -cp "$LOADGEN_CLASSES" LoadGenerator "$@"
}
compile_loadgen() {
  LOADGEN_CLASSES="$WORK_DIR/loadgen"
  local source="$ROOT/tests/benchmark/LoadGenerator.java"
  if [[ ! "$LOADGEN_CLASSES/LoadGenerator.class" -nt "$source" ]]; then
    say "compiling tests/benchmark/LoadGenerator.java"
    mkdir -p "$LOADGEN_CLASSES"
    javac -d "$LOADGEN_CLASSES" "$source"
  fi
}

# saturate <seconds> <url> <output file>: closed loop; prints "requests=… rps=… p50_ms=… p99_ms=… non2xx=… sock_err=…"
saturate() {
  local seconds="$1" url="$2" out="$3"
  if [[ "$LOAD" == wrk ]]; then
    on_cpu "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNS" -d"${seconds}s" --timeout 5s \
      -s "$ROOT/tests/benchmark/events.lua" "$url" >"$out" 2>&1
    grep '^WRK ' "$out" || { cat "$out" >&2; die "wrk printed no result"; }
  else
    loadgen closed --url="$url" --seconds="$seconds" --connections="$CONNS" >"$out" 2>&1
    grep '^LOAD ' "$out" || { cat "$out" >&2; die "LoadGenerator printed no result"; }
  fi
}

