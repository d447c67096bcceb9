#!/bin/bash
# The node agent stand-in's /etc/cont-init.d/01-check-apikey.sh, the image's own API-key
# check (DataDog/datadog-agent Dockerfiles/agent/cont-init.d/01-check-apikey.sh). In our
# pod it gates nothing: `init-config` runs every script in a loop whose exit status is
# the last script's (components/datadog/agent.py), as the chart's does.
if [[ -z "${DD_API_KEY:-}" ]]; then
  echo "You must set an DD_API_KEY environment variable to run the Datadog Agent container"
  exit 1
fi
