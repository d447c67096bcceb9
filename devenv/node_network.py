"""The network of a local cluster's real nodes: a network namespace of the cluster's
own, so two clusters on one machine never share a route, a bridge or a firewall table.

Everything of the node side runs in it (containerd, the kubelets, kube-proxy,
kube-router, metrics-server): `nsenter --net` switches the network namespace only,
so mounts still propagate as the kubelet and containerd need (`ip netns exec`
would give each process a mount namespace of its own). Inside:

- a bridge with the cluster's /24 (10.254.<slot>.0/24): the node IP, every real
  node's pod range (a /26 each), and addresses the tests use as outside hosts;
- a veth link to the host (10.253.<slot>.0/30), the only way in or out. The host
  routes the /24 and the cluster's Service range (10.96.<slot>.0/24) through it;
  nothing else is routed anywhere: the namespace has no default route;
- a guard table: pods may open no connection out of the bridge but to the API
  server (the `kubernetes` Service), so nothing a pod sends leaves the namespace.

Forwarding is switched on for the bridge and the namespace's end of the link
only, inside the namespace: the host's own sysctls (ip_forward, route_localnet,
conntrack) are never touched. Facts this rests on: shared/notes/data-plane-facts.md."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/run/netns")
SLOTS = 250
PODS_PER_NODE_BLOCK = 64
MAX_REAL_NODES = 3


def run_checked(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a host command; with `check`, a failure stops with one line: the command and its error."""
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr.strip()[-1500:]}")
    return result


@dataclass(frozen=True)
class NodeNetwork:
    offset: int
    """The cluster's port offset (LOCAL_CLUSTER_PORT_OFFSET): picks its slot, names and ranges."""
    api_port: int = 0
    """The API server's port on the host's loopback, which pods and node processes reach."""

    @property
    def slot(self) -> int:
        return self.offset % SLOTS

    @property
    def netns(self) -> str:
        return f"aksrn{self.offset}"

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns

    @property
    def host_veth(self) -> str:
        return f"aksrn{self.offset}h"[:15]

    @property
    def ns_veth(self) -> str:
        return f"aksrn{self.offset}n"[:15]

    @property
    def bridge(self) -> str:
        return f"aksrn{self.offset}b"[:15]

    # ---------------------------------------------------------------- ranges

    @property
    def block(self) -> str:
        """Node IP, pod ranges and the tests' outside hosts."""
        return f"10.254.{self.slot}.0/24"

    @property
    def node_ip(self) -> str:
        """Every real node of the cluster has this address (they share the bridge): so a
        policy engine running for one node treats every real node's pods as its own."""
        return f"10.254.{self.slot}.1"

    @property
    def link(self) -> str:
        return f"10.253.{self.slot}.0/30"

    @property
    def host_ip(self) -> str:
        """The host's end of the link: where node processes and pods reach the API server."""
        return f"10.253.{self.slot}.1"

    @property
    def ns_ip(self) -> str:
        return f"10.253.{self.slot}.2"

    @property
    def service_cidr(self) -> str:
        return service_cidr(self.offset)

    @property
    def dns_ip(self) -> str:
        """The kube-dns Service's ClusterIP, AKS's choice within the range (10th address)."""
        return str(ipaddress.ip_network(self.service_cidr)[10])

    def pod_range(self, index: int) -> tuple[str, str]:
        """(first, last) pod address of real node `index`: a /26 of the block each, skipping
        its first 16 addresses (the node IP lives in the first)."""
        if not 0 <= index < MAX_REAL_NODES:
            raise SystemExit(f"at most {MAX_REAL_NODES} real nodes per cluster")
        base = PODS_PER_NODE_BLOCK * index
        return f"10.254.{self.slot}.{base + 16}", f"10.254.{self.slot}.{base + PODS_PER_NODE_BLOCK - 2}"

    def outside_host(self, n: int) -> str:
        """An address on the bridge outside every pod range, for a test's stand-in of a
        destination outside the cluster (a database, the metadata endpoint)."""
        return f"10.254.{self.slot}.{240 + n}"

    @property
    def metadata_endpoint(self) -> str:
        """The address that plays the Azure metadata endpoint here: excepted from every
        declared egress range that covers it, as 169.254.169.254 is on AKS."""
        return self.outside_host(14)

    # ------------------------------------------------------------------ use

    def command(self, *args: str) -> list[str]:
        """`args` run in the cluster's network namespace, with every other namespace kept."""
        return ["nsenter", f"--net={self.netns_path}", *args]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_checked(*self.command(*args), check=check)

    def exists(self) -> bool:
        return self.netns_path.exists()

    # -------------------------------------------------------------- up/down

    def up(self) -> None:
        """Make the namespace, the link, the bridge, the routes and the guard (idempotent)."""
        self._refuse_overlaps()
        if not self.exists():
            run_checked("ip", "netns", "add", self.netns)
        if run_checked("ip", "link", "show", self.host_veth, check=False).returncode != 0:
            run_checked("ip", "link", "add", self.host_veth, "type", "veth", "peer", "name", self.ns_veth,
                 "netns", self.netns)  # fmt: skip
            run_checked("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_veth)
        run_checked("ip", "link", "set", self.host_veth, "up")
        self._inside()
        for cidr in (self.block, self.service_cidr):
            run_checked("ip", "route", "replace", cidr, "via", self.ns_ip, "dev", self.host_veth)

    def _inside(self) -> None:
        self.run("ip", "link", "set", "lo", "up")
        if self.run("ip", "addr", "show", "dev", self.ns_veth).stdout.find(self.ns_ip) < 0:
            self.run("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_veth)
        self.run("ip", "link", "set", self.ns_veth, "up")
        if self.run("ip", "link", "show", self.bridge, check=False).returncode != 0:
            self.run("ip", "link", "add", self.bridge, "type", "bridge")
            self.run("ip", "addr", "add", f"{self.node_ip}/24", "dev", self.bridge)
        self.run("ip", "link", "set", self.bridge, "up")
        # Inside the namespace only: the host's own settings stay as they were.
        for sysctl in (f"net.ipv4.conf.{self.bridge}.forwarding=1", f"net.ipv4.conf.{self.ns_veth}.forwarding=1",
                       "net.bridge.bridge-nf-call-iptables=1"):  # fmt: skip
            self.run("sysctl", "-q", "-w", sysctl)
        self._guard()

    def _guard(self) -> None:
        """Nothing a pod or a node process sends leaves the namespace but what must:
        - forward: pods open no connection out of the bridge but to the API relay (the
          `kubernetes` Service's endpoint); replies to the host's requests go back;
        - input: pods reach no listener of the namespace itself (the kubelets, metrics-server),
          but the tests' outside hosts (the block's top /28);
        - output: node processes (and hostNetwork pods) reach the host only at the API relay."""
        outside = f"10.254.{self.slot}.240/28"
        rules = f"""table inet aks-guard
delete table inet aks-guard
table inet aks-guard {{
  chain forward {{
    type filter hook forward priority -10; policy accept;
    iifname "{self.bridge}" oifname "{self.ns_veth}" ct state established,related accept
    iifname "{self.bridge}" oifname "{self.ns_veth}" ip daddr {self.host_ip} tcp dport {self.api_port} accept
    iifname "{self.bridge}" oifname != "{self.bridge}" drop
  }}
  chain input {{
    type filter hook input priority -10; policy accept;
    iifname "{self.bridge}" ct state established,related accept
    iifname "{self.bridge}" ip daddr {outside} accept
    iifname "{self.bridge}" drop
  }}
  chain output {{
    type filter hook output priority -10; policy accept;
    oifname "{self.ns_veth}" ct state established,related accept
    oifname "{self.ns_veth}" ip daddr {self.host_ip} tcp dport {self.api_port} accept
    oifname "{self.ns_veth}" drop
  }}
}}
"""
        result = subprocess.run(self.command("nft", "-f", "-"), input=rules, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"the guard table of {self.netns} was refused: {result.stderr.strip()}")

    def _refuse_overlaps(self) -> None:
        """Another cluster's or anything else's route over one of our ranges: stop, naming it."""
        ours = [ipaddress.ip_network(c) for c in (self.block, self.link, self.service_cidr)]
        for line in run_checked("ip", "-4", "route", "show").stdout.splitlines():
            destination = line.split()[0]
            if destination == "default" or f"dev {self.host_veth}" in line:
                continue
            try:
                network = ipaddress.ip_network(destination, strict=False)
            except ValueError:
                continue
            if any(network.overlaps(mine) for mine in ours):  # type: ignore[arg-type]
                raise SystemExit(
                    f"the route '{line}' overlaps this cluster's ranges ({', '.join(map(str, ours))}): another "
                    f"local cluster at a port offset with the same slot ({self.slot})? Choose another "
                    "LOCAL_CLUSTER_PORT_OFFSET, or remove that cluster (make cluster-down)"
                )

    def down(self) -> None:
        """Remove the namespace (its bridge, link end and guard go with it) and the host's end."""
        if run_checked("ip", "link", "show", self.host_veth, check=False).returncode == 0:
            run_checked("ip", "link", "del", self.host_veth)
        if self.exists():
            run_checked("ip", "netns", "del", self.netns)


def service_cidr(offset: int) -> str:
    """The cluster's Service range: its own /24, so two clusters' routes never meet."""
    return f"10.96.{offset % SLOTS}.0/24"
