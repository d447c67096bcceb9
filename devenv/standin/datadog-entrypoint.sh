#!/bin/bash
# The Cluster Agent stand-in's /entrypoint.sh: what the real image's entrypoint does
# before its CMD, `datadog-cluster-agent start` (DataDog/datadog-agent
# Dockerfiles/cluster-agent/entrypoint.sh and Dockerfile). It refuses to start without
# an API key, then copies every *.yaml and *.yaml.default under /conf.d to the same
# relative path under /etc/datadog-agent/conf.d, dropping the "..<name>" directories a
# ConfigMap volume keeps its files in. As upstream, a failed copy does not stop it.
# STANDIN_ROOT: "" in the image; a directory in tests/test_datadog_standin.py.
root="${STANDIN_ROOT:-}"
if [[ -z "${DD_API_KEY:-}" ]]; then
  echo "You must set an DD_API_KEY environment variable to run the Datadog Cluster Agent container"
  exit 1
fi
while IFS= read -r -d '' found; do
  kept=()
  IFS=/ read -ra parts <<< "${found#"$root/conf.d/"}"
  for part in "${parts[@]}"; do
    [[ $part == ..* ]] || kept+=("$part")
  done
  relative=$(IFS=/; echo "${kept[*]}")
  target="$root/etc/datadog-agent/conf.d/$relative"
  mkdir -p "$(dirname "$target")" && cp -f "$found" "$target" && echo "copied /conf.d/$relative"
done < <(find "$root/conf.d" \( -name '*.yaml' -o -name '*.yaml.default' \) -print0 2>/dev/null)
exec "$@"
