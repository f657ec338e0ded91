#!/usr/bin/env bash
# Entrypoint of the local eclipse-temurin stand-in (see Containerfile): like the
# real image's, it trusts extra CA certificates only when USE_SYSTEM_CA_CERTS is
# set, and in every case ends by running the container's command.
set -euo pipefail

# Certificates (*.crt, PEM) that a pod mounts here are added when asked for.
CERTIFICATES_DIR=/certificates

# Runs a command silently, showing its output only when it fails.
quietly() {
  local output
  if ! output=$("$@" 2>&1); then
    printf '%s\n' "${output}" >&2
    return 1
  fi
}

trust_as_root() {
  # Writable root filesystem: extend the system store, then make it the JDK's.
  local cert
  for cert in "${CERTIFICATES_DIR}"/*.crt; do
    [[ -e ${cert} ]] || continue
    cp "${cert}" /usr/local/share/ca-certificates/
  done
  quietly update-ca-certificates
  quietly trust extract --overwrite --format=java-cacerts --filter=ca-anchors \
    --purpose=server-auth "${JAVA_HOME}/lib/security/cacerts"
}

trust_as_user() {
  # Non-root, possibly read-only root filesystem: a private copy of the JDK
  # store in the temp dir, handed to every JVM through JAVA_TOOL_OPTIONS.
  local store cert
  store=$(mktemp -d)/cacerts
  cp "${JAVA_HOME}/lib/security/cacerts" "${store}"
  for cert in "${CERTIFICATES_DIR}"/*.crt; do
    [[ -e ${cert} ]] || continue
    quietly keytool -importcert -noprompt -keystore "${store}" -storepass changeit \
      -alias "extra-$(basename "${cert}" .crt)" -file "${cert}"
  done
  export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -Djavax.net.ssl.trustStore=${store} -Djavax.net.ssl.trustStorePassword=changeit"
}

if [[ -n ${USE_SYSTEM_CA_CERTS:-} ]]; then
  if [[ $(id -u) -eq 0 ]]; then trust_as_root; else trust_as_user; fi
fi

exec "$@"
