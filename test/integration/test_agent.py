"""xdpathd (the node agent) and xdpathctl against the real kernel.

Each test gets a throwaway node netns (conftest's `node`) with an uplink: a
veth `eth0` whose other end sits in a second netns standing in for the
underlay. The agent runs inside the node netns the way the sandbox runs it:
a private mount namespace whose /sys shows the node's devices but keeps the
host's bpffs at /sys/fs/bpf, so pins (under a per-test root
/sys/fs/bpf/<tag>) outlive the agent and can be inspected with bpftool from
here. Everything is removed at teardown, pass or fail: agents (SIGKILL),
pins, namespaces, state directories.

Addresses: underlay 10.97.0.0/24 and fd00:97::/64; this node's pods
10.98.1.0/24, fd00:98:1::/64; the peer's 10.98.2.0/24, fd00:98:2::/64;
cluster 10.98.0.0/16, fd00:98::/32. They only exist inside the namespaces."""
import hashlib
import json
import re
import os
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import PLUGIN, ROOT, sh

# XDPATHD / XDPATHCTL select other builds (e.g. build/bin-san, ASan/UBSan).
AGENT = os.environ.get("XDPATHD", os.path.join(ROOT, "build", "bin", "xdpathd"))
CTL = os.environ.get("XDPATHCTL", os.path.join(ROOT, "build", "bin", "xdpathctl"))
BPFFS = "/sys/fs/bpf"
MAPS = ("xdp_endpoints", "xdp_nodes", "xdp_config", "xdp_drops", "xdp_fwd",
        "xdp_ep_stats", "xdp_ct", "xdp_ipcache", "xdp_ipcache_host", "xdp_policy",
        "xdp_pol_cidr", "xdp_ep_policy", "xdp_pod_progs", "xdp_tunnel_progs",
        "xdp_filter_rules", "xdp_filter_index", "xdp_filter_scan", "xdp_filter_cfg", "xdp_filter_ports",
        "xdp_filter_stats", "xdp_filter_rate", "xdp_filter_events")
# What host veths run (pinned as prog_from_pod): the pod-side filters, then
# a tail call to from_pod.
POD_PROG = "pod_entry"
DROP_NAMES = ("truncated", "bad_ip", "spoofed_mac", "spoofed_ip", "no_endpoint", "no_route",
              "tunnel", "redirect_failed", "policy_denied", "not_ready", "unsupported",
              "filter", "no_program")
FWD_NAMES = ("redirect_peer", "redirect_neigh", "tunnel", "stack")
RTPROT = "217"  # the agent's rtm_protocol (0xd9)
READY_TIMEOUT = 15

NODE_IP4, NODE_IP6 = "10.97.0.1", "fd00:97::1"
PEER_IP4, PEER_IP6 = "10.97.0.2", "fd00:97::2"
POD_CIDRS = ["10.98.1.0/24", "fd00:98:1::/64"]
PEER_CIDRS = ["10.98.2.0/24", "fd00:98:2::/64"]
CLUSTER = ["10.98.0.0/16", "fd00:98::/32"]

# Like `ip netns exec`, but with the host's bpffs kept at /sys/fs/bpf (the
# sandbox's recipe): new mount namespace (slave: nothing propagates back),
# bpffs parked, /sys replaced by a sysfs of the node netns, bpffs put back.
_KEEP_BPFFS = ('m=$1; shift; mount --bind /sys/fs/bpf "$m"; umount -l /sys; '
               'mount -t sysfs -o nosuid,nodev,noexec sysfs /sys; '
               'mount --move "$m" /sys/fs/bpf; exec "$@"')


def _bpffs_mounted():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if left.split()[4] == BPFFS and right.split()[0] == "bpf":
                return True
    return False


@pytest.fixture(scope="module", autouse=True)
def built():
    for b in (AGENT, CTL):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} is missing: run `make` first")
    if not _bpffs_mounted():  # as systemd does at boot
        sh("mount", "-t", "bpf", "bpf", BPFFS)


def bpftool(*args):
    return json.loads(sh("bpftool", "-j", *args).stdout)


class Agent:
    """xdpathd in one node, plus everything it needs and leaves behind."""

    def __init__(self, node):
        self.node = node
        self.pin_root = f"{BPFFS}/{node.tag}"
        self.state_dir = os.path.join(node.dir, "state")
        self.socket = os.path.join(self.state_dir, "xdpathd.sock")
        self.park = os.path.join(node.dir, "park")
        self.cfg_path = os.path.join(node.dir, "agent.json")
        self.log_path = os.path.join(node.dir, "agent.log")
        self.underlay = node.tag + "u"
        self.procs = []
        os.makedirs(self.park)
        self._make_uplink()

    def _make_uplink(self):
        """eth0 in the node, its peer (the underlay's view) in another netns."""
        node, u = self.node, self.underlay
        sh("ip", "netns", "add", u)
        node.pods.append(u)  # deleted with the node's pods at teardown
        node.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                 "netns", u)
        node.run("ip", "addr", "add", f"{NODE_IP4}/24", "dev", "eth0")
        node.run("ip", "addr", "add", f"{NODE_IP6}/64", "dev", "eth0", "nodad")
        node.run("ip", "link", "set", "eth0", "up")
        sh("ip", "-n", u, "addr", "add", f"{PEER_IP4}/24", "dev", "eth0")
        sh("ip", "-n", u, "addr", "add", f"{PEER_IP6}/64", "dev", "eth0", "nodad")
        sh("ip", "-n", u, "link", "set", "eth0", "up")
        sh("ip", "-n", u, "link", "set", "lo", "up")

    # -- config and process ----------------------------------------------
    def config(self, **over):
        c = {
            "nodeName": "node-a",
            "pinRoot": self.pin_root,
            "stateDir": self.state_dir,
            "endpointDir": self.node.ep_dir,
            "uplink": "eth0",
            "mode": "native",
            "nodeIP": NODE_IP4,
            "nodeIP6": NODE_IP6,
            "podCIDRs": POD_CIDRS,
            "clusterCIDRs": CLUSTER,
            "masquerade": True,
            # The attach/replace mechanics on a veth uplink; "auto" leaves
            # XDP off on veth (test_xdp_uplink_modes).
            "xdpUplink": "native",
            "peers": [{"name": "node-b", "nodeIP": PEER_IP4, "nodeIP6": PEER_IP6,
                       "podCIDRs": PEER_CIDRS}],
            "logLevel": "debug",
        }
        c.update(over)
        return c

    def write_config(self, **over):
        with open(self.cfg_path, "w") as f:
            json.dump(self.config(**over), f)

    def argv(self, *cmd):
        return ["nsenter", f"--net=/run/netns/{self.node.ns}", "unshare", "--mount",
                "--propagation", "slave", "sh", "-ec", _KEEP_BPFFS, "sh", self.park,
                *map(str, cmd)]

    def start(self, wait=True, args=(), **over):
        self.write_config(**over)
        with open(self.log_path, "ab") as log:
            # nsenter, unshare and sh exec in place: the pid is the agent's.
            p = subprocess.Popen(self.argv(AGENT, "--config", self.cfg_path, *args),
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.procs.append(p)
        if wait:
            self.wait_ready(p)
        return p

    def wait_ready(self, p, timeout=READY_TIMEOUT):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert p.poll() is None, f"agent exited with {p.returncode}:\n{self.log()}"
            try:
                if self.api("status").get("ready") is True:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        pytest.fail(f"agent not ready within {timeout} s:\n{self.log()}")

    def signal(self, p, sig):
        p.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            return p.wait(10)
        return None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, text, timeout=5):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.log():
                return
            time.sleep(0.05)
        pytest.fail(f"{text!r} not logged within {timeout} s:\n{self.log()}")

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        shutil.rmtree(self.pin_root, ignore_errors=True)

    # -- observing --------------------------------------------------------
    def api(self, cmd):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.socket)
            s.sendall(json.dumps({"cmd": cmd}).encode())
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data)

    def ctl(self, *args, check=True):
        return sh(CTL, "--socket", self.socket, *args, check=check)

    def pin(self, name):
        return f"{self.pin_root}/{name}"

    def map_id(self, name):
        return bpftool("map", "show", "pinned", self.pin(name))["id"]

    def dump(self, name):
        return [e["formatted"] for e in bpftool("map", "dump", "pinned", self.pin(name))]

    def xdp_config(self):
        return self.dump("xdp_config")[0]["value"]

    def endpoint_keys(self):
        """{address: host_ifindex} of xdp_endpoints."""
        out = {}
        for e in self.dump("xdp_endpoints"):
            k = e["key"]
            n = 4 if k["family"] == 4 else 16
            b = bytes(k["addr"][:n])
            addr = socket.inet_ntop(socket.AF_INET if n == 4 else socket.AF_INET6, b)
            out[addr] = e["value"]["host_ifindex"]
        return out

    def tc_prog(self, dev):
        """(name, id) of the BPF filter at TC ingress of dev in the node, or None."""
        out = self.node.run("tc", "-j", "filter", "show", "dev", dev, "ingress").stdout
        for f in json.loads(out or "[]"):
            opts = f.get("options", {})
            if "prog" in opts:
                return opts["prog"]["name"], opts["prog"]["id"]
        return None

    def ifindex(self, dev):
        return self.node.link(dev)["ifindex"]


@pytest.fixture
def agent(node):
    a = Agent(node)
    try:
        yield a
    finally:
        a.cleanup()
    # A sanitizer build (XDPATHD=build/bin-san/xdpathd) reports into the log.
    reports = [l for l in a.log().splitlines()
               if "runtime error:" in l or "Sanitizer" in l]
    assert not reports, reports


# -- endpoints made by hand (the record schema of lib/endpoint.c) -----------

def host_name(cid, ifname="eth0"):
    return "xdp" + hashlib.sha1(f"{cid}/{ifname}".encode()).hexdigest()[:11]


def make_endpoint(node, name, ips, veth=True):
    """A veth pair (host end in the node, `eth0` in a pod netns) and its
    endpoint record; with veth=False only the record (a stale one)."""
    cid = f"{node.tag}{name}"
    host = host_name(cid)
    netns = "/run/netns/none"
    host_index, host_mac, pod_index, pod_mac = 999999, "02:00:00:00:00:01", 2, "02:00:00:00:00:02"
    if veth:
        netns = node.pod(name)
        pod = os.path.basename(netns)
        node.run("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", pod)
        node.run("ip", "link", "set", host, "up")
        h = node.link(host)
        p = node.link("eth0", netns)
        host_index, host_mac, pod_index, pod_mac = (h["ifindex"], h["address"], p["ifindex"],
                                                    p["address"])
    rec = {"schema": 1, "containerId": cid, "ifname": "eth0", "network": "xdpnet",
           "netns": netns, "podNamespace": "default", "podName": name, "podUid": "uid-" + name,
           "hostIfname": host, "hostIfindex": host_index, "hostMac": host_mac,
           "podIfindex": pod_index, "podMac": pod_mac, "mtu": 1500, "ips": ips}
    write_record(node.ep_dir, rec)
    return rec


def write_record(ep_dir, rec):
    os.makedirs(ep_dir, exist_ok=True)
    path = os.path.join(ep_dir, f"{rec['containerId']}:{rec['ifname']}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(rec, f)
    os.rename(path + ".tmp", path)
    return path


def record_path(node, rec):
    return os.path.join(node.ep_dir, f"{rec['containerId']}:eth0.json")


def wait_for(cond, timeout=5, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} not met within {timeout} s")


# -- pods made by the real CNI plugin, on the agent's datapath --------------

def cni_conf(agent):
    return agent.node.conf(ranges=[[{"subnet": POD_CIDRS[0]}], [{"subnet": POD_CIDRS[1]}]],
                           datapath={"pinRoot": agent.pin_root})


def cni_add(agent, name):
    node = agent.node
    netns = node.pod(name)
    cid = f"{node.tag}{name}"
    argv = agent.argv(*node.cni_argv("ADD", cid, netns)[4:])  # drop `ip netns exec NS`
    r = subprocess.run(argv, input=json.dumps(cni_conf(agent)), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r
    res = json.loads(r.stdout)
    ip4 = next(i["address"].split("/")[0] for i in res["ips"] if "." in i["address"])
    return netns, cid, ip4


# ===========================================================================
# configuration and command line
# ===========================================================================

BASE = {"nodeName": "n1", "uplink": "eth0"}


def run_agent(tmp_path, cfg=None, raw=None, args=()):
    path = tmp_path / "agent.json"
    path.write_text(raw if raw is not None else json.dumps(cfg))
    return sh(AGENT, "--config", str(path), *args, check=False)


@pytest.mark.parametrize("cfg,key", [
    ({"uplink": "eth0"}, "nodeName"),
    ({"nodeName": "n1"}, "uplink"),
    (dict(BASE, mode="bogus"), "mode"),
    (dict(BASE, xdpUplink="fast"), "xdpUplink"),
    (dict(BASE, vni=1 << 24), "vni"),
    (dict(BASE, vni="7"), "vni"),
    (dict(BASE, vxlanPort=0), "vxlanPort"),
    (dict(BASE, pinRoot="relative/dir"), "pinRoot"),
    (dict(BASE, stateDir=5), "stateDir"),
    (dict(BASE, nodeIP="10.0.0.300"), "nodeIP"),
    (dict(BASE, nodeIP6="10.0.0.1"), "nodeIP6"),
    (dict(BASE, podCIDRs=["10.1.0.0/33"]), "podCIDRs[0]"),
    (dict(BASE, podCIDRs="10.1.0.0/16"), "podCIDRs"),
    (dict(BASE, clusterCIDRs=["10.0.0.1/8"]), "clusterCIDRs[0]"),
    (dict(BASE, clusterCIDRs=["10.0.0.0/8", "11.0.0.0/8"]), "clusterCIDRs[1]"),
    (dict(BASE, masquerade="yes"), "masquerade"),
    (dict(BASE, masquerade=True), "podCIDRs"),
    (dict(BASE, logLevel="loud"), "logLevel"),
    (dict(BASE, masqurade=True), "masqurade"),
    (dict(BASE, peers={}), "peers"),
    (dict(BASE, peers=[{"nodeIP": "10.0.0.2", "podCIDRs": []}]), "peers[0].name"),
    (dict(BASE, peers=[{"name": "b", "nodeIP": "x", "podCIDRs": []}]), "peers[0].nodeIP"),
    (dict(BASE, peers=[{"name": "b", "podCIDRs": []}]), "peers[0]"),
    (dict(BASE, peers=[{"name": "b", "nodeIP": "10.0.0.2"}]), "peers[0].podCIDRs"),
    (dict(BASE, peers=[{"name": "b", "nodeIP": "10.0.0.2", "podCIDRs": ["fd00::/64"]}]),
     "peers[0].nodeIP6"),
    (dict(BASE, mode="vxlan", peers=[{"name": "b", "nodeIP6": "fd00::2",
                                      "podCIDRs": ["fd01::/64"]}]), "peers[0].nodeIP"),
    (dict(BASE, peers=[{"name": "b", "nodeIP": "10.0.0.2", "podCIDRs": []},
                       {"name": "b", "nodeIP": "10.0.0.3", "podCIDRs": []}]), "peers[1]"),
    (dict(BASE, podCIDRs=["10.1.0.0/24"],
          peers=[{"name": "b", "nodeIP": "10.0.0.2", "podCIDRs": ["10.1.0.0/16"]}]),
     "peers[0].podCIDRs[0]"),
    (dict(BASE, peers=[{"name": "b", "nodeIP": "10.0.0.2", "podCIDRs": [], "extra": 1}]),
     "peers[0].extra"),
])
def test_config_error_names_key(tmp_path, cfg, key):
    r = run_agent(tmp_path, cfg)
    assert r.returncode == 2, r
    assert f"key={key} " in r.stderr, r.stderr
    assert "level=error component=config" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr  # one line, nothing started


@pytest.mark.parametrize("raw,why", [
    ("", "is empty"),
    ("{", "not valid JSON"),
    ('{"nodeName": "n1", "uplink": "eth0"} x', "not valid JSON"),
    ("[]", "must be a JSON object"),
])
def test_config_unparsable(tmp_path, raw, why):
    r = run_agent(tmp_path, raw=raw)
    assert r.returncode == 2 and why in r.stderr, r


def test_command_line(tmp_path):
    assert sh(AGENT, "--help").returncode == 0
    assert "usage: xdpathd --config FILE" in sh(AGENT, "--help").stdout
    for argv in ([], ["--config"], ["--bogus"], ["--config", "x", "extra"],
                 ["--config", "x", "--log-level", "loud"], ["--config", "x", "--pin-root", "rel"]):
        r = sh(AGENT, *argv, check=False)
        assert r.returncode == 2, (argv, r)
    r = sh(AGENT, "--config", str(tmp_path / "missing.json"), check=False)
    assert r.returncode == 2 and "missing.json" in r.stderr, r


# ===========================================================================
# start-up
# ===========================================================================

def test_start_native(agent):
    p = agent.start()
    node = agent.node
    st = agent.api("status")
    assert st["ready"] is True and st["nodeName"] == "node-a" and st["mode"] == "native"
    assert st["pinRoot"] == agent.pin_root and st["uplink"] == "eth0"
    assert st["endpoints"] == 0 and st["startupMs"] >= 0 and st["version"]

    # Pins: every map, and the program the CNI attaches.
    for m in MAPS + ("prog_from_pod",):
        assert os.path.exists(agent.pin(m)), m
    assert bpftool("prog", "show", "pinned", agent.pin("prog_from_pod"))["name"] == POD_PROG
    assert not [f for f in os.listdir(agent.pin_root) if f.endswith(("_old", "_tmp"))]

    # to_pod at TC ingress of the uplink, direct-action.
    out = node.run("tc", "filter", "show", "dev", "eth0", "ingress").stdout
    assert "bpf" in out and "direct-action" in out and "to_pod" in out, out
    # xdp_uplink on the uplink, native as configured.
    link = node.run("ip", "link", "show", "eth0").stdout
    assert " xdp " in link and "xdpgeneric" not in link, link
    assert "xdp_uplink" in node.run("ip", "-d", "link", "show", "eth0").stdout

    # xdp_config as the BPF programs read it.
    cfg = agent.xdp_config()
    assert cfg["flags"] == 1  # XDP_CFG_F_READY
    assert cfg["mode"] == 0 and cfg["tunnel_ifindex"] == 0 and cfg["vni"] == 1
    assert cfg["uplink_ifindex"] == agent.ifindex("eth0")
    assert socket.inet_ntoa(cfg["node_ip4"].to_bytes(4, "little")) == NODE_IP4
    assert bytes(cfg["node_ip6"]) == socket.inet_pton(socket.AF_INET6, NODE_IP6)
    assert socket.inet_ntoa(cfg["cluster4"].to_bytes(4, "little")) == "10.98.0.0"
    assert cfg["cluster4_len"] == 16 and cfg["cluster6_len"] == 32

    # xdp_nodes: the peer's pod CIDRs (LPM key prefixlen = 32 + plen).
    nodes = {(e["key"]["family"], e["key"]["prefixlen"]): e["value"]
             for e in agent.dump("xdp_nodes")}
    assert set(nodes) == {(4, 32 + 24), (6, 32 + 64)}
    assert socket.inet_ntoa(nodes[(4, 56)]["node_ip4"].to_bytes(4, "little")) == PEER_IP4

    # Native routes to the peer's pod CIDRs, marked with our protocol.
    r4 = node.run("ip", "route", "show", "proto", RTPROT).stdout
    r6 = node.run("ip", "-6", "route", "show", "proto", RTPROT).stdout
    assert f"10.98.2.0/24 via {PEER_IP4} dev eth0" in r4, r4
    assert f"fd00:98:2::/64 via {PEER_IP6} dev eth0" in r6, r6

    # Masquerade for this node's pods leaving by the uplink, both families.
    nft = node.run("nft", "list", "table", "inet", "xdpath").stdout
    assert "type nat hook postrouting" in nft, nft
    assert 'oifname "eth0" ip saddr 10.98.1.0/24 ip daddr != { 10.98.0.0/16 } masquerade' in nft
    assert ('oifname "eth0" ip6 saddr fd00:98:1::/64 ip6 daddr != { fd00:98::/32 } masquerade'
            in nft), nft

    # The socket is root's only; structured log lines.
    assert stat.S_IMODE(os.stat(agent.socket).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(agent.socket).st_mode)
    lines = agent.log().splitlines()
    bad = [l for l in lines if not (l.startswith("ts=") and " level=" in l and
                                    " component=" in l and ' msg="' in l)]
    assert lines and not bad, bad
    assert any('msg="ready"' in l and "startup_ms=" in l for l in lines)
    assert p.poll() is None


def test_start_vxlan(agent):
    agent.start(mode="vxlan", vni=42, vxlanPort=4789)
    node = agent.node
    vx = node.link("xdpvx0")
    info = vx["linkinfo"]["info_data"]
    assert vx["linkinfo"]["info_kind"] == "vxlan"
    assert info.get("external") is True and info["port"] == 4789 and not info.get("learning")
    assert vx["mtu"] == node.link("eth0")["mtu"] - 50
    assert "UP" in vx["flags"]
    # The tunnel runs pod_entry: uplink filters on the inner frame, then to_pod.
    assert agent.tc_prog("xdpvx0")[0] == POD_PROG
    assert agent.tc_prog("eth0")[0] == "to_pod"
    cfg = agent.xdp_config()
    assert cfg["mode"] == 1 and cfg["vni"] == 42 and cfg["tunnel_ifindex"] == vx["ifindex"]
    # Peers' pod CIDRs go through the tunnel (the node's own traffic and
    # what the datapath hands to the stack), with the peer as endpoint.
    r4 = node.run("ip", "route", "show", "proto", RTPROT).stdout
    assert "encap ip id 42" in r4 and "dev xdpvx0" in r4 and "via" not in r4, r4
    assert "NOARP" in vx["flags"]  # no ARP/ND through a collect_md device
    assert agent.api("status")["mode"] == "vxlan"


def test_vxlan_device_reused_or_fixed(agent):
    """A restart reuses xdpvx0; one with other settings is replaced."""
    p = agent.start(mode="vxlan")
    first = agent.ifindex("xdpvx0")
    agent.signal(p, signal.SIGKILL)
    p = agent.start(mode="vxlan")
    assert agent.ifindex("xdpvx0") == first
    agent.signal(p, signal.SIGKILL)
    agent.start(mode="vxlan", vxlanPort=4789)
    assert agent.node.link("xdpvx0")["linkinfo"]["info_data"]["port"] == 4789
    assert agent.xdp_config()["tunnel_ifindex"] == agent.ifindex("xdpvx0")


def test_reload_sighup(agent):
    """SIGHUP re-reads the config: peers, routes, mode, masquerade follow."""
    p = agent.start()
    node = agent.node
    new_peers = [{"name": "node-c", "nodeIP": "10.97.0.3", "nodeIP6": "fd00:97::3",
                  "podCIDRs": ["10.98.3.0/24", "fd00:98:3::/64"]}]
    agent.write_config(peers=new_peers, masquerade=False)
    agent.signal(p, signal.SIGHUP)
    agent.wait_log('msg="config reloaded"')
    r4 = node.run("ip", "route", "show", "proto", RTPROT).stdout
    r6 = node.run("ip", "-6", "route", "show", "proto", RTPROT).stdout
    assert "10.98.3.0/24 via 10.97.0.3" in r4 and "10.98.2.0/24" not in r4, r4
    assert "fd00:98:3::/64 via fd00:97::3" in r6 and "fd00:98:2::" not in r6, r6
    keys = {tuple(e["key"]["addr"][:3]) for e in agent.dump("xdp_nodes")}
    assert (10, 98, 3) in keys and (10, 98, 2) not in keys
    assert node.run("nft", "list", "table", "inet", "xdpath", check=False).returncode != 0

    # Native -> vxlan: the device appears, our routes move into the tunnel.
    agent.write_config(mode="vxlan", peers=new_peers)
    agent.signal(p, signal.SIGHUP)
    wait_for(lambda: agent.xdp_config()["mode"] == 1, what="vxlan mode")
    assert agent.xdp_config()["tunnel_ifindex"] == agent.ifindex("xdpvx0")
    r4 = node.run("ip", "route", "show", "proto", RTPROT).stdout
    assert "10.98.3.0/24" in r4 and "encap ip" in r4 and "dev xdpvx0" in r4, r4
    assert agent.xdp_config()["flags"] == 1  # still ready

    # A broken config changes nothing and the agent keeps running.
    with open(agent.cfg_path, "w") as f:
        f.write('{"nodeName": ')
    agent.signal(p, signal.SIGHUP)
    agent.wait_log("reload failed, keeping the running config")
    assert p.poll() is None and agent.api("status")["mode"] == "vxlan"


def test_second_agent_refused(agent):
    agent.start()
    p = agent.start(wait=False)
    assert p.wait(10) == 1
    assert "another xdpathd runs with this stateDir" in agent.log()
    assert agent.api("status")["ready"] is True


def test_uplink_missing(agent):
    p = agent.start(wait=False, uplink="nosuch0")
    assert p.wait(10) == 1
    assert 'uplink not found" uplink=nosuch0' in agent.log()


def test_mounts_bpffs_when_missing(agent):
    """Under plain `ip netns exec`, /sys/fs/bpf is a sysfs directory: the agent
    mounts a bpffs there (private to that mount namespace, and says so)."""
    node = agent.node
    root = f"{BPFFS}/{node.tag}m"
    agent.write_config(pinRoot=root)
    with open(agent.log_path, "ab") as log:
        p = subprocess.Popen(["ip", "netns", "exec", node.ns, AGENT, "--config",
                              agent.cfg_path], stdout=log, stderr=log)
    agent.procs.append(p)
    agent.wait_ready(p)
    log = agent.log()
    assert 'msg="mounted bpffs" path=/sys/fs/bpf' in log, log
    assert "private mount namespace" in log
    assert not os.path.exists(root)  # not in the host's bpffs
    assert agent.tc_prog("eth0")[0] == "to_pod"


# ===========================================================================
# endpoints
# ===========================================================================

def test_endpoint_reconcile(agent):
    node = agent.node
    a = make_endpoint(node, "a", ["10.98.1.10/32", "fd00:98:1::10/128"])
    b = make_endpoint(node, "b", ["10.98.1.11/32"])
    stale = make_endpoint(node, "gone", ["10.98.1.12/32"], veth=False)
    agent.start()

    keys = agent.endpoint_keys()
    assert keys == {"10.98.1.10": a["hostIfindex"], "fd00:98:1::10": a["hostIfindex"],
                    "10.98.1.11": b["hostIfindex"]}
    info = {e["key"]["addr"][3]: e["value"] for e in agent.dump("xdp_endpoints")
            if e["key"]["family"] == 4}
    assert info[10]["flags"] == 1 and info[10]["ep_id"] == a["hostIfindex"]
    prog_id = bpftool("prog", "show", "pinned", agent.pin("prog_from_pod"))["id"]
    for ep in (a, b):
        assert agent.tc_prog(ep["hostIfname"]) == (POD_PROG, prog_id)
    assert not os.path.exists(record_path(node, stale))  # its veth is gone
    assert agent.api("status")["endpoints"] == 2

    # A new record is picked up at once (inotify), not at the next resync.
    c = make_endpoint(node, "c", ["10.98.1.13/32"])
    wait_for(lambda: "10.98.1.13" in agent.endpoint_keys(), timeout=2, what="new endpoint")
    wait_for(lambda: agent.tc_prog(c["hostIfname"]) == (POD_PROG, prog_id), timeout=2,
             what="from_pod on the new veth")

    # Record deleted while its veth lives on: its entries go after the grace
    # period (see test_entries_before_record_have_grace).
    os.unlink(record_path(node, b))
    wait_for(lambda: "10.98.1.11" not in agent.endpoint_keys(), timeout=6, what="entries gone")

    # Veth deleted under a record (pod netns destroyed): no event for that,
    # the next full pass (periodic, or SIGHUP's) removes record and entries.
    node.run("ip", "link", "del", a["hostIfname"])
    agent.signal(agent.procs[-1], signal.SIGHUP)
    wait_for(lambda: not os.path.exists(record_path(node, a)), timeout=3,
             what="stale record removed")
    assert set(agent.endpoint_keys()) == {"10.98.1.13"}

    # Someone removed our filter: the resync puts it back.
    node.run("tc", "filter", "del", "dev", c["hostIfname"], "ingress")
    wait_for(lambda: agent.tc_prog(c["hostIfname"]) == (POD_PROG, prog_id),
             timeout=AGENT_RESYNC + 3, what="filter restored")


AGENT_RESYNC = 10


def ep_entry_args(addr, host_ifindex):
    """bpftool key/value bytes of an xdp_endpoints entry (xdp_ep_key, xdp_ep_info)."""
    key = [4, 0, 0, 0] + list(socket.inet_aton(addr)) + [0] * 12
    val = (list(host_ifindex.to_bytes(4, "little")) + [2, 0, 0, 0] + [2, 0, 0, 0, 0, 1] +
           [2, 0, 0, 0, 0, 2] + list(host_ifindex.to_bytes(4, "little")) + [1, 0, 0, 0])
    return ["key"] + [str(b) for b in key] + ["value"] + [str(b) for b in val]


def test_entries_before_record_have_grace(agent):
    """The CNI writes a pod's entries before its record: a full pass in
    between leaves entries of a live veth alone for a grace period; entries
    of a vanished veth go at once."""
    node = agent.node
    p = agent.start()
    node.run("ip", "link", "add", "xdpgrace0", "type", "veth", "peer", "name", "xdpgrace1")
    live = agent.ifindex("xdpgrace0")
    sh("bpftool", "map", "update", "pinned", agent.pin("xdp_endpoints"),
       *ep_entry_args("10.98.1.60", live))
    sh("bpftool", "map", "update", "pinned", agent.pin("xdp_endpoints"),
       *ep_entry_args("10.98.1.61", 999999))
    t0 = time.monotonic()
    agent.signal(p, signal.SIGHUP)  # a full pass now
    wait_for(lambda: "10.98.1.61" not in agent.endpoint_keys(), timeout=2, what="dead entry gone")
    assert agent.endpoint_keys().get("10.98.1.60") == live
    # The record arrives in time: the entry is the record's from then on.
    rec = make_endpoint(node, "late", ["10.98.1.62/32"])
    wait_for(lambda: "10.98.1.62" in agent.endpoint_keys(), timeout=2, what="late record")
    # No record ever comes for 10.98.1.60: it goes once the grace is over.
    wait_for(lambda: "10.98.1.60" not in agent.endpoint_keys(), timeout=8, what="orphan gone")
    assert time.monotonic() - t0 >= 3.0
    assert "10.98.1.62" in agent.endpoint_keys() and os.path.exists(record_path(node, rec))


def test_endpoint_record_for_recreated_veth_waits(agent):
    """A record whose veth name exists with another ifindex (a re-ADD mid-way)
    is neither applied nor deleted."""
    node = agent.node
    rec = make_endpoint(node, "a", ["10.98.1.20/32"])
    rec["hostIfindex"] += 1000
    write_record(node.ep_dir, rec)
    agent.start()
    assert os.path.exists(record_path(node, rec))
    assert "10.98.1.20" not in agent.endpoint_keys()
    assert agent.tc_prog(rec["hostIfname"]) is None


def test_unreadable_records_skipped(agent):
    node = agent.node
    os.makedirs(node.ep_dir, exist_ok=True)
    with open(os.path.join(node.ep_dir, "junk:eth0.json"), "w") as f:
        f.write("{not json")
    good = make_endpoint(node, "a", ["10.98.1.30/32"])
    agent.start()
    assert agent.endpoint_keys() == {"10.98.1.30": good["hostIfindex"]}


# ===========================================================================
# restarts: hitless
# ===========================================================================

def ping_stats(out):
    for line in out.splitlines():
        if "packets transmitted" in line:
            parts = line.split(",")
            return int(parts[0].split()[0]), int(parts[1].split()[0])
    return 0, 0


def test_kill9_and_restart_are_hitless(agent):
    node = agent.node
    p = agent.start()
    na, _, ip_a = cni_add(agent, "a")
    nb, _, ip_b = cni_add(agent, "b")
    assert node.ping(ip_b, netns=na), "pod to pod through the datapath"
    ep_b = next(e for e in agent.api("endpoints") if f"{ip_b}/32" in e["ips"])
    before_fwd = agent.api("metrics")["forward"]["redirect_peer"]["packets"]
    assert before_fwd > 0

    map_ids = {m: agent.map_id(m) for m in MAPS}
    prog_id = bpftool("prog", "show", "pinned", agent.pin("prog_from_pod"))["id"]
    up_prog = agent.tc_prog("eth0")
    xdp_before = node.run("ip", "-d", "link", "show", "eth0").stdout

    # Continuous pod-to-pod traffic across kill -9 and restart.
    ping = subprocess.Popen(["ip", "netns", "exec", os.path.basename(na), "ping", "-n", "-q",
                             "-i", "0.01", "-c", "400", "-W", "1", ip_b],
                            stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        assert agent.signal(p, signal.SIGKILL) == -signal.SIGKILL

        # Nothing detached, nothing unpinned.
        assert agent.tc_prog("eth0") == up_prog
        assert agent.tc_prog(ep_b["hostIfname"])[0] == POD_PROG
        assert "xdp_uplink" in node.run("ip", "-d", "link", "show", "eth0").stdout
        assert {m: agent.map_id(m) for m in MAPS} == map_ids
        assert ip_b in agent.endpoint_keys()
        time.sleep(0.5)

        # The restart keeps the datapath ready: sample the pinned flag while
        # the new agent starts; a CNI ADD would never see it cleared.
        assert agent.xdp_config()["flags"] == 1
        readies = agent.log().count('msg="ready"')
        p = agent.start(wait=False)
        samples = []
        while agent.log().count('msg="ready"') == readies and len(samples) < 500:
            samples.append(agent.xdp_config()["flags"])
        agent.wait_ready(p)
        assert samples and all(f == 1 for f in samples), samples
    finally:
        out, _ = ping.communicate(timeout=30)
    sent, received = ping_stats(out)
    assert sent == 400 and received == sent, out
    # Every request and every reply went pod to pod through from_pod's
    # bpf_redirect_peer: the datapath never had a gap (without it the host
    # stack would still have routed them, so the ping alone proves less).
    fwd = agent.api("metrics")["forward"]["redirect_peer"]["packets"]
    assert fwd - before_fwd >= 2 * sent, (before_fwd, fwd)

    # Same maps (reused from the pins), new programs (replaced in place).
    assert {m: agent.map_id(m) for m in MAPS} == map_ids
    new_prog = bpftool("prog", "show", "pinned", agent.pin("prog_from_pod"))["id"]
    assert new_prog != prog_id
    assert agent.tc_prog(ep_b["hostIfname"]) == (POD_PROG, new_prog)
    assert agent.tc_prog("eth0")[0] == "to_pod" and agent.tc_prog("eth0") != up_prog
    assert node.run("ip", "-d", "link", "show", "eth0").stdout != xdp_before
    assert agent.xdp_config()["flags"] == 1
    assert node.ping(ip_b, netns=na)


def test_sigterm_leaves_datapath(agent):
    node = agent.node
    p = agent.start()
    rec = make_endpoint(node, "a", ["10.98.1.40/32"])
    wait_for(lambda: agent.tc_prog(rec["hostIfname"]) is not None, timeout=2, what="attach")
    assert agent.signal(p, signal.SIGTERM) == 0
    assert "the datapath stays attached" in agent.log()
    assert not os.path.exists(agent.socket)  # clients are told it is not running
    assert agent.tc_prog("eth0")[0] == "to_pod"
    assert agent.tc_prog(rec["hostIfname"])[0] == POD_PROG
    assert "xdp_uplink" in node.run("ip", "-d", "link", "show", "eth0").stdout
    assert all(os.path.exists(agent.pin(m)) for m in MAPS + ("prog_from_pod",))
    assert "10.98.1.40" in agent.endpoint_keys()
    assert agent.xdp_config()["flags"] == 1  # the CNI keeps adding pods meanwhile


def test_program_pin_restored(agent):
    """The CNI opens prog_from_pod at every ADD: a removed pin comes back at
    the next full pass."""
    p = agent.start()
    prog = bpftool("prog", "show", "pinned", agent.pin("prog_from_pod"))["id"]
    os.unlink(agent.pin("prog_from_pod"))
    agent.signal(p, signal.SIGHUP)
    wait_for(lambda: os.path.exists(agent.pin("prog_from_pod")), what="pin back")
    assert bpftool("prog", "show", "pinned", agent.pin("prog_from_pod"))["id"] == prog


def _cpu_seconds(pid):
    """utime + stime of the whole process (every thread)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_sheds_instead_of_spinning(agent):
    """accept(2) failing with EMFILE leaves the connection waiting and the
    socket readable: the epoll loop would spin at 100 % CPU until a
    descriptor freed. The agent closes such connections unserved instead, and
    serves again once descriptors are back."""
    import resource
    p = agent.start()
    used = {int(n) for n in os.listdir(f"/proc/{p.pid}/fd")}
    lowest_free = min(set(range(len(used) + 1)) - used)
    old = resource.prlimit(p.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (lowest_free, old[1]))
    try:
        cpu = _cpu_seconds(p.pid)
        t = time.monotonic()
        for _ in range(3):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(3)
                s.connect(agent.socket)
                try:  # closed unserved (maybe before the request is sent), not left hanging
                    s.sendall(json.dumps({"cmd": "status"}).encode())
                    s.shutdown(socket.SHUT_WR)
                    assert s.recv(65536) == b""
                except (BrokenPipeError, ConnectionResetError):
                    pass
        time.sleep(1)
        cpu, wall = _cpu_seconds(p.pid) - cpu, time.monotonic() - t
    finally:
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, old)
    assert cpu < 0.3 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s"
    st = agent.api("status")
    assert st["ready"] is True and st["connectionsShed"] == 3


def test_sigint_exits_cleanly(agent):
    p = agent.start()
    assert agent.signal(p, signal.SIGINT) == 0
    assert "signal=SIGINT" in agent.log()


# ===========================================================================
# map migration
# ===========================================================================

def test_map_migration(agent):
    """Pins with another layout: moved aside, recreated, entries that still
    fit copied, the old pin removed."""
    os.makedirs(agent.pin_root)
    # xdp_fwd with another value size: nothing fits, all dropped.
    sh("bpftool", "map", "create", agent.pin("xdp_fwd"), "type", "percpu_array", "key", "4",
       "value", "8", "entries", "4", "name", "xdp_fwd")
    # xdp_drops with fewer entries but the same key/value: entries are kept.
    sh("bpftool", "map", "create", agent.pin("xdp_drops"), "type", "percpu_array", "key", "4",
       "value", "16", "entries", "8", "name", "xdp_drops")
    sh("bpftool", "map", "update", "pinned", agent.pin("xdp_drops"), "key", "3", "0", "0", "0",
       "value", "7", "0", "0", "0", "0", "0", "0", "0", "70", "0", "0", "0", "0", "0", "0", "0")
    # xdp_nodes pinned as another map type (and key size): replaced.
    sh("bpftool", "map", "create", agent.pin("xdp_nodes"), "type", "hash", "key", "4",
       "value", "4", "entries", "8", "name", "xdp_nodes")
    old_nodes = agent.map_id("xdp_nodes")

    agent.start()
    fwd = bpftool("map", "show", "pinned", agent.pin("xdp_fwd"))
    assert fwd["bytes_value"] == 16 and fwd["max_entries"] == 4
    drops = bpftool("map", "show", "pinned", agent.pin("xdp_drops"))
    assert drops["max_entries"] == len(DROP_NAMES) + 1  # reason 0, "none", is not shown
    val = bpftool("map", "lookup", "pinned", agent.pin("xdp_drops"), "key", "3", "0", "0", "0")
    per_cpu = val["formatted"]["values"]
    assert all(v["value"]["packets"] == 7 and v["value"]["bytes"] == 70 for v in per_cpu), val
    assert agent.map_id("xdp_nodes") != old_nodes
    assert bpftool("map", "show", "pinned", agent.pin("xdp_nodes"))["type"] == "lpm_trie"
    assert not [f for f in os.listdir(agent.pin_root) if f.endswith("_old")]
    log = agent.log()
    assert 'msg="pinned map migrated" map=xdp_fwd copied=0 dropped=4' in log, log
    assert 'msg="pinned map migrated" map=xdp_drops copied=8 dropped=0' in log, log
    assert agent.api("metrics")["drops"]["spoofed_mac"]["packets"] == 7 * len(per_cpu)


# ===========================================================================
# the local API and xdpathctl
# ===========================================================================

def test_api_endpoints_and_metrics(agent):
    node = agent.node
    agent.start()
    na, cid_a, ip_a = cni_add(agent, "a")
    nb, cid_b, ip_b = cni_add(agent, "b")
    assert node.ping(ip_b, netns=na)

    eps = {e["containerId"]: e for e in agent.api("endpoints")}
    assert set(eps) == {cid_a, cid_b}
    a = eps[cid_a]
    assert a["ifname"] == "eth0" and a["tcAttached"] is True and a["inMap"] is True
    assert f"{ip_a}/32" in a["ips"] and a["hostIfindex"] == agent.ifindex(a["hostIfname"])
    assert a["tx_packets"] >= 1 and a["tx_bytes"] > 0 and a["drops"] == 0
    assert eps[cid_b]["rx_packets"] >= 1
    for k in ("podNamespace", "podName", "hostIfname", "rx_bytes"):
        assert k in a

    m = agent.api("metrics")
    assert set(m["drops"]) == set(DROP_NAMES)
    assert set(m["forward"]) == set(FWD_NAMES)
    assert m["forward"]["redirect_peer"]["packets"] >= 2
    assert m["maps"]["xdp_endpoints"]["entries"] == 4  # two pods, dual-stack
    assert m["maps"]["xdp_endpoints"]["capacity"] == 65536
    assert m["maps"]["xdp_nodes"]["entries"] == 2
    # occupancy is shown for the key-value maps (not the prog array, the
    # ring buffers or the fixed filter tables)
    assert set(m["maps"]) == set(MAPS[:12]) | {"xdp_filter_index", "xdp_filter_rate"}
    assert agent.api("status")["endpoints"] == 2

    # Spoofed source address from pod a: dropped and counted.
    pod = os.path.basename(na)
    node.run("ip", "netns", "exec", pod, "ip", "addr", "add", "10.98.1.250/32", "dev", "eth0")
    node.run("ip", "netns", "exec", pod, "ping", "-c1", "-W1", "-I", "10.98.1.250", ip_b,
             check=False)
    assert agent.api("metrics")["drops"]["spoofed_ip"]["packets"] >= 1

    # Bad requests get an error, not a hang or a crash.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(agent.socket)
        s.sendall(b'{"cmd": "nope"}')
        s.shutdown(socket.SHUT_WR)
        assert "unknown cmd" in json.loads(s.recv(4096))["error"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(agent.socket)
        s.sendall(b"garbage")
        s.shutdown(socket.SHUT_WR)
        assert "error" in json.loads(s.recv(4096))
    assert agent.api("status")["ready"] is True


def test_xdpathctl(agent):
    agent.start()
    rec = make_endpoint(agent.node, "web-0", ["10.98.1.50/32", "fd00:98:1::50/128"])
    wait_for(lambda: "10.98.1.50" in agent.endpoint_keys(), timeout=2, what="endpoint")

    out = agent.ctl("status").stdout
    assert "ready:" in out and "yes" in out and "node-a" in out and "native" in out, out
    st = json.loads(agent.ctl("status", "-o", "json").stdout)
    assert st["ready"] is True and st["nodeName"] == "node-a"

    out = agent.ctl("endpoint", "list").stdout.splitlines()
    head = out[0].split()
    assert head[:3] == ["NAMESPACE", "POD", "CONTAINER"] and "DROPS" in head, out
    row = next(l for l in out[1:] if "web-0" in l)
    assert rec["hostIfname"] in row and "10.98.1.50/32,fd00:98:1::50/128" in row, out
    assert row.split()[7:9] == ["yes", "yes"], row  # TC, MAP
    # Aligned: every row's columns start where the header's do.
    assert out[0].index("HOST-IF") == row.index(rec["hostIfname"])
    eps = json.loads(agent.ctl("endpoint", "list", "-o", "json").stdout)
    assert eps[0]["hostIfname"] == rec["hostIfname"] and eps[0]["tcAttached"] is True

    out = agent.ctl("metrics").stdout
    for word in ("DROP REASON", "FORWARD", "MAP", "spoofed_ip", "redirect_peer",
                 "xdp_endpoints", "65536"):
        assert word in out, out
    m = json.loads(agent.ctl("-o", "json", "metrics").stdout)
    assert m["maps"]["xdp_endpoints"]["entries"] == 2

    for bad in (["bogus"], ["endpoint"], ["status", "-o", "yaml"], []):
        assert agent.ctl(*bad, check=False).returncode == 2, bad


def test_xdpathctl_no_agent(tmp_path):
    sock = str(tmp_path / "nothing.sock")
    r = sh(CTL, "--socket", sock, "status", check=False)
    assert r.returncode == 1 and sock in r.stderr and "cannot reach xdpathd" in r.stderr, r
    r = sh(CTL, "--socket", sock, "endpoint", "list", "-o", "json", check=False)
    assert r.returncode == 1 and sock in r.stderr


# ===========================================================================
# scale: start-up with 1000 endpoints
# ===========================================================================

N_SCALE = 1000


def test_startup_1000_endpoints(agent):
    node = agent.node
    names = [f"xdq{i:011x}" for i in range(N_SCALE)]
    lines = []
    for i, n in enumerate(names):
        lines.append(f"link add {n} type veth peer name xdr{i:011x}")
    r = subprocess.run(["ip", "-n", node.ns, "-batch", "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    links = {l["ifname"]: l for l in json.loads(node.run("ip", "-j", "link", "show").stdout)}
    for i, n in enumerate(names):
        l = links[n]
        write_record(node.ep_dir, {
            "schema": 1, "containerId": f"scale{i:04d}", "ifname": "eth0",
            "network": "xdpnet", "netns": f"/run/netns/none{i}", "podNamespace": "scale",
            "podName": f"pod-{i}", "podUid": f"u{i}", "hostIfname": n,
            "hostIfindex": l["ifindex"], "hostMac": l["address"], "podIfindex": 2,
            "podMac": "02:00:00:00:00:02", "mtu": 1500,
            "ips": [f"10.98.{1 + i // 250}.{i % 250 + 1}/32", f"fd00:98:1::{i + 1:x}/128"]})

    t0 = time.monotonic()
    agent.start()
    wall_ms = (time.monotonic() - t0) * 1000
    st = agent.api("status")
    print(f"\nxdpathd start-up with {N_SCALE} endpoints: {st['startupMs']} ms in the agent "
          f"(process start to ready), {wall_ms:.0f} ms wall clock to a ready answer")
    assert st["ready"] is True and st["endpoints"] == N_SCALE
    assert len(agent.endpoint_keys()) == 2 * N_SCALE
    eps = agent.api("endpoints")
    assert len(eps) == N_SCALE and all(e["tcAttached"] and e["inMap"] for e in eps)
    steps = re.findall(r'msg="step done" step="([^"]+)" ms=(\d+)', agent.log())
    print("  steps: " + ", ".join(f"{n} {ms} ms" for n, ms in steps[-14:]))
    assert st["startupMs"] < 1000, f"start-up took {st['startupMs']} ms (target < 1 s)"

    # The periodic full pass (here forced by SIGHUP) with nothing to change.
    agent.signal(agent.procs[-1], signal.SIGHUP)
    agent.wait_log("config reloaded")
    wait_for(lambda: agent.log().count('msg="endpoints reconciled"') >= 2, what="full pass")
    last = [l for l in agent.log().splitlines() if 'msg="endpoints reconciled"' in l][-1]
    print(f"full reconcile pass, {N_SCALE} endpoints, nothing to do: {last.split()[-1]}")
    assert f"live={N_SCALE} failed=0" in last, last

    # A restart with everything in place: every filter replaced, still fast.
    p = agent.procs[-1]
    agent.signal(p, signal.SIGKILL)
    t0 = time.monotonic()
    agent.start()
    st = agent.api("status")
    print(f"restart with {N_SCALE} endpoints: {st['startupMs']} ms in the agent, "
          f"{(time.monotonic() - t0) * 1000:.0f} ms wall clock")
    assert st["startupMs"] < 1000
    prog = bpftool("prog", "show", "pinned", agent.pin("prog_from_pod"))["id"]
    for n in (names[0], names[N_SCALE // 2], names[-1]):
        assert agent.tc_prog(n) == (POD_PROG, prog)


def test_xdp_uplink_modes(agent):
    """auto leaves XDP off on a veth uplink (copying every GSO packet into
    XDP buffers would cost ~3-4x throughput); generic, native and off are
    honoured, and a reload switches modes in place."""
    node = agent.node
    p = agent.start(xdpUplink="auto")
    link = node.run("ip", "-d", "link", "show", "eth0").stdout
    assert "xdp_uplink" not in link and "prog/xdp" not in link, link
    assert "xdp=off" in agent.log()
    for mode, word in (("generic", "xdpgeneric"), ("native", " xdp "), ("off", None)):
        seen = agent.log().count(f"xdp={mode}")
        agent.write_config(xdpUplink=mode)
        agent.signal(p, signal.SIGHUP)
        wait_for(lambda: agent.log().count(f"xdp={mode}") > seen, what=f"xdp={mode}")
        link = node.run("ip", "link", "show", "eth0").stdout
        if word:
            assert word in link and "xdp_uplink" in node.run(
                "ip", "-d", "link", "show", "eth0").stdout, (mode, link)
        else:
            flags = link.splitlines()[0].split(">")[1]  # before link-netns <name>
            assert "xdp" not in flags, (mode, link)
    assert agent.api("status")["ready"] is True



# ===========================================================================
# policy source (policyDir): loaded and compiled in memory, not enforced
# ===========================================================================

ALLOW_WEB = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: default, name: allow-web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {}}]
    ports: [{port: 80}]
"""
BAD_PORTS = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: default, name: bad-ports}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: 80, endPort: 70}]
"""
NAMESPACE = """apiVersion: v1
kind: Namespace
metadata: {name: default}
"""
POD_WEB = """apiVersion: v1
kind: Pod
metadata: {namespace: default, name: web, labels: {app: web}}
spec: {containers: [{name: c, ports: [{containerPort: 80}]}]}
"""


def write_manifest(d, name, text):
    tmp = os.path.join(d, "." + name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(d, name))


def policies(agent):
    return json.loads(agent.ctl("policy", "list", "-o", "json").stdout)


def names(resp):
    return sorted(f"{p['namespace']}/{p['name']}" for p in resp["policies"])


def test_policy_dir(agent, tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    for name, text in (("web.yaml", ALLOW_WEB), ("bad.yaml", BAD_PORTS), ("ns.yaml", NAMESPACE),
                       ("pod.yml", POD_WEB), ("notes.txt", "not a manifest")):
        (d / name).write_text(text)
    make_endpoint(agent.node, "web", ["10.98.1.5/32"])
    agent.start(policyDir=str(d))
    r = policies(agent)
    assert names(r) == ["default/allow-web"], r
    p = r["policies"][0]
    assert p["types"] == ["Ingress"] and p["ingressRules"] == 1 and p["egressRules"] == 0, p
    assert p["podSelector"] == "app=web", p
    assert p["selects"] == ["default/web"], p
    bad = [e for e in r["errors"] if e["name"] == "bad-ports"]
    assert len(bad) == 1, r["errors"]
    assert bad[0]["namespace"] == "default" and bad[0]["kind"] == "NetworkPolicy", bad
    assert "endPort" in bad[0]["reason"], bad
    st = r["stats"]
    assert (st["policies"], st["pods"], st["namespaces"]) == (1, 1, 1), st
    assert st["entries"]["policy"] > 0 and "ipcache" in st["entries"], st
    assert "compileMs" in st
    agent.wait_log("msg=\"policies loaded\"")
    assert agent.log().count("bad-ports") == 1, agent.log()  # logged once, as a warning
    assert "level=warn component=policy msg=\"invalid object\" kind=NetworkPolicy " \
           "object=default/bad-ports" in agent.log(), agent.log()

    # The table, then the invalid objects.
    out = agent.ctl("policy", "list").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "TYPES", "INGRESS", "EGRESS", "SELECTS"]
    assert lines[1].split() == ["default", "allow-web", "Ingress", "1", "0", "default/web"], out
    assert "Invalid objects:" in out and "default/bad-ports" in out, out
    assert "KIND" in out and "REASON" in out, out

    # A new file is picked up (inotify).
    write_manifest(str(d), "deny.json", json.dumps({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"namespace": "default", "name": "deny-egress"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}))
    wait_for(lambda: "default/deny-egress" in names(policies(agent)), what="new policy loaded")
    r = policies(agent)
    assert names(r) == ["default/allow-web", "default/deny-egress"], r
    deny = next(p for p in r["policies"] if p["name"] == "deny-egress")
    assert deny["types"] == ["Egress"] and deny["selects"] == ["default/web"], r

    # A broken YAML file: reported with its name and line, the rest kept.
    write_manifest(str(d), "broken.yaml", "kind: NetworkPolicy\nmetadata: {name: x\n  : [\n")
    wait_for(lambda: any("broken.yaml:" in (e["reason"] or "") for e in policies(agent)["errors"]),
             what="broken file reported")
    r = policies(agent)
    err = next(e for e in r["errors"] if "broken.yaml:" in (e["reason"] or ""))
    assert err["reason"].split(":")[1].isdigit(), err
    assert names(r) == ["default/allow-web", "default/deny-egress"], r
    assert any(e["name"] == "bad-ports" for e in r["errors"]), r

    # A file removed is dropped.
    os.unlink(d / "deny.json")
    wait_for(lambda: names(policies(agent)) == ["default/allow-web"], what="policy removed")
    # Nothing was enforced: no policy map was written by this.
    assert agent.api("status")["ready"] is True


def test_policy_dir_absent(agent):
    agent.start()
    r = agent.api("policies")
    assert r["policies"] == [] and r["errors"] == [], r
    assert r["stats"]["policies"] == 0 and r["stats"]["entries"]["policy"] == 0, r
    out = agent.ctl("policy", "list").stdout
    assert out.splitlines() == ["NAMESPACE  NAME  TYPES  INGRESS  EGRESS  SELECTS"], out
    assert "Invalid objects" not in out


def test_policy_dir_relative(tmp_path):
    r = run_agent(tmp_path, dict(BASE, policyDir="relative/policies"))
    assert r.returncode == 2, r
    assert "key=policyDir " in r.stderr and "absolute" in r.stderr, r.stderr
