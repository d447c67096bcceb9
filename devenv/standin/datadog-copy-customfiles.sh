#!/bin/bash
# The node agent stand-in's /etc/cont-init.d/89-copy-customfiles.sh, run by the
# pod's `init-config` container: custom *.yaml check configs under /conf.d and
# *.py checks under /checks.d go to the same paths under /etc/datadog-agent
# (DataDog/datadog-agent Dockerfiles/agent/cont-init.d/89-copy-customfiles.sh).
for kind in "conf.d:*.yaml" "checks.d:*.py"; do
  dir="/${kind%%:*}"
  [[ -d "$dir" ]] || continue
  find -L "$dir" -name "${kind#*:}" -exec cp --parents -f {} /etc/datadog-agent/ \;
done
echo "custom files copied into /etc/datadog-agent"
