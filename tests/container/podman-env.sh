# shellcheck shell=bash
# Sourced by the scripts here, and by hand (`source tests/container/podman-env.sh`),
# so that every podman call uses the test's own configuration and storage, never
# the host's. Also names the local stand-in image that build-image.sh makes.

container_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF="${container_dir}/containers.conf"
export CONTAINERS_STORAGE_CONF="${container_dir}/storage.conf"

# The Temurin release the image carries; the tag says "standin" and "bookworm"
# so that nobody takes it for the registry's eclipse-temurin:25.0.3_9-jdk-noble.
export STANDIN_JDK_VERSION=${STANDIN_JDK_VERSION:-25.0.3+9}
export STANDIN_IMAGE=${STANDIN_IMAGE:-localhost/eclipse-temurin-standin:${STANDIN_JDK_VERSION/+/_}-jdk-bookworm}
