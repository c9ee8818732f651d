#!/usr/bin/env bash
# The container build gives the same bytes as the host build (issue 6, "Dockerized build").
# Installs podman (+ runc, debootstrap) if missing, configures it for machines like ours through
# a private containers.conf (runc runtime, modest ulimits; /etc is left alone), makes a Debian 12
# base image offline with debootstrap from the host's own mirror piped into `podman import`,
# builds docker/Dockerfile on it, builds recipes/hello in the container (docker/build.sh) and on
# the host, and requires byte-identical outputs when both manifests record the same compression
# library versions. Exits 125 (skipped) only when podman cannot run at all here.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib/common.sh"

t0=$SECONDS
phase() { note "$1 ($((SECONDS - t0)) s so far)"; }
skip() { echo "SKIP: $*" >&2; exit 125; }

# --- podman, configured for this machine -----------------------------------------------------
need=()
for p in podman runc debootstrap; do command -v "$p" >/dev/null || need+=("$p"); done
if ((${#need[@]})); then
  [[ $(id -u) -eq 0 ]] || skip "${need[*]} missing and not root to install them"
  phase "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc debootstrap >/dev/null; } ||
    skip "cannot install podman"
fi
[[ $(id -u) -eq 0 ]] || skip "debootstrap needs root"

conf_dir=$TDXIMG_BINARY_DIR/container-test
mkdir -p "$conf_dir"
cat >"$conf_dir/containers.conf" <<'CONF'
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
export CONTAINERS_CONF=$conf_dir/containers.conf
podman info >"$WORK/podman-info.txt" 2>&1 || { cat "$WORK/podman-info.txt" >&2; skip "podman cannot run here"; }

# --- base image: debootstrap from the host's mirror, imported --------------------------------
mirror=$("$TDXIMG_SOURCE_DIR/docker/build.sh" --print-mirrors | sed -n 1p)
[[ -n $mirror ]] || fail "no Debian mirror in the host's apt sources"
base=localhost/tdximg-base:bookworm
# Rebuilt once a week (bookworm point releases), else reused.
created=$(podman image inspect --format '{{.Created.Unix}}' "$base" 2>/dev/null || echo 0)
if (($(date +%s) - created > 7 * 86400)); then
  phase "debootstrap --variant=minbase bookworm from the host's mirror"
  rootfs=$WORK/rootfs
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . | podman import - "$base" >/dev/null
  rm -rf "$rootfs"
fi
podman run --rm --network host "$base" true || skip "podman cannot run a container here"

# --- the two builds ------------------------------------------------------------------------------
recipes=$(locked_recipes)
# An empty store, like the container's: both sides fetch every input and compress every segment.
phase "host build of recipes/hello"
"$TDXIMG" --cache "$WORK/host-store" -q build "$recipes/hello" -o "$WORK/host" >/dev/null

# The container starts with an empty store: every input is fetched again from the mirror there.
phase "container image build + container build of recipes/hello"
TDXIMG_CONTAINER_ENGINE=podman TDXIMG_BASE_IMAGE=$base TDXIMG_IMAGE=localhost/tdximg-builder:test \
  TDXIMG_RECIPE_ROOT=$(dirname "$recipes") TDXIMG_BUILD_JOBS=${TDXIMG_BUILD_JOBS:-2} \
  "$TDXIMG_SOURCE_DIR/docker/build.sh" "$recipes/hello" "$WORK/container" >/dev/null
phase "builds done"

# --- compare -------------------------------------------------------------------------------------
libs() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["compression_libraries"], sort_keys=True))' "$1"; }
host_libs=$(libs "$WORK/host/manifest.json")
cont_libs=$(libs "$WORK/container/manifest.json")
if [[ $host_libs != "$cont_libs" ]]; then
  fail "compression libraries differ (host $host_libs, container $cont_libs): the outputs cannot be compared byte for byte; update the host or the base image"
fi
sha_all "$WORK/host" >"$WORK/host.sha"
sha_all "$WORK/container" >"$WORK/container.sha"
cat "$WORK/host.sha" >&2
[[ $(wc -l <"$WORK/host.sha") -ge 8 ]] || fail "the host build wrote too few files"
if ! diff -u "$WORK/host.sha" "$WORK/container.sha" >&2; then
  "$TDXIMG" diff "$WORK/host" "$WORK/container" >&2 || true
  fail "the container build differs from the host build"
fi
phase "PASS: container and host outputs are byte-identical"
echo "podman_build: total $((SECONDS - t0)) s" >&2
