#!/usr/bin/env bash
# A different non-root user: B runs as uid 1111 gid 2222 with no supplementary groups
# (setpriv), with a store and output directory that user owns. Every output must be identical.
source "$(dirname "$0")/lib/repro.sh"
VARIATION="uid/gid 0:0 vs 1111:2222"
[[ $(id -u) == 0 ]] || { echo "needs root to switch uid (setpriv)"; exit 125; }
command -v setpriv >/dev/null || { echo "setpriv missing"; exit 125; }
as_user=(setpriv --reuid=1111 --regid=2222 --clear-groups)
# The user must reach the recipes, the binary and the input archive.
"${as_user[@]}" test -r "$RECIPES/hello/recipe.json" -a -x "$TDXIMG" ||
  fail "uid 1111 cannot read $RECIPES or run $TDXIMG (check directory permissions)"
for name in "${REPRO_RECIPES[@]}"; do
  mkdir -p "$WORK/$name/user"
  chown 1111:2222 "$WORK/$name/user"
  chmod 0755 "$WORK/$name"
  fresh_store "$name" "$WORK/$name/store-a"
  repro_inputs "$name" >/dev/null
  "${as_user[@]}" "$TDXIMG" -q --cache "$WORK/$name/user/store" store import "$(repro_inputs "$name")" >/dev/null
  run_build "$name" "$WORK/$name/store-a" "$WORK/$name/a" "$PROBE" "$WORK/$name/probe-a" 'id -u; id -g; id -G'
  run_build "$name" "$WORK/$name/user/store" "$WORK/$name/user/out" "${as_user[@]}" "$PROBE" "$WORK/$name/user/probe-b" 'id -u; id -g; id -G'
  [[ $(tr '\n' ' ' < "$WORK/$name/user/probe-b") == "1111 2222 2222 " ]] ||
    fail "the uid/gid did not reach build B: $(cat "$WORK/$name/user/probe-b")"
  [[ $(stat -c %u:%g "$WORK/$name/user/out/uki.efi") == 1111:2222 ]] || fail "build B's outputs are not owned by 1111:2222"
  same_outputs "$name" "$WORK/$name/a" "$WORK/$name/user/out"
done
echo "repro uid: ok"
