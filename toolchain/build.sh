#!/usr/bin/env bash
# Build the pinned local toolchain (Pulumi CLI, Kubernetes provider, etcd,
# kube-apiserver/controller-manager/scheduler, kubectl, kwok, the real node's
# kubelet and pause binary, and the linters actionlint and kube-score) from Go modules into a
# cache outside the repo, keyed by version. Reuses whatever is already built.
#
#   toolchain/build.sh            # build what is missing, print the bin dir
#   toolchain/build.sh actionlint # only the workflow linter
#   toolchain/build.sh kube-score # only the manifest linter the unit tests run
#   toolchain/build.sh pulumi     # only the Pulumi CLI, its language host and the Kubernetes provider
#   toolchain/build.sh cluster    # only the local cluster (control plane, kwok, real node)
#   toolchain/build.sh where      # print the bin dir, build nothing
#   toolchain/build.sh plan [PART] # each step a build would run, one a line; build nothing
#   TOOLS_CACHE=/x toolchain/build.sh
#
# Vendor download sites are unreachable here, so everything comes from the Go
# module proxy. Several modules carry local `replace` directives, which is why
# each family gets its own small wrapper module instead of `go install mod@v`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
# The one definition of where the toolchain lives; Python asks `build.sh where`.
TOOLS_CACHE=${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aks-platform-tools}
BIN="$TOOLS_CACHE/bin"
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'  # the header above, as usage
  exit 0
fi
if [[ "${1:-}" == "where" ]]; then
  echo "$BIN"
  exit 0
fi
# `build.sh plan [PART]`: print each step a build of PART would run, one a line, and build
# nothing: `make dev` announces a long build only when there will be one (devenv/dev.py).
PLAN=""
if [[ "${1:-}" == "plan" ]]; then
  PLAN=1
  shift
else
  mkdir -p "$BIN" "$TOOLS_CACHE/logs"
fi

log() { printf '[toolchain %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# step N WHAT SECONDS: announce step N of the cold build, with the time it took on
# 2 idle cores with empty caches (measured: 811 s for steps 1-8; each later step's own
# figure was measured alone); a loaded machine is slower.
# In plan mode it prints the step's name and fails, and the caller (`step ... || return 0`)
# stops there: the up-to-date checks before each step are the build's own.
STEPS=14
step() {
  if [[ -n "$PLAN" ]]; then
    echo "$2"
    return 1
  fi
  log "[$1/$STEPS] building $2 (cold: about $(($3 / 60)) min $(($3 % 60)) s on 2 idle cores)"
}

# stamp NAME VERSION: a tool is current when its stamp file matches its version.
is_built() { [[ -x "$BIN/$1" && "$(cat "$TOOLS_CACHE/stamps/$1" 2>/dev/null)" == "$2" ]]; }
mark_built() { mkdir -p "$TOOLS_CACHE/stamps"; echo "$2" >"$TOOLS_CACHE/stamps/$1"; }

# run_logged NAME CMD...: keep the long Go output in a log file, show a heartbeat.
run_logged() {
  local name=$1; shift
  local logfile="$TOOLS_CACHE/logs/$name.log" start=$SECONDS
  "$@" >"$logfile" 2>&1 &
  local pid=$!
  # Poll each second (a quick step ends quickly); a heartbeat every 30 s.
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (((SECONDS - start) % 30 == 0)) && kill -0 "$pid" 2>/dev/null; then
      log "  $name: still building ($((SECONDS - start))s)"
    fi
  done
  if ! wait "$pid"; then
    log "FAILED: $name (last lines of $logfile):"
    tail -n 30 "$logfile" >&2
    return 1
  fi
  log "  $name: done in $((SECONDS - start))s"
}

# go_install_tool NAME VERSION STEP SECONDS PACKAGE: a tool whose module has no replace
# directives, built by a plain `go install PACKAGE@vVERSION` into the bin dir as NAME.
go_install_tool() {
  is_built "$1" "$2" && return 0
  step "$3" "$1 v$2" "$4" || return 0
  run_logged "$1" env GOBIN="$BIN" go install -trimpath -ldflags '-s -w' "$5@v$2"
  mark_built "$1" "$2"
}

new_wrapper() { # new_wrapper DIR MODULE_NAME
  rm -rf "$1"; mkdir -p "$1"
  (cd "$1" && go mod init "$2" >/dev/null 2>&1)
}

build_pulumi() {
  is_built pulumi "$PULUMI_VERSION" && return 0
  step 2 "pulumi CLI v$PULUMI_VERSION" 180 || return 0
  local w="$TOOLS_CACHE/src/pulumi-$PULUMI_VERSION"
  new_wrapper "$w" local.build/pulumi
  local ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
  run_logged pulumi bash -c "
    cd '$w'
    go mod edit -replace=github.com/atotto/clipboard=$PULUMI_CLIPBOARD_REPLACE
    go get github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_VERSION github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION
    go build -trimpath -tags osusergo,grpcnotrace -ldflags '$ldflags' -o '$BIN/pulumi' github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
  mark_built pulumi "$PULUMI_VERSION"
}

build_kubernetes_provider() {
  is_built pulumi-resource-kubernetes "$PULUMI_KUBERNETES_VERSION" && return 0
  step 3 "pulumi-resource-kubernetes v$PULUMI_KUBERNETES_VERSION" 330 || return 0
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_MODULE_VERSION
  local w="$TOOLS_CACHE/src/pulumi-kubernetes-$PULUMI_KUBERNETES_VERSION"
  run_logged pulumi-resource-kubernetes bash -c "
    set -e
    src=\$(go mod download -json '$mod' | sed -n 's/.*\"Dir\": \"\\(.*\\)\",/\\1/p')
    rm -rf '$w'; cp -r \"\$src\" '$w'; chmod -R u+w '$w'; cd '$w'
    # The module replaces its own sdk with ../sdk (absent from the module zip);
    # the binary does not use that sdk, so the required release stands in.
    go mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4
    # schema-embed.json and terraform-mapping-embed.json are generated, not shipped.
    (cd cmd/pulumi-resource-kubernetes && VERSION=$PULUMI_KUBERNETES_VERSION go run generate.go)
    go build -trimpath -ldflags '-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION' \
      -o '$BIN/pulumi-resource-kubernetes' ./cmd/pulumi-resource-kubernetes"
  mark_built pulumi-resource-kubernetes "$PULUMI_KUBERNETES_VERSION"
}

build_etcd() {
  is_built etcd "$ETCD_VERSION" && return 0
  step 4 "etcd v$ETCD_VERSION" 30 || return 0
  local w="$TOOLS_CACHE/src/etcd-$ETCD_VERSION"
  new_wrapper "$w" local.build/etcd
  run_logged etcd bash -c "
    cd '$w'
    go get go.etcd.io/etcd/server/v3@v$ETCD_VERSION
    go build -trimpath -ldflags '-s -w' -o '$BIN/etcd' go.etcd.io/etcd/server/v3"
  mark_built etcd "$ETCD_VERSION"
}

prepare_kubernetes_wrapper() { # prepare_kubernetes_wrapper VERSION DIR
  local v=$1 w=$2
  new_wrapper "$w" local.build/kubernetes
  local minor=${v#*.}; minor=${minor%%.*}
  local src
  src=$(go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  # k8s.io/kubernetes replaces each staging module with ./staging/...; point
  # each at its published v0.<minor>.<patch> release instead.
  local patch=${v##*.} edits=()
  while read -r m; do
    edits+=("-replace=$m=$m@v0.$minor.$patch")
  done < <(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$src/go.mod")
  (cd "$w" && go mod edit "${edits[@]}" && \
    sed -n 's/^godebug /godebug /p' "$src/go.mod" >>go.mod)
}

kubernetes_stamp() { # kubernetes_stamp VERSION: the -X flags that stamp the version
  local v=$1 minor=${1#*.}; minor=${minor%%.*}
  local pkg=k8s.io/component-base/version cgo=k8s.io/client-go/pkg/version
  echo "-X $pkg.gitVersion=v$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
    "-X $cgo.gitVersion=v$v -X $cgo.gitMajor=1 -X $cgo.gitMinor=$minor -X $cgo.gitTreeState=clean"
}

build_kubernetes() {
  local v=$KUBERNETES_VERSION
  if is_built kube-apiserver "$v" && is_built kube-controller-manager "$v" && is_built kube-scheduler "$v"; then
    return 0
  fi
  step 6 "kube-apiserver, kube-controller-manager, kube-scheduler v$v" 180 || return 0
  local w="$TOOLS_CACHE/src/kubernetes-$v"
  prepare_kubernetes_wrapper "$v" "$w"
  local stamp
  stamp=$(kubernetes_stamp "$v")
  run_logged kubernetes bash -c "
    set -e; cd '$w'
    go get k8s.io/kubernetes@v$v
    for c in kube-apiserver kube-controller-manager kube-scheduler; do
      go build -trimpath -ldflags '-s -w $stamp' -o '$BIN/'\$c k8s.io/kubernetes/cmd/\$c
    done"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do mark_built "$c" "$v"; done
}

# The real node's kubelet: same wrapper module and version stamp as the control plane
# (reuses its wrapper when present), kept apart so an existing control plane is not rebuilt.
build_kubelet() {
  local v=$KUBERNETES_VERSION
  is_built kubelet "$v" && return 0
  # About 1 min after the control plane, whose module and build caches it shares.
  step 7 "kubelet v$v" 360 || return 0
  local w="$TOOLS_CACHE/src/kubernetes-$v"
  [[ -f "$w/go.mod" ]] || { prepare_kubernetes_wrapper "$v" "$w"; }
  run_logged kubelet bash -c "
    set -e; cd '$w'
    go get k8s.io/kubernetes@v$v
    go build -trimpath -ldflags '-s -w $(kubernetes_stamp "$v")' -o '$BIN/kubelet' k8s.io/kubernetes/cmd/kubelet"
  mark_built kubelet "$v"
}

# kubectl at the cluster's own version, for people and the tutorial (docs/tutorial.md):
# Debian's kubernetes-client is 1.20, far outside the supported skew of one minor.
build_kubectl() {
  local v=$KUBERNETES_VERSION
  is_built kubectl "$v" && return 0
  # About 1 min after the control plane, whose module and build caches it shares.
  step 9 "kubectl v$v" 90 || return 0
  local w="$TOOLS_CACHE/src/kubernetes-$v"
  [[ -f "$w/go.mod" ]] || { prepare_kubernetes_wrapper "$v" "$w"; }
  run_logged kubectl bash -c "
    set -e; cd '$w'
    go get k8s.io/kubernetes@v$v
    go build -trimpath -ldflags '-s -w $(kubernetes_stamp "$v")' -o '$BIN/kubectl' k8s.io/kubernetes/cmd/kubectl"
  mark_built kubectl "$v"
}

# The real node's data plane (devenv/dataplane.py). kube-proxy: the kubelet's wrapper
# module and version stamp; a few seconds after the kubelet, whose caches it shares.
build_kube_proxy() {
  local v=$KUBERNETES_VERSION
  is_built kube-proxy "$v" && return 0
  step 10 "kube-proxy v$v" 60 || return 0
  local w="$TOOLS_CACHE/src/kubernetes-$v"
  [[ -f "$w/go.mod" ]] || { prepare_kubernetes_wrapper "$v" "$w"; }
  run_logged kube-proxy bash -c "
    set -e; cd '$w'
    go get k8s.io/kubernetes@v$v
    go build -trimpath -ldflags '-s -w $(kubernetes_stamp "$v")' -o '$BIN/kube-proxy' k8s.io/kubernetes/cmd/kube-proxy"
  mark_built kube-proxy "$v"
}

# CoreDNS with only the plugins the local cluster uses (toolchain/coredns/main.go).
build_coredns() {
  local sum
  sum="$COREDNS_VERSION-$(sha256sum "$here/coredns/main.go" | cut -c1-12)"
  is_built coredns "$sum" && return 0
  step 11 "CoreDNS v$COREDNS_VERSION" 125 || return 0
  local w="$TOOLS_CACHE/src/coredns-$COREDNS_VERSION"
  new_wrapper "$w" local.build/coredns
  cp "$here/coredns/main.go" "$w/main.go"
  run_logged coredns bash -c "
    set -e; cd '$w'
    go get github.com/coredns/coredns@v$COREDNS_VERSION
    go mod tidy
    go build -trimpath -ldflags '-s -w' -o '$BIN/coredns' ."
  mark_built coredns "$sum"
}

build_metrics_server() {
  go_install_tool metrics-server "$METRICS_SERVER_VERSION" 12 200 sigs.k8s.io/metrics-server/cmd/metrics-server
}

# kube-router runs with its NetworkPolicy firewall alone (no routing, no service proxy).
build_kube_router() {
  go_install_tool kube-router "$KUBE_ROUTER_VERSION" 13 205 github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
}

# The sandbox ("pause") image's only binary: no registry is reachable, so the
# project builds its own from toolchain/pause (static, no cgo).
build_pause() {
  local sum
  sum=$(sha256sum "$here/pause/main.go" | cut -c1-16)
  is_built pause "$sum" && return 0
  step 8 "pause" 1 || return 0
  # A second's build: run directly, not under run_logged.
  (cd "$here/pause" && go build -trimpath -ldflags '-s -w' -o "$BIN/pause" .)
  mark_built pause "$sum"
}

build_kwok() {
  go_install_tool kwok "$KWOK_VERSION" 5 60 sigs.k8s.io/kwok/cmd/kwok
}

build_actionlint() {
  go_install_tool actionlint "$ACTIONLINT_VERSION" 1 30 github.com/rhysd/actionlint/cmd/actionlint
}

# kube-score, which tests/test_kube_score.py runs over the rendered prod manifests. A plain
# `go install` of its release tag: the module has no replace directives.
build_kube_score() {
  go_install_tool kube-score "$KUBE_SCORE_VERSION" 14 48 github.com/zegl/kube-score/cmd/kube-score
}

install_language_host() {
  [[ -z "$PLAN" ]] || return 0
  # The Go language host is not served by the module proxy, and the Python
  # policy analyzer ships only in release archives; the engine runs these
  # launchers instead (see toolchain/language_host.py and policy/).
  install -m 0755 "$here/pulumi-language-python" "$BIN/pulumi-language-python"
  install -m 0644 "$here/language_host.py" "$BIN/language_host.py"
  install -m 0755 "$here/pulumi-analyzer-policy-python" "$BIN/pulumi-analyzer-policy-python"
}

build_dataplane() { build_kube_proxy; build_coredns; build_metrics_server; build_kube_router; }

main() {
  local start=$SECONDS part=${1:-all}
  [[ -n "$PLAN" ]] || log "tools cache: $TOOLS_CACHE"
  case "$part" in
    actionlint) build_actionlint ;; # just the linter: make lint needs nothing else
    kube-score) build_kube_score ;; # just the manifest linter: make unit needs nothing else
    # `make dev` builds only what the machine lacks (devenv/tools.py): a compatible installed
    # pulumi needs no `pulumi` part; a cluster of your own (kind, minikube) needs no `cluster` part.
    pulumi) build_pulumi; install_language_host; build_kubernetes_provider ;;
    cluster) build_etcd; build_kwok; build_kubernetes; build_kubelet; build_pause; build_kubectl; build_dataplane ;;
    all)
      build_actionlint
      build_pulumi
      install_language_host
      build_kubernetes_provider
      build_etcd
      build_kwok
      build_kubernetes
      build_kubelet
      build_pause
      build_kubectl
      build_dataplane
      build_kube_score
      [[ -n "$PLAN" ]] || log "toolchain ready in $((SECONDS - start))s" ;;
    *) log "unknown part '$part': expected pulumi, cluster, actionlint, kube-score or nothing (all)"; exit 2 ;;
  esac
  [[ -n "$PLAN" ]] || echo "$BIN"
}

main "$@"
