#!/bin/sh
# Container entry point: tdximg-container [RECIPE [tdximg build options...]]
# Builds RECIPE (default /recipe) into /out, then hands the new files to the owner of /out: the
# container runs as root, the operator who mounted /out should own what appears there.
set -u
recipe=${1:-/recipe}
[ $# -gt 0 ] && shift
stamp=$(mktemp)
tdximg build "$recipe" -o /out "$@"
status=$?
owner=$(stat -c %u:%g /out)
if [ "$owner" != "0:0" ]; then
  find /out -maxdepth 1 -type f -newer "$stamp" -exec chown "$owner" {} +
fi
rm -f "$stamp"
exit "$status"
