#!/usr/bin/env bash
# Module boundaries (DESIGN.md "Modules"): a module may include only its own headers and those
# of the modules listed here. Also: only cli/ uses CLI11 and prints to stdout; only cli/ and
# pipeline/ log with spdlog; measure/ does no file I/O; nothing below cli/ calls exit().
set -euo pipefail
cd "${TDXIMG_SOURCE_DIR:-$(dirname "$0")/../..}"

declare -A allowed=(
  [util]="util"
  [recipe]="util recipe"
  [store]="util recipe store"
  [rootfs]="util recipe store rootfs"
  [pe]="util pe"
  [uki]="util pe uki"
  [disk]="util disk"
  [measure]="util pe uki measure"
  [verify]="util pe uki measure verify"
  [pipeline]="util recipe store rootfs pe uki disk measure verify pipeline"
  [cli]="util recipe store rootfs pe uki disk measure verify pipeline"
)
bad=0
for mod in "${!allowed[@]}"; do
  for dir in "src/$mod" "include/tdximg/$mod"; do
    [[ -d $dir ]] || continue
    while IFS=: read -r file _ line; do
      dep=$(sed -E 's|.*<tdximg/([a-z_]+)/.*|\1|' <<<"$line")
      if [[ " ${allowed[$mod]} " != *" $dep "* ]]; then
        echo "layering: $file includes tdximg/$dep, but $mod may only use: ${allowed[$mod]}"
        bad=1
      fi
    done < <(grep -rn '#include <tdximg/' "$dir" || true)
  done
done
# Library code (everything but cli/) must not own the terminal or the process.
if grep -rnE '#include <CLI/|std::cout|printf\(|std::exit\(|[^_a-z]exit\(' src --include=*.cpp --include=*.hpp include \
     | grep -v '^src/cli/' | grep -vE 'snprintf|fprintf\(stderr' ; then
  echo "layering: CLI11, stdout printing or exit() outside src/cli (see above)"
  bad=1
fi
if grep -rn '#include <spdlog/' src include | grep -vE '^src/(cli|pipeline)/'; then
  echo "layering: spdlog outside cli/ and pipeline/ (see above)"
  bad=1
fi
if grep -rnE 'fopen|std::ifstream|std::ofstream|read_file\(|write_file_atomic\(' src/measure include/tdximg/measure 2>/dev/null; then
  echo "layering: measure/ must do no file I/O (see above)"
  bad=1
fi
[[ $bad == 0 ]] && echo "layering: ok"
exit $bad
