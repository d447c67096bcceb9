#!/bin/bash
# The node agent stand-in's /etc/cont-init.d/01-check-apikey.sh: the image's own
# API-key gate, run by the pod's `init-config` container (the `agent run` binary
# has none). DataDog/datadog-agent Dockerfiles/agent/cont-init.d/01-check-apikey.sh.
if [[ -z "${DD_API_KEY:-}" ]]; then
  echo "You must set an DD_API_KEY environment variable to run the Datadog Agent container"
  exit 1
fi
