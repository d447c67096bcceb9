#!/bin/bash
# The Cluster Agent stand-in's /entrypoint.sh: what the real image's entrypoint
# does before `datadog-cluster-agent start` (DataDog/datadog-agent
# Dockerfiles/cluster-agent/entrypoint.sh; research/datadog-standin-facts.md).
# It copies every *.yaml and *.yaml.default under /conf.d (a ConfigMap: the files
# sit in a timestamped "..<date>" directory behind symlinks) to the same relative
# path under /etc/datadog-agent, which must therefore be writable, and refuses
# to start without an API key.
set -u
while IFS= read -r -d '' found; do
  relative="${found#/conf.d/}"
  relative="${relative#..*/}" # the ConfigMap's "..<date>/" directory is not part of the path
  mkdir -p "/etc/datadog-agent/conf.d/$(dirname "$relative")" || exit 1
  cp -f "$found" "/etc/datadog-agent/conf.d/$relative" || exit 1
  echo "copied /conf.d/$relative"
done < <(find /conf.d \( -name '*.yaml' -o -name '*.yaml.default' \) -print0 2>/dev/null)
if [[ -z "${DD_API_KEY:-}" ]]; then
  echo "You must set an DD_API_KEY environment variable to run the Datadog Cluster Agent container"
  exit 1
fi
exec "$@"
