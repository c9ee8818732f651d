#!/usr/bin/env bash
# docker/build.sh RECIPE OUT [tdximg build options...]
#   Builds RECIPE (a recipe file or directory) inside the Debian 12 build container of
#   docker/Dockerfile and writes the outputs to OUT, exactly as `tdximg build RECIPE -o OUT` does
#   on a Debian 12 host (same bytes when the compression library versions match; manifest.json
#   records them). Uses docker if its engine answers, else podman.
# docker/build.sh tdximg ARGS...
#   Runs any other tdximg command in the same container, in the checkout (mounted read-only at
#   /work/src, the working directory), e.g. `docker/build.sh tdximg lock --check recipes/hello`
#   or `docker/build.sh tdximg measure out/disk.vhd --format attested-tls`.
# docker/build.sh --print-mirrors
#   Prints the host's Debian archive mirror URI and security mirror URI (may be empty), one per
#   line, as read from /etc/apt (the same rule tdximg uses); the container gets these.
#
# Environment:
#   TDXIMG_APT_MIRROR, TDXIMG_APT_SECURITY_MIRROR
#                            Debian mirror URIs for the container (default: the host's apt
#                            sources when the host runs Debian, else the base image's)
#   TDXIMG_CONTAINER_ENGINE  docker | podman (default: docker if `docker info` works, else podman)
#   TDXIMG_BASE_IMAGE        base image (default: the digest-pinned BASE in docker/Dockerfile)
#   TDXIMG_IMAGE             tag of the build image (default tdximg-builder:local)
#   TDXIMG_RECIPE_ROOT       host directory mounted read-only at /work/src (default: the git
#                            checkout holding RECIPE, else the parent of its directory); recipes
#                            refer to siblings by relative paths ("extends": "../base"), so the
#                            whole tree must be visible
#   TDXIMG_CONTAINER_CACHE   host directory mounted as the container's tdximg store (default:
#                            none, so every run fetches its inputs afresh)
#   TDXIMG_CONTAINER_NETWORK network mode for build and run (default host: the container must
#                            reach the host's Debian mirror and nothing else)
#   TDXIMG_BUILD_JOBS        compile jobs for tdximg inside the image (default: all CPUs)
#   SOURCE_DATE_EPOCH        passed into the container when set
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

# host_mirrors: "archive<TAB>security" from the host's apt sources (one-line .list and deb822
# .sources files); entries whose suite ends in -security give the security URI.
host_mirrors() {
  local files=() f
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && files+=("$f")
  done
  ((${#files[@]})) || return 0
  awk '
    function take(uri, suites,   n, i, s, parts) {
      n = split(suites, parts, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        s = parts[i]; if (s == "") continue
        if (s ~ /-security$/) { if (sec == "") sec = uri } else { if (arc == "") arc = uri }
      }
    }
    function flush() { if (type ~ /(^|[ \t])deb([ \t]|$)/ && uris != "") { split(uris, u, /[ \t]+/); take(u[1], suites) }
                       type = ""; uris = ""; suites = "" }
    FNR == 1 { flush() }
    FILENAME ~ /\.sources$/ {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^#/) next
      if (tolower($0) ~ /^types:/)  { sub(/^[^:]*:[ \t]*/, ""); type = $0 }
      if (tolower($0) ~ /^uris:/)   { sub(/^[^:]*:[ \t]*/, ""); uris = $0 }
      if (tolower($0) ~ /^suites:/) { sub(/^[^:]*:[ \t]*/, ""); suites = $0 }
      next
    }
    /^deb[ \t]/ {
      i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      take($i, $(i + 1))
    }
    END { flush(); printf "%s\t%s\n", arc, sec }
  ' "${files[@]}"
}

if [[ ${1:-} == --print-mirrors ]]; then
  host_mirrors | tr '\t' '\n'
  exit 0
fi
if [[ $# -lt 2 || ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

engine=${TDXIMG_CONTAINER_ENGINE:-}
if [[ -z $engine ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker
  elif command -v podman >/dev/null; then engine=podman
  else echo "docker/build.sh: neither a working docker engine nor podman found" >&2; exit 125
  fi
fi
image=${TDXIMG_IMAGE:-tdximg-builder:local}
network=${TDXIMG_CONTAINER_NETWORK:-host}

# --- the image (cached by the engine: only changed steps rerun) -------------------------------
# The build context: only what compiling tdximg needs, so that editing recipes, tests or docs
# keeps the engine's cached image (compiling tdximg is most of the image build).
ctx=$(mktemp -d "${TMPDIR:-/tmp}/tdximg-ctx.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
tar -C "$repo" -cf - CMakeLists.txt include src scripts/setup docker/Dockerfile docker/entrypoint.sh |
  tar -C "$ctx" -xf -

# The container uses the host's Debian mirror, when the host is Debian (a non-Debian host, e.g. a
# CI runner on Ubuntu, names no Debian mirror: the base image's own sources are kept then).
apt_mirror=${TDXIMG_APT_MIRROR:-} apt_security=${TDXIMG_APT_SECURITY_MIRROR:-}
if [[ -z $apt_mirror ]] && grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
  IFS=$'\t' read -r apt_mirror apt_security < <(host_mirrors) || true
fi
args=(--network "$network" -f "$ctx/docker/Dockerfile" -t "$image"
      --build-arg "APT_MIRROR=${apt_mirror:-}" --build-arg "APT_SECURITY_MIRROR=${apt_security:-}"
      --build-arg "BUILD_JOBS=${TDXIMG_BUILD_JOBS:-0}")
[[ -n ${TDXIMG_BASE_IMAGE:-} ]] && args+=(--build-arg "BASE=$TDXIMG_BASE_IMAGE")
echo "docker/build.sh: $engine build -t $image (apt mirror ${apt_mirror:-from the base image})" >&2
"$engine" build "${args[@]}" "$ctx" >&2

# --- run ------------------------------------------------------------------------------------
run=(--rm --network "$network")
[[ -n ${TDXIMG_CONTAINER_CACHE:-} ]] && { mkdir -p "$TDXIMG_CONTAINER_CACHE"; run+=(-v "$(realpath -e "$TDXIMG_CONTAINER_CACHE"):/cache"); }
[[ -n ${SOURCE_DATE_EPOCH:-} ]] && run+=(-e "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH")

if [[ $1 == tdximg ]]; then
  shift
  root=${TDXIMG_RECIPE_ROOT:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)}
  root=$(realpath -e "$root")
  case $PWD/ in "$root"/*) wd=/work/src${PWD#"$root"} ;; *) wd=/work/src ;; esac
  exec "$engine" run "${run[@]}" -v "$root:/work/src:ro" -w "$wd" --entrypoint tdximg "$image" "$@"
fi

recipe=$1 out=$2
shift 2
recipe=$(realpath -e "$recipe")
rdir=$recipe; [[ -d $rdir ]] || rdir=$(dirname "$rdir")
root=${TDXIMG_RECIPE_ROOT:-}
if [[ -z $root ]]; then
  root=$(git -C "$rdir" rev-parse --show-toplevel 2>/dev/null || dirname "$rdir")
fi
root=$(realpath -e "$root")
case $recipe/ in "$root"/*) ;; *) echo "docker/build.sh: $recipe is not under $root (TDXIMG_RECIPE_ROOT)" >&2; exit 2 ;; esac
mkdir -p "$out"
out=$(realpath -e "$out")
run+=(-v "$root:/work/src:ro" -v "$out:/out")
echo "docker/build.sh: $engine run $image ${recipe#"$root"/} -> $out" >&2
exec "$engine" run "${run[@]}" "$image" "/work/src/${recipe#"$root"/}" "$@"
