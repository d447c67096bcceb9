// pause: the sandbox ("pause") container of the real node. It holds the pod's
// namespaces and does nothing else: wait for SIGTERM/SIGINT and exit 0.
// The upstream pause (kubernetes/build/pause/linux/pause.c) also reaps zombies;
// this one does not need to, as shareProcessNamespace is never set by the platform.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
