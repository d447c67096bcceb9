#!/bin/bash
# The node agent stand-in's /etc/cont-init.d/89-copy-customfiles.sh, run by the pod's
# `init-config` container: custom *.yaml check configs under /conf.d and *.py checks
# under /checks.d go to the same paths under /etc/datadog-agent, symlinks followed
# (DataDog/datadog-agent Dockerfiles/agent/cont-init.d/89-copy-customfiles.sh).
# STANDIN_ROOT: "" in the image; a directory in tests/test_datadog_standin.py.
root="${STANDIN_ROOT:-}"
for kind in "conf.d:*.yaml" "checks.d:*.py"; do
  while IFS= read -r -d '' found; do
    relative="${found#"$root/"}"
    target="$root/etc/datadog-agent/$relative"
    mkdir -p "$(dirname "$target")" && cp -f "$found" "$target"
  done < <(find -L "$root/${kind%%:*}" -name "${kind#*:}" -print0 2>/dev/null)
done
