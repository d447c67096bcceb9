// The local cluster's DNS server: CoreDNS with only the plugins the local cluster's
// Corefile uses (devenv/dataplane.py), instead of the ~60 of a release build that pull
// in cloud SDKs. The order is the one of coredns/coredns plugin.cfg (v1.15.0): the
// server runs a zone's plugins in this order, not in the Corefile's.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"
)

var directives = []string{
	"reload", "bind", "ready", "health", "errors", "log",
	"loadbalance", "cache", "hosts", "kubernetes", "loop", "whoami",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
