#!/usr/bin/env bash
# One ephemeral runner: sign in as the GitHub App, get a registration token, register with this
# platform's labels, run one job, exit (the Container Apps job's execution then ends).
#
# Microsoft's tutorial sample (Azure-Samples/container-apps-ci-cd-runner-tutorial
# github-actions-runner/entrypoint.sh) registers with a personal token; this signs in as a
# GitHub App instead, as GitHub documents it:
#   - a JWT, RS256, `iat` 60 s in the past, `exp` at most 10 minutes ahead, `iss` the App ID
#     (docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app);
#   - POST /app/installations/{id}/access_tokens for an installation token;
#   - POST .../actions/runners/registration-token for the runner's token
#     (docs.github.com/en/rest/actions/self-hosted-runners).
# The private key leaves the environment before the runner starts: no job can read it.
set -euo pipefail

: "${GITHUB_APP_ID:?}" "${GITHUB_APP_INSTALLATION_ID:?}" "${GITHUB_APP_PRIVATE_KEY:?}"
: "${GITHUB_API_URL:?}" "${REGISTRATION_TOKEN_API_URL:?}" "${RUNNER_SCOPE_URL:?}" "${RUNNER_LABELS:?}"
runner_home=${RUNNER_HOME:-/home/runner}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

post() { # post TOKEN URL: a GitHub REST POST, its JSON on stdout; fails on an HTTP error
  curl --fail --silent --show-error --max-time 30 --retry 3 --request POST \
    --header "Accept: application/vnd.github+json" \
    --header "X-GitHub-Api-Version: 2022-11-28" \
    --header "Authorization: Bearer $1" "$2"
}

now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
payload=$(printf '{"iat":%d,"exp":%d,"iss":"%s"}' "$((now - 60))" "$((now + 540))" "$GITHUB_APP_ID" | b64url)
key_file=$(mktemp)
trap 'rm -f "$key_file"' EXIT
(umask 077 && printf '%s\n' "$GITHUB_APP_PRIVATE_KEY" >"$key_file")
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$key_file" -binary | b64url)
rm -f "$key_file"
jwt="$header.$payload.$signature"

installation_token=$(post "$jwt" "$GITHUB_API_URL/app/installations/$GITHUB_APP_INSTALLATION_ID/access_tokens" | jq -er .token)
registration_token=$(post "$installation_token" "$REGISTRATION_TOKEN_API_URL" | jq -er .token)
unset GITHUB_APP_PRIVATE_KEY jwt installation_token

cd "$runner_home"
./config.sh --url "$RUNNER_SCOPE_URL" --token "$registration_token" --labels "$RUNNER_LABELS" \
  --unattended --ephemeral
unset registration_token
exec ./run.sh
