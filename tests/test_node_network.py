"""The real nodes' network, the parts that need no root: each cluster's ranges, the
refusal of a route over them, the guard's rules, the data plane's settings that keep
the host alone, and the API relay moving bytes. The real thing (a namespace, the
guard in nftables, traffic through kube-proxy) is tests/e2e/test_real_node.py."""

from __future__ import annotations

import ipaddress
import itertools
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace as Ns

import pytest

from devenv import node_network
from devenv.dataplane import corefile, kube_proxy_config
from devenv.node_network import MAX_REAL_NODES, NodeNetwork
from harness import free_port

ROOT = Path(__file__).resolve().parents[1]


def _ip(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(text)


def _pod_ranges(network: NodeNetwork) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]]:
    return [(_ip(a), _ip(b)) for a, b in map(network.pod_range, range(MAX_REAL_NODES))]


@pytest.mark.parametrize("offset", [0, 37, 249, 900])
def test_a_clusters_addresses_do_not_collide(offset: int) -> None:
    network = NodeNetwork(offset)
    block = ipaddress.ip_network(network.block)
    ranges = _pod_ranges(network)
    for (first, last), (next_first, _) in itertools.pairwise(ranges):
        assert first <= last < next_first, ranges  # each node's pods apart from the next's
    in_a_pod_range = lambda ip: any(a <= ip <= b for a, b in ranges)  # noqa: E731
    assert all(a in block and b in block for a, b in ranges)
    assert not in_a_pod_range(_ip(network.node_ip))
    outside = [_ip(network.outside_host(n)) for n in range(15)]
    assert all(ip in block and not in_a_pod_range(ip) for ip in outside)
    # The guard admits pods to the outside hosts as the block's top /28 (node_network._guard).
    assert all(ip in ipaddress.ip_network(f"10.254.{network.slot}.240/28") for ip in outside)
    assert _ip(network.metadata_endpoint) in outside
    nets = [ipaddress.ip_network(c) for c in (network.block, network.link, network.service_cidr)]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :]), nets
    assert _ip(network.dns_ip) in ipaddress.ip_network(network.service_cidr)


def test_two_clusters_at_different_slots_share_no_range_and_no_name() -> None:
    one, two = NodeNetwork(0), NodeNetwork(37)
    for a in (one.block, one.link, one.service_cidr):
        for b in (two.block, two.link, two.service_cidr):
            assert not ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b)), (a, b)
    assert {one.netns, one.host_veth, one.bridge}.isdisjoint({two.netns, two.host_veth, two.bridge})
    # Interface names are at most 15 bytes (IFNAMSIZ - 1): a long offset must still fit and stay apart.
    long = NodeNetwork(123456)
    assert all(len(name) <= 15 for name in (long.host_veth, long.ns_veth, long.bridge))
    assert len({long.host_veth, long.ns_veth, long.bridge}) == 3


def test_a_node_beyond_the_blocks_room_is_refused() -> None:
    with pytest.raises(SystemExit, match=f"at most {MAX_REAL_NODES} real nodes"):
        NodeNetwork(0).pod_range(MAX_REAL_NODES)


def _routes(monkeypatch: pytest.MonkeyPatch, table: str) -> None:
    monkeypatch.setattr(node_network, "run_checked", lambda *args, check=True: Ns(stdout=table, returncode=0))


def test_a_route_over_the_clusters_ranges_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    network = NodeNetwork(37)
    # Another cluster whose offset has the same slot (37 + 250) routes the same /24.
    _routes(monkeypatch, "default via 10.0.0.1 dev eth0\n10.254.37.0/24 via 10.253.37.2 dev aksrn287h\n")
    with pytest.raises(SystemExit, match=r"the route '10.254.37.0/24 via .* dev aksrn287h' overlaps .* slot \(37\)"):
        network._refuse_overlaps()


def test_the_clusters_own_routes_and_unrelated_ones_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    network = NodeNetwork(37)
    table = (
        "default via 10.0.0.1 dev eth0\n"
        f"{network.block} via {network.ns_ip} dev {network.host_veth}\n"  # its own, from an earlier up
        f"{network.service_cidr} via {network.ns_ip} dev {network.host_veth}\n"
        "10.254.38.0/24 via 10.253.38.2 dev aksrn38h\n"  # a neighbour at another slot
        "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1\n"
    )
    _routes(monkeypatch, table)
    network._refuse_overlaps()


def _guard_rules(monkeypatch: pytest.MonkeyPatch, network: NodeNetwork) -> dict[str, list[str]]:
    sent: dict[str, str] = {}

    def run(args: list[str], input: str, **_: object) -> Ns:
        sent["rules"] = input
        return Ns(returncode=0, stderr="")

    monkeypatch.setattr(node_network.subprocess, "run", run)
    network._guard()
    chains = dict(re.findall(r"chain (\w+) \{\n(.*?)\n  \}", sent["rules"], re.S))
    return {name: [line.strip() for line in body.splitlines()[1:]] for name, body in chains.items()}


def test_the_guard_lets_pods_out_to_the_api_relay_only(monkeypatch: pytest.MonkeyPatch) -> None:
    network = NodeNetwork(37, api_port=16443)
    chains = _guard_rules(monkeypatch, network)
    assert sorted(chains) == ["forward", "input", "output"]
    for name, rules in chains.items():
        # Every chain ends in a drop; what it accepts before is replies, and the API relay
        # (or, for input, the tests' outside hosts).
        assert rules[-1].endswith("drop"), (name, rules)
        opened = [rule for rule in rules[:-1] if "ct state" not in rule]
        assert all(rule.endswith("accept") for rule in rules[:-1]), (name, rules)
        if name == "input":
            assert opened == [f'iifname "{network.bridge}" ip daddr 10.254.37.240/28 accept']
        else:
            assert len(opened) == 1 and f"ip daddr {network.host_ip} tcp dport 16443 accept" in opened[0], opened


def test_kube_proxy_leaves_the_hosts_sysctls_and_localhost_alone(tmp_path: Path) -> None:
    """kube-proxy writes conntrack sysctls unless each is 0, and opens NodePorts on
    127.0.0.1 (route_localnet) unless told not to (kubernetes v1.34.4
    pkg/proxy/apis/config/types.go; shared/notes/data-plane-facts.md)."""
    network = NodeNetwork(37)
    config = kube_proxy_config(network, tmp_path / "kubeconfig", "real-0", 37)
    assert config["mode"] == "nftables"
    assert set(config["conntrack"].values()) <= {0, "0s"}
    assert config["iptables"]["localhostNodePorts"] is False
    assert config["nodePortAddresses"] == [network.block]
    assert config["bindAddress"] == network.node_ip
    assert config["healthzBindAddress"].startswith("127.0.0.1:")
    assert config["metricsBindAddress"].startswith("127.0.0.1:")


def test_the_corefile_uses_only_plugins_the_build_compiles_in_and_no_forward() -> None:
    """toolchain/coredns/main.go compiles in 12 plugins; a directive it lacks would stop
    CoreDNS at start. No `forward`: nothing leaves the machine."""
    main_go = (ROOT / "toolchain/coredns/main.go").read_text()
    compiled = re.findall(r'"github.com/coredns/coredns/plugin/(\w+)"', main_go)
    assert len(compiled) == 12
    used = {line.split()[0] for line in corefile().splitlines()[1:] if line.strip() and line.startswith("    ")}
    used -= {"}", "pods", "fallthrough"}  # settings inside the kubernetes block
    assert used and used <= set(compiled), used - set(compiled)
    assert "forward" not in corefile()


def _upper_case_server() -> tuple[socket.socket, list[bytes]]:
    """A target that answers each chunk in upper case and records what it got."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                received.append(data)
                conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return server, received


def _connect_when_listening(port: int) -> socket.socket:
    deadline = time.monotonic() + 10
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _relay(listen: int, target: int) -> subprocess.Popen:
    """devenv.forwarder as the local cluster runs it, from loopback to loopback."""
    command = [sys.executable, "-m", "devenv.forwarder", f"127.0.0.1:{listen}", f"127.0.0.1:{target}"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_the_api_relay_carries_bytes_both_ways_and_stops_on_sigterm() -> None:
    server, received = _upper_case_server()
    listen = free_port()
    relay = _relay(listen, server.getsockname()[1])
    try:
        with _connect_when_listening(listen) as client:
            payload = b"x" * 200_000  # more than one read of the relay
            client.sendall(payload)
            got = b""
            while len(got) < len(payload):
                got += client.recv(65536)
            assert got == payload.upper() and b"".join(received) == payload
            client.shutdown(socket.SHUT_WR)
            assert client.recv(10) == b"", "the target's close reached the client"
        relay.terminate()
        assert relay.wait(timeout=5) == 0
    finally:
        relay.kill()
        server.close()


def test_the_api_relay_closes_a_client_when_the_api_server_is_down() -> None:
    listen, nothing = free_port(), free_port()
    relay = _relay(listen, nothing)
    try:
        with _connect_when_listening(listen) as client:
            assert client.recv(10) == b""  # closed, not left hanging
    finally:
        relay.kill()
        relay.wait()


def test_a_cgroup_the_runtime_removes_during_teardown_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """real-node teardown walks the node's cgroups while the runtime still removes pod cgroups
    (a CI run failed `down` on ENOENT in such a walk): the walk skips what vanished and lists
    the rest deepest first, the order they can be removed in."""
    from devenv import real_node

    base = tmp_path / "aks-real-node-0"
    for sub in ("kubepods/burstable/pod-a/ctr", "kubepods/besteffort"):
        (base / sub).mkdir(parents=True)
    vanished = base / "kubepods" / "burstable" / "pod-a"
    real_scandir = real_node.os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if Path(path) == vanished:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_scandir(path)

    monkeypatch.setattr(real_node.os, "scandir", scandir)
    tree = real_node._cgroup_tree(base)
    assert tree[-1] == base and vanished not in tree and vanished / "ctr" not in tree
    assert base / "kubepods" / "besteffort" in tree
    assert [len(p.parts) for p in tree] == sorted((len(p.parts) for p in tree), reverse=True)
    assert real_node._cgroup_tree(tmp_path / "gone") == []
