#!/usr/bin/env bash
# Builds the Latchkey image from the staged context (make image-context).
#
#   deploy/image.sh build IMAGE CONTEXT
#
# CONTAINER_ENGINE picks docker, podman or buildah; unset, the first that
# works is used (docker only when its daemon answers). STORAGE_DRIVER (e.g.
# vfs) and STORAGE_ROOT give podman/buildah their storage, for machines
# without overlay support; VERSION and REVISION become the image's labels.
set -euo pipefail

cmd=${1:?usage: image.sh build IMAGE CONTEXT}
image=${2:?image name}
context=${3:?context directory}
[ "$cmd" = build ] || { echo "image.sh: unknown command $cmd" >&2; exit 2; }

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
	if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
		engine=docker
	elif command -v podman >/dev/null 2>&1; then
		engine=podman
	elif command -v buildah >/dev/null 2>&1; then
		engine=buildah
	else
		echo "image.sh: no container engine: install docker, podman or buildah" >&2
		exit 1
	fi
fi

storage=()
if [ "$engine" != docker ]; then
	[ -n "${STORAGE_DRIVER:-}" ] && storage+=(--storage-driver "$STORAGE_DRIVER")
	[ -n "${STORAGE_ROOT:-}" ] && storage+=(--root "$STORAGE_ROOT/storage" --runroot "$STORAGE_ROOT/run")
fi

build_args=(
	--build-arg "VERSION=${VERSION:-dev}"
	--build-arg "REVISION=${REVISION:-unknown}"
	--build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	-f Containerfile -t "$image"
)
# The docker image format keeps HEALTHCHECK; the OCI format has no field for it.
case "$engine" in
docker) docker build "${build_args[@]}" "$context" ;;
podman) podman "${storage[@]}" build --format docker "${build_args[@]}" "$context" ;;
buildah) buildah "${storage[@]}" build --format docker "${build_args[@]}" "$context" ;;
*) echo "image.sh: CONTAINER_ENGINE must be docker, podman or buildah (got $engine)" >&2; exit 2 ;;
esac
echo "image.sh: built $image with $engine"
