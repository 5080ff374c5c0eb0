"""The sandbox cluster tool (scripts/sandbox.py): topology, real traffic
between pods on one node and across nodes (IPv4 and IPv6, ICMP and TCP),
masquerade to the "internet" host, cleanup (context manager, exceptions,
`down` after the owner was SIGKILLed), two clusters side by side, and the
agent plumbing, driven by a fake agent until xdpathd exists.

Everything lives in namespaces the sandbox creates; the root netns is only
observed (its links and forwarding sysctls must be unchanged)."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

PY = "/usr/bin/python3"
SANDBOX = os.path.join(ROOT, "scripts", "sandbox.py")
PREFIX = f"xs{os.getpid()}"          # every tag this test process creates starts so

SERVER = textwrap.dedent("""
    import socket, sys
    addr = sys.argv[1]
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 0))
    s.listen(1)
    print(s.getsockname()[1], flush=True)
    s.settimeout(10)
    c, peer = s.accept()
    c.settimeout(10)
    n = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        n += len(b)
    c.sendall(f"{peer[0]} {n}".encode())
    c.close()
""")

CLIENT = textwrap.dedent("""
    import socket, sys
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    s.sendall(b"x" * int(sys.argv[3]))
    s.shutdown(socket.SHUT_WR)
    print(s.recv(4096).decode())
""")


def tcp(server, bind, client, dst=None, size=1 << 20):
    """A TCP connection from `client` to a server in `server` bound to `bind`
    (connecting to `dst`, default `bind`) that sends `size` bytes. Returns
    (peer address the server saw, bytes it received)."""
    srv = server.popen(PY, "-c", SERVER, bind, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    try:
        port = srv.stdout.readline().strip()
        assert port.isdigit(), srv.stderr.read()
        out = client.exec(PY, "-c", CLIENT, dst or bind, port, str(size), timeout=20).stdout
        peer, n = out.split()
        return peer, int(n)
    finally:
        srv.kill()
        srv.wait()


def root_links():
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return sorted((l["ifindex"], l["ifname"]) for l in json.loads(out))


def root_sysctls():
    vals = {}
    for k in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"):
        with open(f"/proc/sys/{k}") as f:
            vals[k] = f.read().strip()
    return vals


def leftovers(tag):
    """Everything of a tag that can outlive a cluster."""
    return {"netns": sandbox.tag_netns(tag),
            "pinRoots": sandbox.tag_pin_roots(tag),
            "stateDirs": glob.glob(f"/tmp/{tag}-*"),
            "stateFile": [f for f in [sandbox.state_file(tag)] if os.path.exists(f)]}


def assert_gone(tag):
    left = leftovers(tag)
    assert not any(left.values()), f"left behind by {tag}: {left}"


def ours():
    """Names this test process's clusters could leave anywhere."""
    return (sorted(n for n in os.listdir("/run/netns") if n.startswith(PREFIX)) +
            sorted(glob.glob(f"/tmp/{PREFIX}*")) +
            sorted(glob.glob(f"/sys/fs/bpf/{PREFIX}*")))


@pytest.fixture(scope="module")
def root_before():
    return root_links(), root_sysctls()


@pytest.fixture(scope="module")
def cluster(root_before):
    with sandbox.Cluster(nodes=2, pods=2, mode="routes") as c:
        yield c
    assert_gone(c.tag)


def pods(c):
    """(n1p1, n1p2, n2p1) of a 2x2 cluster."""
    return c.pod("n1p1"), c.pod("n1p2"), c.pod("n2p1")


# --------------------------------------------------------------------------
# topology

def test_topology(cluster):
    c = cluster
    tag = c.tag
    assert tag.startswith(PREFIX)
    assert sandbox.tag_netns(tag) == sorted(
        [f"{tag}n{i}p{j}" for i in (1, 2) for j in (1, 2)]) + [f"{tag}n1", f"{tag}n2",
                                                              f"{tag}x", f"{tag}u"]
    assert [p.id for p in c.pods] == ["n1p1", "n1p2", "n2p1", "n2p2"]
    for n in c.nodes:
        i = n.index
        addrs = json.loads(n.exec("ip", "-j", "addr", "show", "dev", "eth0").stdout)[0]
        assert addrs["mtu"] == 1500
        have = {(a["local"], a["prefixlen"]) for a in addrs["addr_info"]}
        assert {(f"10.200.0.{i}", 24), (f"fd00:200::{i}", 64)} <= have
        assert n.exec("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        assert n.exec("cat", "/proc/sys/net/ipv6/conf/all/forwarding").stdout.strip() == "1"
        assert "default via 10.200.0.100 dev eth0" in n.exec("ip", "route").stdout
        assert "default via fd00:200::100 dev eth0" in n.exec("ip", "-6", "route").stdout
        other = 3 - i
        assert f"10.244.{other}.0/24 via 10.200.0.{other} dev eth0" in n.exec("ip", "route").stdout
        assert "masquerade" in n.exec("nft", "list", "table", "inet", "xdpath_sbx").stdout
        conf = json.load(open(n.cni_conf_path))
        assert conf["mtu"] == 1500 and conf["name"] == tag and "datapath" not in conf
        assert conf["ipam"]["ranges"] == [[{"subnet": f"10.244.{i}.0/24"}],
                                          [{"subnet": f"fd00:10:244:{i}::/64"}]]
    for p in c.pods:
        i = p.node.index
        assert p.ip4.startswith(f"10.244.{i}.") and p.ip6.startswith(f"fd00:10:244:{i}::")
        assert p.host_veth in p.node.exec("ip", "-br", "link").stdout
    # The external host owns the "internet" addresses and knows no pod CIDR.
    x = c.external
    assert {"198.18.0.1/32", "2001:db8:18::1/128"} <= set(
        x.exec("ip", "-br", "addr", "show", "dev", "lo").stdout.split())
    assert x.exec("ip", "route", "get", c.pods[0].ip4, check=False).returncode != 0
    assert x.exec("ip", "-6", "route", "get", c.pods[0].ip6, check=False).returncode != 0
    # Ports of the underlay bridge: one per node plus the external host.
    ports = json.loads(c.underlay.exec("ip", "-j", "link", "show", "master", "br0").stdout)
    assert sorted(l["ifname"] for l in ports) == ["n1", "n2", "x"]


# --------------------------------------------------------------------------
# traffic

@pytest.mark.parametrize("family", [4, 6])
def test_ping_same_node(cluster, family):
    a, b, _ = pods(cluster)
    assert a.ping(b.ip(family)) and b.ping(a.ip(family))


@pytest.mark.parametrize("family", [4, 6])
def test_ping_cross_node(cluster, family):
    a, _, c = pods(cluster)
    assert a.ping(c.ip(family)) and c.ping(a.ip(family))


@pytest.mark.parametrize("family", [4, 6])
def test_tcp_same_node_no_nat(cluster, family):
    a, b, _ = pods(cluster)
    assert tcp(b, b.ip(family), a) == (a.ip(family), 1 << 20)


@pytest.mark.parametrize("family", [4, 6])
def test_tcp_cross_node_no_nat(cluster, family):
    a, _, c = pods(cluster)
    # Inside the cluster CIDR the source is the pod itself, not its node.
    assert tcp(c, c.ip(family), a) == (a.ip(family), 1 << 20)


@pytest.mark.parametrize("family", [4, 6])
def test_internet_is_masqueraded(cluster, family):
    x = cluster.external
    inet = x.internet4 if family == 4 else x.internet6
    for p in (cluster.pod("n1p1"), cluster.pod("n2p2")):
        assert p.ping(inet)
        node_ip = p.node.ip4 if family == 4 else p.node.ip6
        assert tcp(x, inet, p, size=1000) == (node_ip, 1000)


def test_external_cannot_reach_pods(cluster):
    assert not cluster.external.ping(cluster.pods[0].ip4, wait=1)


def test_add_and_delete_pod(cluster):
    c = cluster
    web = c.add_pod("n2", "web", namespace="shop", labels={"app": "web"})
    try:
        assert web.id == "n2p3" and web.netns == f"{c.tag}n2p3" and web.node is c.nodes[1]
        assert c.pod("shop/web") is web and c.target("web") is web
        rec = json.load(open(os.path.join(c.nodes[1].endpoint_dir, f"{web.container_id}:eth0.json")))
        assert (rec["podNamespace"], rec["podName"]) == ("shop", "web")
        assert rec["ips"] == [f"{web.ip4}/32", f"{web.ip6}/128"]
        assert c.pod("n1p1").ping(web.ip4) and c.pod("n1p1").ping(web.ip6)
        state = json.load(open(sandbox.state_file(c.tag)))
        assert {"id": "n2p3", "name": "web", "namespace": "shop", "labels": {"app": "web"}}.items() \
            <= next(p for p in state["pods"] if p["id"] == "n2p3").items()
    finally:
        web.delete()
    assert web not in c.pods and f"{c.tag}n2p3" not in sandbox.tag_netns(c.tag)
    assert not os.path.exists(os.path.join(c.nodes[1].endpoint_dir, f"{web.container_id}:eth0.json"))
    assert web.ip4 not in os.listdir(os.path.join(c.nodes[1].ipam_dir, c.tag))
    assert c.add_pod("n2").id == "n2p4"   # ids are never reused
    c.delete_pod("n2p4")


def test_root_netns_untouched(cluster, root_before):
    assert (root_links(), root_sysctls()) == root_before


# --------------------------------------------------------------------------
# lifecycle

def test_teardown_leaves_nothing():
    links, sysctls = root_links(), root_sysctls()
    with sandbox.Cluster(nodes=2, pods=2) as c:
        tag, state_dir = c.tag, c.state_dir
        assert os.path.isdir(state_dir) and os.path.exists(sandbox.state_file(tag))
        p = c.pod("n2p1")
        server = p.popen("sh", "-c", "echo up; exec sleep 60", stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline() == "up\n"  # inside the pod: must not keep it alive
    assert server.wait(5) == -signal.SIGKILL
    assert c.closed and not os.path.exists(state_dir)
    assert_gone(tag)
    assert (root_links(), root_sysctls()) == (links, sysctls)
    c.close()  # idempotent


def test_exception_in_with_block_cleans_up():
    with pytest.raises(ZeroDivisionError):
        with sandbox.Cluster(nodes=1, pods=1) as c:
            tag = c.tag
            1 / 0
    assert_gone(tag)


def test_two_clusters_at_once():
    with sandbox.Cluster(nodes=2, pods=1) as a, sandbox.Cluster(nodes=2, pods=1) as b:
        assert a.tag != b.tag
        assert not set(sandbox.tag_netns(a.tag)) & set(sandbox.tag_netns(b.tag))
        assert a.state_dir != b.state_dir
        # Same address plan, separate worlds.
        assert [p.ip4 for p in a.pods] == [p.ip4 for p in b.pods]
        for c in (a, b):
            assert c.pod("n1p1").ping(c.pod("n2p1").ip4)
            assert c.pod("n2p1").ping(c.pod("n1p1").ip6)
        assert tcp(b.pod("n2p1"), b.pod("n2p1").ip4, b.pod("n1p1"))[0] == b.pod("n1p1").ip4
        a.close()
        assert_gone(a.tag)
        assert b.pod("n1p1").ping(b.pod("n2p1").ip4)
    assert_gone(b.tag)


def test_explicit_tag_in_use_is_refused():
    with sandbox.Cluster(nodes=1, tag=f"{PREFIX}t") as c:
        with pytest.raises(sandbox.SandboxError, match="in use"):
            sandbox.Cluster(nodes=1, tag=c.tag)
        assert c.tag == f"{PREFIX}t"
        assert sandbox.tag_netns(c.tag)          # the refused attempt removed nothing
    assert_gone(f"{PREFIX}t")


def cli(*args, **kw):
    return subprocess.run([PY, SANDBOX, *args], capture_output=True, text=True, timeout=60, **kw)


def test_cli_up_exec_down():
    tag = f"{PREFIX}c"
    r = cli("up", "--nodes", "2", "--pods", "1", "--mode", "routes", "--tag", tag)
    try:
        assert r.returncode == 0, r.stderr
        desc = json.loads(r.stdout)
        assert desc["tag"] == tag and [n["ip4"] for n in desc["nodes"]] == ["10.200.0.1",
                                                                              "10.200.0.2"]
        assert [(p["id"], p["node"], p["netns"]) for p in desc["pods"]] == \
            [("n1p1", "n1", f"{tag}n1p1"), ("n2p1", "n2", f"{tag}n2p1")]
        # `up` has exited; the cluster stays up.
        assert len(sandbox.tag_netns(tag)) == 6
        dst = desc["pods"][1]["ip4"]
        r = cli("exec", "--tag", tag, "n1p1", "--", "ping", "-c1", "-W3", dst)
        assert r.returncode == 0 and "1 received" in r.stdout, r
        r = cli("exec", "--tag", tag, "x", "--", "ip", "-br", "addr", "show", "dev", "lo")
        assert "198.18.0.1/32" in r.stdout
        assert cli("exec", "--tag", tag, "n1", "--", "false").returncode == 1
        assert json.loads(cli("show", "--tag", tag).stdout)["tag"] == tag
        r = cli("up", "--nodes", "1", "--tag", tag)
        assert r.returncode == 1 and "in use" in r.stderr
    finally:
        r = cli("down", "--tag", tag)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["netns"]) == 6
    assert_gone(tag)


def test_down_after_owner_killed():
    tag = f"{PREFIX}k"
    owner = subprocess.Popen([PY, SANDBOX, "up", "--nodes", "2", "--pods", "2",
                              "--tag", tag, "--wait"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        text = ""
        for line in owner.stdout:
            text += line
            if line.startswith("}"):
                break
        desc = json.loads(text)
        n1p1 = next(p for p in desc["pods"] if p["id"] == "n1p1")
        stray = subprocess.Popen(["ip", "netns", "exec", n1p1["netns"], "sleep", "60"])
        owner.kill()
        owner.wait(5)
        # A SIGKILLed owner leaves everything behind ...
        assert len(sandbox.tag_netns(tag)) == 8 and os.path.isdir(desc["stateDir"])
        r = cli("down", "--tag", tag)
        assert r.returncode == 0, r.stderr
        # ... which `down` finds from names and the state file alone.
        assert stray.wait(5) == -signal.SIGKILL
        assert stray.pid in json.loads(r.stdout)["killed"]
        assert_gone(tag)
    finally:
        if owner.poll() is None:
            owner.kill()
        sandbox.down(tag)


def test_down_without_state_file():
    with sandbox.Cluster(nodes=1, pods=1) as c:
        c.detach()
        tag = c.tag
    os.unlink(sandbox.state_file(tag))                # a run that crashed early
    assert sandbox.tag_netns(tag)
    s = sandbox.down(tag)
    assert len(s["netns"]) == 4 and len(s["stateDirs"]) == 1
    assert_gone(tag)


# --------------------------------------------------------------------------
# modes and the agent plumbing (a fake xdpathd/xdpathctl until the real ones exist)

def test_vxlan_mode_without_agent():
    with sandbox.Cluster(nodes=2, pods=1, mode="vxlan", agent=False) as c:
        n1 = c.nodes[0]
        assert json.load(open(n1.cni_conf_path))["mtu"] == 1450
        p = c.pod("n1p1")
        assert json.loads(p.exec("ip", "-j", "link", "show", "dev", "eth0").stdout)[0]["mtu"] == 1450
        # No sandbox routing or NAT: that is the agent's job.
        assert "10.244.2.0/24" not in n1.exec("ip", "route").stdout
        assert n1.exec("nft", "list", "tables").stdout.strip() == ""
        assert not c.agent_running("n1")
        assert n1.ping(p.ip4)


FAKE_AGENT = textwrap.dedent("""\
    #!/usr/bin/python3
    # Stands in for xdpathd: reports what it sees, pins the part of the datapath
    # contract the CNI plugin opens (include/xdpath/datapath.h: the endpoint and
    # config maps, sized by the header; a pass-through prog_from_pod) and marks
    # itself ready, then serves a socket for the fake xdpathctl.
    import json, os, socket, subprocess, sys
    assert sys.argv[1] == "--config"
    cfg = json.load(open(sys.argv[2]))
    dp = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "dp.json")))
    if cfg["nodeName"] == os.environ.get("FAKE_AGENT_FAIL"):
        print("boom: cannot attach", flush=True)
        sys.exit(3)
    root = cfg["pinRoot"]
    os.makedirs(root, exist_ok=True)
    run = 1 + sum(1 for n in os.listdir(root) if n.startswith("run"))
    os.mkdir(os.path.join(root, f"run{run}"))

    def bpftool(*args):
        subprocess.run(["bpftool", *args], check=True)
    if not os.path.exists(f"{root}/xdp_endpoints"):          # a restart reuses the pins
        bpftool("map", "create", f"{root}/xdp_endpoints", "type", "hash", "key",
                str(dp["ep_key"]), "value", str(dp["ep_info"]), "entries", "1024",
                "name", "xdp_endpoints")
        bpftool("map", "create", f"{root}/xdp_config", "type", "array", "key", "4",
                "value", str(dp["config"]), "entries", "1", "name", "xdp_config")
        bpftool("prog", "load", dp["prog"], f"{root}/prog_from_pod", "type", "classifier")
        value = dp["ready"].to_bytes(4, "little") + bytes(dp["config"] - 4)
        bpftool("map", "update", "pinned", f"{root}/xdp_config", "key", "0", "0", "0", "0",
                "value", *[str(b) for b in value])
    seen = {
        "uplink": json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", cfg["uplink"]],
                                            capture_output=True, text=True).stdout),
        "sysClassNet": sorted(os.listdir("/sys/class/net")),
        "bpffs": subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/bpf"],
                                capture_output=True, text=True).stdout.strip(),
        "run": run,
    }
    print("FAKE " + json.dumps(seen), flush=True)
    if cfg["nodeName"] == os.environ.get("FAKE_AGENT_HANG"):
        os.system("sleep 60")
    path = os.path.join(cfg["stateDir"], "xdpathd.sock")
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(8)
    while True:
        c, _ = s.accept()
        c.sendall(json.dumps({"ready": True, "node": cfg["nodeName"]}).encode())
        c.close()
""")

FAKE_CTL = textwrap.dedent("""\
    #!/usr/bin/python3
    import socket, sys
    assert sys.argv[3:] == ["status", "-o", "json"], sys.argv
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[sys.argv.index("--socket") + 1])
    print(s.recv(4096).decode())
""")

DP_PROBE = textwrap.dedent("""\
    #include <stdio.h>
    #include "xdpath/datapath.h"
    int main(void)
    {
        printf("{\\"ep_key\\": %zu, \\"ep_info\\": %zu, \\"config\\": %zu, \\"ready\\": %u}\\n",
               sizeof(struct xdp_ep_key), sizeof(struct xdp_ep_info),
               sizeof(struct xdp_config), XDP_CFG_F_READY);
        _Static_assert(__builtin_offsetof(struct xdp_config, flags) == 0, "flags first");
        return 0;
    }
""")

PASS_PROG = textwrap.dedent("""\
    #include <linux/bpf.h>
    __attribute__((section("tc"), used)) int pass(struct __sk_buff *skb) { return 0; }
    char LICENSE[] __attribute__((section("license"), used)) = "GPL";
""")


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    """The fake agent and ctl, with the sizes of the datapath contract's maps
    and a pass-through TC program built for them."""
    for tool in ("bpftool", "clang", "gcc"):
        assert shutil.which(tool), f"{tool} is missing: run scripts/install-deps.sh"
    d = tmp_path_factory.mktemp("fakeagent")
    (d / "probe.c").write_text(DP_PROBE)
    (d / "pass.bpf.c").write_text(PASS_PROG)
    subprocess.run(["gcc", "-o", d / "probe", "-I", f"{ROOT}/include", "-I",
                    f"{ROOT}/include/xdpath", d / "probe.c"], check=True)
    dp = json.loads(subprocess.run([d / "probe"], capture_output=True, text=True,
                                   check=True).stdout)
    subprocess.run(["clang", "-O2", "-target", "bpf", "-I",
                    f"/usr/include/{os.uname().machine}-linux-gnu", "-c", "-o",
                    d / "pass.bpf.o", d / "pass.bpf.c"], check=True)
    dp["prog"] = str(d / "pass.bpf.o")
    (d / "dp.json").write_text(json.dumps(dp))
    for name, text in (("xdpathd", FAKE_AGENT), ("xdpathctl", FAKE_CTL)):
        (d / name).write_text(text)
        (d / name).chmod(0o755)
    return d


@pytest.fixture
def fake(fake_dir, monkeypatch):
    monkeypatch.delenv("FAKE_AGENT_FAIL", raising=False)
    monkeypatch.delenv("FAKE_AGENT_HANG", raising=False)
    return {"agent_bin": str(fake_dir / "xdpathd"), "ctl_bin": str(fake_dir / "xdpathctl")}


def endpoint_entries(node):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned",
                          f"{node.pin_root}/xdp_endpoints"],
                         capture_output=True, text=True, check=True).stdout
    return len(json.loads(out))


def fake_reports(node):
    with open(node.agent_log) as f:
        return [json.loads(l[5:]) for l in f if l.startswith("FAKE ")]


def test_agent_plumbing(fake):
    with sandbox.Cluster(nodes=2, pods=1, mode="native", agent=True, **fake) as c:
        n1, n2 = c.nodes
        pids = [n.agent.pid for n in c.nodes]
        for n in c.nodes:
            assert c.agent_running(n)
            cfg = json.load(open(n.agent_config_path))
            other = n2 if n is n1 else n1
            assert cfg == {
                "nodeName": n.name, "pinRoot": f"/sys/fs/bpf/{c.tag}{n.name}",
                "stateDir": n.state_dir, "endpointDir": n.endpoint_dir, "uplink": "eth0",
                "mode": "native", "nodeIP": n.ip4, "nodeIP6": n.ip6,
                "podCIDRs": [n.pod_cidr4, n.pod_cidr6],
                "clusterCIDRs": ["10.244.0.0/16", "fd00:10:244::/48"], "masquerade": True,
                "peers": [{"name": other.name, "nodeIP": other.ip4, "nodeIP6": other.ip6,
                           "podCIDRs": [other.pod_cidr4, other.pod_cidr6]}],
                "logLevel": "info"}
            # The agent runs in its node: its uplink, its /sys, and the host's
            # bpffs (pins visible from the root namespace, outliving the agent).
            seen = fake_reports(n)[-1]
            assert n.ip4 in [a["local"] for a in seen["uplink"][0]["addr_info"]]
            assert seen["sysClassNet"] == ["eth0", "lo"]
            assert seen["bpffs"] == "bpf_fs"
            assert os.path.isdir(os.path.join(n.pin_root, "run1"))
            # Agents start before the pods, and the CNI (run with bpffs
            # visible) joins the (fake) datapath: one entry per pod address.
            assert json.load(open(n.cni_conf_path))["datapath"] == {"pinRoot": n.pin_root}
            assert endpoint_entries(n) == 2
        p = c.add_pod("n1", "web")
        assert endpoint_entries(n1) == 4
        assert "direct-action" in n1.exec("tc", "filter", "show", "dev", p.host_veth,
                                          "ingress").stdout
        assert n1.ping(p.ip4)
        assert c.describe()["nodes"][0]["agent"]["pid"] == pids[0]
        # Crash and restart: the pin root survives.
        c.kill_agent("n1")
        assert not c.agent_running("n1") and c.agent_running("n2")
        assert not os.path.exists(f"/proc/{pids[0]}")
        assert os.path.isdir(os.path.join(n1.pin_root, "run1"))
        c.start_agent("n1")
        assert c.agent_running("n1") and fake_reports(n1)[-1]["run"] == 2
        assert endpoint_entries(n1) == 4
        c.add_pod("n1").delete()
        p.delete()
        assert endpoint_entries(n1) == 2 and endpoint_entries(n2) == 2
        with pytest.raises(sandbox.SandboxError, match="already runs"):
            c.start_agent("n1")
        c.kill_agent(n2, signal.SIGTERM)
        assert not c.agent_running(n2)
        pin_roots = [n.pin_root for n in c.nodes]
        pids.append(n1.agent.pid)
    assert_gone(c.tag)
    assert not any(os.path.exists(d) for d in pin_roots)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def test_agent_that_dies_fails_loudly(fake, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_FAIL", "n2")
    before = ours()
    with pytest.raises(sandbox.SandboxError, match=r"(?s)agent of n2 exited.*boom"):
        sandbox.Cluster(nodes=2, mode="native", agent=True, **fake)
    assert ours() == before


def test_agent_never_ready(fake, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_HANG", "n1")
    before = ours()
    t0 = time.monotonic()
    with pytest.raises(sandbox.SandboxError, match=r"(?s)not ready within 0.5 s.*FAKE"):
        sandbox.Cluster(nodes=1, mode="native", agent=True, ready_timeout=0.5, **fake)
    assert time.monotonic() - t0 < 5
    assert ours() == before
