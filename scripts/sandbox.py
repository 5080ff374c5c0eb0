#!/usr/bin/python3
"""xdpath sandbox cluster: N nodes x M pods built out of network namespaces.

Library (tests, benchmarks):

    sys.path.insert(0, "<repo>/scripts"); import sandbox
    with sandbox.Cluster(nodes=2, pods=2, mode="routes") as c:
        a, b = c.pods[0], c.pods[2]              # n1p1, n2p1
        a.exec("ping", "-c1", b.ip4)
        web = c.add_pod("n2", "web", namespace="shop", labels={"app": "web"})
        c.external.exec("ip", "-br", "addr")

CLI:

    scripts/sandbox.py up --nodes 2 --pods 2 --mode routes --tag demo1
    scripts/sandbox.py exec --tag demo1 n1p1 -- ping -c1 10.244.2.2
    scripts/sandbox.py show --tag demo1
    scripts/sandbox.py down --tag demo1

Topology (every name carries the run's tag; nothing exists outside the
namespaces created here):

    <tag>u    underlay: bridge br0; ports n<i> (peer: eth0 of node i), x (peer: eth0 of <tag>x)
    <tag>n<i> node i: eth0 10.200.0.<i>/24 fd00:200::<i>/64, default via the external host,
              pod CIDRs 10.244.<i>.0/24 fd00:10:244:<i>::/64, forwarding on (this netns only)
    <tag>x    external host: eth0 10.200.0.100/24 fd00:200::100/64, "internet" 198.18.0.1 and
              2001:db8:18::1 on lo, no routes to pod CIDRs (pods reach it only masqueraded)
    <tag>n<i>p<j>  pods, wired by the real CNI plugin build/bin/xdpath run inside node i

Modes: "routes" (no datapath: the sandbox installs inter-node pod routes and an
nftables masquerade in every node), "native" / "vxlan" (the xdpathd agent on
each node does routing and masquerade; started when build/bin/xdpathd exists).

Agents and the CNI (when a node runs an agent) are launched with
`node.argv(..., bpffs=True)`: like `ip netns exec` (node netns, a /sys that shows the node's
devices) but with the host's bpffs kept at /sys/fs/bpf, so pins under the pin
root outlive the agent process and are visible from the root namespace. Plain
`ip netns exec` mounts a fresh sysfs over /sys, which hides bpffs.

Cleanup: context manager, atexit, and `down(tag)`, which works from
/tmp/<tag>.sandbox.json or, without it, from names alone (netns by name, pin
roots by name, state dirs /tmp/<tag>-* carrying a marker file). Teardown kills
every process still inside the cluster's namespaces, removes the pin roots,
deletes all namespaces in one `ip -force -batch` and removes the state dir.
"""
import argparse
import atexit
import glob
import ipaddress
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.path.join(ROOT, "build", "bin")
PLUGIN = os.environ.get("XDPATH_PLUGIN") or os.path.join(BIN, "xdpath")
AGENT = os.path.join(BIN, "xdpathd")
CTL = os.path.join(BIN, "xdpathctl")

BPFFS = "/sys/fs/bpf"
NETNS_DIR = "/run/netns"
TMP = "/tmp"
MARKER = ".xdpath-sandbox"       # in every state dir, so `down` never removes a foreign dir
MODES = ("routes", "native", "vxlan")
TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,23}$")
MAX_NODES = 99                    # 10.200.0.100 is the external host

UPLINK = "eth0"
EXT4, EXT6 = "10.200.0.100", "fd00:200::100"
INET4, INET6 = "198.18.0.1", "2001:db8:18::1"
CLUSTER4, CLUSTER6 = "10.244.0.0/16", "fd00:10:244::/48"
NAT_TABLE = "xdpath_sbx"
READY_TIMEOUT = 10.0
READY_POLL = 0.05

_claim_seq = itertools.count()


# --------------------------------------------------------------------------
# processes

class SandboxError(RuntimeError):
    pass


class CommandError(subprocess.CalledProcessError):
    """A failed command; unlike CalledProcessError, str() shows its output."""

    def __str__(self):
        s = f"{' '.join(map(str, self.cmd))}: exit status {self.returncode}"
        for what, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if isinstance(text, bytes):
                text = text.decode(errors="replace")
            if text and text.strip():
                s += f"\n  {what}: {text.strip()[-2000:]}"
        return s


def run(argv, check=True, **kw):
    """subprocess.run with text output captured (unless the caller redirects
    stdout/stderr) and a CommandError naming stdout/stderr on failure."""
    if not any(k in kw for k in ("stdout", "stderr", "capture_output")):
        kw["capture_output"] = True
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    p = subprocess.run([str(a) for a in argv], check=False, **kw)
    if check and p.returncode != 0:
        raise CommandError(p.returncode, p.args, p.stdout, p.stderr)
    return p


def ip_batch(lines, netns=None, force=False):
    """Run `ip` commands in one process (inside `netns` when given). In the
    root netns only `netns add/del` are allowed: nothing else of it is touched."""
    if not lines:
        return None
    if not netns and not all(l.startswith("netns ") for l in lines):
        raise SandboxError(f"refusing to run {lines} in the root netns")
    argv = ["ip"] + (["-n", netns] if netns else []) + (["-force"] if force else []) + \
        ["-batch", "-"]
    return run(argv, input="\n".join(lines) + "\n", check=not force)


def netns_argv(netns, *cmd):
    if not netns:
        raise SandboxError("refusing to run in an unnamed netns (that would be the root netns)")
    return ["ip", "netns", "exec", netns, *map(str, cmd)]


# `ip netns exec` with the host's bpffs kept: a new mount namespace (slave, so
# nothing propagates back), bpffs parked on a private mount point, /sys
# replaced by a sysfs of the node netns, bpffs moved back to /sys/fs/bpf.
_BPFFS_EXEC = ('m=$1; shift; mount --bind /sys/fs/bpf "$m"; umount -l /sys; '
               'mount -t sysfs -o nosuid,nodev,noexec sysfs /sys; '
               'mount --move "$m" /sys/fs/bpf; exec "$@"')


def bpffs_netns_argv(netns, park_dir, *cmd):
    if not netns:
        raise SandboxError("refusing to run in an unnamed netns")
    return ["nsenter", f"--net={NETNS_DIR}/{netns}", "unshare", "--mount",
            "--propagation", "slave", "sh", "-ec", _BPFFS_EXEC, "sh", park_dir,
            *map(str, cmd)]


def bpffs_mounted():
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if left.split()[4] == BPFFS and right.split()[0] == "bpf":
                    return True
    except OSError:
        pass
    return False


def ensure_bpffs():
    """Mount bpffs at /sys/fs/bpf if it is not (as systemd does at boot)."""
    if not bpffs_mounted():
        run(["mount", "-t", "bpf", "bpf", BPFFS])


class _Proc:
    """A process we started (Popen) or only know by pid (from the state file).
    The start time guards against pid reuse."""

    def __init__(self, pid, popen=None, start=None):
        self.pid = pid
        self.popen = popen
        self.start = start if start is not None else _start_time(pid)

    def alive(self):
        if self.popen is not None:
            return self.popen.poll() is None
        st = _proc_stat(self.pid)
        return st is not None and st[0] != "Z" and st[1] == self.start

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        """True once the process is gone (reaped if it is our child)."""
        if self.popen is not None:
            try:
                self.popen.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        end = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > end:
                return False
            time.sleep(0.01)
        return True

    @property
    def returncode(self):
        return self.popen.returncode if self.popen is not None else None


def _proc_stat(pid):
    """(state, starttime) of a pid, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def _start_time(pid):
    st = _proc_stat(pid)
    return st[1] if st else None


# --------------------------------------------------------------------------
# names

def check_tag(tag):
    if not TAG_RE.match(tag or ""):
        raise SandboxError(f"bad tag {tag!r}: a letter then letters/digits, at most 24")
    return tag


def state_file(tag):
    return os.path.join(TMP, f"{tag}.sandbox.json")


def _netns_re(tag):
    return re.compile(rf"^{re.escape(tag)}(u|x|n\d+(p\d+)?)$")


def tag_netns(tag):
    """Every netns of this tag that exists now (pods first, underlay last)."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    rx = _netns_re(tag)
    found = [n for n in names if rx.match(n)]

    def rank(n):
        kind = "p" if re.search(r"p\d+$", n) else n[len(tag)]
        return ("pnxu".index(kind), n)
    return sorted(found, key=rank)


def tag_pin_roots(tag):
    try:
        names = os.listdir(BPFFS)
    except OSError:
        return []
    rx = re.compile(rf"^{re.escape(tag)}n\d+$")
    return [os.path.join(BPFFS, n) for n in sorted(names) if rx.match(n)]


def tag_state_dirs(tag):
    return [d for d in sorted(glob.glob(os.path.join(TMP, glob.escape(tag) + "-*")))
            if os.path.isdir(d) and not os.path.islink(d)
            and os.path.exists(os.path.join(d, MARKER))]


def _netns_ids(names):
    ids = {}
    for n in names:
        try:
            st = os.stat(os.path.join(NETNS_DIR, n))
            ids[(st.st_dev, st.st_ino)] = n
        except OSError:
            pass
    return ids


def pids_in_netns(names=(), ids=None):
    """{pid: netns name} of every process inside one of these namespaces
    (by name, or by the nsfs ids _netns_ids() took, which still match after
    the names are gone)."""
    ids = ids if ids is not None else _netns_ids(names)
    found = {}
    if not ids:
        return found
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            st = os.stat(f"/proc/{d}/ns/net")
        except OSError:
            continue
        n = ids.get((st.st_dev, st.st_ino))
        if n:
            found[int(d)] = n
    return found


def _write_json(path, obj):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# cleanup shared by Cluster.close() and `down`

def _cleanup(tag, agents=(), state_dirs=(), grace=1.0):
    """Remove everything of `tag`. `agents`: _Proc handles to stop politely
    (SIGTERM, `grace` s) before everything left in the namespaces is SIGKILLed."""
    summary = {"tag": tag, "killed": [], "pinRoots": [], "netns": [], "stateDirs": []}
    names = tag_netns(tag)
    ids = _netns_ids(names)
    live = [a for a in agents if a.alive()]
    for a in live:
        a.signal(signal.SIGTERM)
    end = time.monotonic() + grace
    for a in live:
        if not a.wait(max(0.0, end - time.monotonic())):
            a.signal(signal.SIGKILL)
            a.wait(5)
        summary["killed"].append(a.pid)
    # Whatever still runs in our namespaces (servers a test left, an agent of a
    # crashed run) would keep the namespaces alive after `netns del`.
    summary["killed"] += _kill_in(ids)
    for a in agents:  # reap our own children
        a.wait(1)
    for d in tag_pin_roots(tag):
        shutil.rmtree(d, ignore_errors=True)
        summary["pinRoots"].append(d)
    if names:
        ip_batch([f"netns del {n}" for n in names], force=True)
        summary["netns"] = names
        # A process that opened a netns just before and entered it just after
        # the sweep (an `ip netns exec` racing with teardown): sweep again.
        summary["killed"] += _kill_in(ids)
    for d in sorted(set(state_dirs) | set(tag_state_dirs(tag))):
        if os.path.isdir(d) and os.path.exists(os.path.join(d, MARKER)):
            shutil.rmtree(d, ignore_errors=True)
            summary["stateDirs"].append(d)
    try:
        os.unlink(state_file(tag))
    except FileNotFoundError:
        pass
    return summary


def _kill_in(ids, rounds=3):
    killed = []
    for _ in range(rounds):
        left = pids_in_netns(ids=ids)
        if not left:
            break
        procs = [_Proc(pid) for pid in left]
        for p in procs:
            p.signal(signal.SIGKILL)
        for p in procs:
            p.wait(5)
        killed += sorted(left)
    return killed


def down(tag):
    """Remove every trace of a cluster, whether its owner still runs or
    crashed: agents (by the state file) and every process in its namespaces,
    pin roots, namespaces, state dirs, the state file."""
    check_tag(tag)
    agents, dirs = [], []
    try:
        with open(state_file(tag)) as f:
            st = json.load(f)
        dirs.append(st.get("stateDir") or "")
        for n in st.get("nodes", []):
            a = n.get("agent")
            if a and a.get("pid") and a.get("start") is not None:  # start: no pid reuse
                agents.append(_Proc(a["pid"], start=a["start"]))
    except (OSError, ValueError):
        pass
    return _cleanup(tag, agents, [d for d in dirs if d])


# --------------------------------------------------------------------------
# namespaces

class Netns:
    """A namespace of the cluster. exec() runs `ip netns exec <netns> cmd`."""

    def __init__(self, cluster, netns):
        self.cluster = cluster
        self.netns = netns

    @property
    def path(self):
        return os.path.join(NETNS_DIR, self.netns)

    def argv(self, *cmd):
        return netns_argv(self.netns, *cmd)

    def exec(self, *cmd, check=True, **kw):
        """Run a command in this netns; returns CompletedProcess (text output
        captured unless stdout/stderr are given); CommandError on failure
        when check."""
        return run(self.argv(*cmd), check=check, **kw)

    def popen(self, *cmd, **kw):
        return subprocess.Popen(self.argv(*cmd), **kw)

    def ping(self, addr, count=1, wait=3):
        """True if an echo reply comes back within `wait` s."""
        r = self.exec("ping", "-n", f"-c{count}", "-i0.2", f"-w{wait}", addr, check=False)
        return r.returncode == 0

    def __repr__(self):
        return f"<{type(self).__name__} {self.netns}>"


class Node(Netns):
    def __init__(self, cluster, index):
        super().__init__(cluster, f"{cluster.tag}n{index}")
        self.index = index
        self.name = f"n{index}"
        self.ip4 = f"10.200.0.{index}"
        self.ip6 = f"fd00:200::{index}"
        self.pod_cidr4 = f"10.244.{index}.0/24"
        self.pod_cidr6 = f"fd00:10:244:{index}::/64"
        self.state_dir = os.path.join(cluster.state_dir, self.name)
        self.ipam_dir = os.path.join(self.state_dir, "ipam")
        self.endpoint_dir = os.path.join(self.state_dir, "endpoints")
        self.cni_conf_path = os.path.join(self.state_dir, "cni.json")
        self.agent_config_path = os.path.join(self.state_dir, "agent.json")
        self.agent_log = os.path.join(self.state_dir, "agent.log")
        self.socket = os.path.join(self.state_dir, "xdpathd.sock")
        self.pin_root = os.path.join(BPFFS, f"{cluster.tag}n{index}")
        self.park_dir = os.path.join(self.state_dir, ".bpffs")
        self.pods = []
        self.agent = None            # _Proc of the running (or last) agent
        self.datapath = False        # set once an agent was started here
        self._pod_seq = itertools.count(1)

    @property
    def pod_cidrs(self):
        return [self.pod_cidr4, self.pod_cidr6]

    def argv(self, *cmd, bpffs=False):
        """`ip netns exec` argv; bpffs=True keeps the host's /sys/fs/bpf."""
        if bpffs:
            return bpffs_netns_argv(self.netns, self.park_dir, *cmd)
        return netns_argv(self.netns, *cmd)

    def exec(self, *cmd, check=True, bpffs=False, **kw):
        return run(self.argv(*cmd, bpffs=bpffs), check=check, **kw)

    def popen(self, *cmd, bpffs=False, **kw):
        return subprocess.Popen(self.argv(*cmd, bpffs=bpffs), **kw)

    def cni_conf(self):
        c = {
            "cniVersion": "1.1.0",
            "name": self.cluster.tag,
            "type": "xdpath",
            "mtu": 1450 if self.cluster.mode == "vxlan" else 1500,
            "endpointDir": self.endpoint_dir,
            "ipam": {
                "type": "xdpath",
                "dataDir": self.ipam_dir,
                "ranges": [[{"subnet": self.pod_cidr4}], [{"subnet": self.pod_cidr6}]],
            },
        }
        if self.datapath:
            c["datapath"] = {"pinRoot": self.pin_root}
        return c

    def agent_config(self):
        c = self.cluster
        conf = {
            "nodeName": self.name,
            "pinRoot": self.pin_root,
            "stateDir": self.state_dir,
            "endpointDir": self.endpoint_dir,
            "uplink": UPLINK,
            "mode": c.mode,
            "nodeIP": self.ip4,
            "nodeIP6": self.ip6,
            "podCIDRs": self.pod_cidrs,
            "clusterCIDRs": [CLUSTER4, CLUSTER6],
            "masquerade": True,
            "peers": [{"name": n.name, "nodeIP": n.ip4, "nodeIP6": n.ip6,
                       "podCIDRs": n.pod_cidrs} for n in c.nodes if n is not self],
            "logLevel": c.log_level,
        }
        for k, v in (getattr(c, "agent_extra", None) or {}).items():
            if v is None:
                conf.pop(k, None)     # e.g. "peers": None, to learn them from Node objects
            else:
                conf[k] = v
        return conf

    def cni_argv(self, command, container_id, netns_path, args=None):
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id,
               "CNI_NETNS": netns_path, "CNI_IFNAME": "eth0",
               "CNI_PATH": f"{BIN}:/usr/lib/cni", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if args:
            env["CNI_ARGS"] = args
        return self.argv("env", "-i", *[f"{k}={v}" for k, v in env.items()],
                         self.cluster.plugin, bpffs=self.datapath)

    def cni(self, command, container_id, netns_path, args=None, conf=None):
        """Run the plugin in this node (as a runtime would); CompletedProcess."""
        conf = conf if conf is not None else self.cni_conf()
        return run(self.cni_argv(command, container_id, netns_path, args),
                   input=json.dumps(conf), check=False)

    def describe(self):
        return {"name": self.name, "netns": self.netns, "ip4": self.ip4, "ip6": self.ip6,
                "podCIDRs": self.pod_cidrs, "stateDir": self.state_dir,
                "pinRoot": self.pin_root, "datapath": self.datapath,
                "agent": ({"pid": self.agent.pid, "start": self.agent.start}
                          if self.agent and self.agent.alive() else None)}


class External(Netns):
    def __init__(self, cluster):
        super().__init__(cluster, f"{cluster.tag}x")
        self.name = "x"
        self.ip4, self.ip6 = EXT4, EXT6
        self.internet4, self.internet6 = INET4, INET6

    def describe(self):
        return {"netns": self.netns, "ip4": self.ip4, "ip6": self.ip6,
                "internet4": self.internet4, "internet6": self.internet6}


class Pod(Netns):
    def __init__(self, cluster, node, pod_id, name, namespace, labels, result=None):
        super().__init__(cluster, f"{cluster.tag}{pod_id}")
        self.id = pod_id                                 # "n1p2"
        self.node = node
        self.name = name                                 # K8S_POD_NAME
        self.namespace = namespace                       # K8S_POD_NAMESPACE
        self.labels = dict(labels or {})
        self.container_id = f"{cluster.tag}-{pod_id}"
        self.result = result or {}
        self.ip4 = self.ip6 = None
        for ip in self.result.get("ips", []):
            a = ipaddress.ip_interface(ip["address"]).ip
            if a.version == 4 and self.ip4 is None:
                self.ip4 = str(a)
            elif a.version == 6 and self.ip6 is None:
                self.ip6 = str(a)
        ifs = self.result.get("interfaces", [])
        self.host_veth = next((i["name"] for i in ifs if not i.get("sandbox")), None)

    @property
    def cni_args(self):
        return f"IgnoreUnknown=1;K8S_POD_NAMESPACE={self.namespace};K8S_POD_NAME={self.name}"

    def ip(self, family=4):
        return self.ip4 if family == 4 else self.ip6

    def delete(self):
        self.cluster.delete_pod(self)

    def describe(self):
        return {"id": self.id, "name": self.name, "namespace": self.namespace,
                "labels": self.labels, "node": self.node.name, "netns": self.netns,
                "containerId": self.container_id, "hostVeth": self.host_veth,
                "ip4": self.ip4, "ip6": self.ip6}


# --------------------------------------------------------------------------
# the cluster

_live = set()


@atexit.register
def _atexit():
    for c in list(_live):
        if c.owner != os.getpid():
            continue  # a forked child exiting: the cluster is its parent's
        try:
            c.close()
        except Exception as e:  # keep cleaning the others
            print(f"sandbox: cleanup of {c.tag} failed: {e}", file=sys.stderr)


class Cluster:
    """N nodes x M pods. Built on construction; torn down by close(), the
    context manager, or at interpreter exit (unless detach()ed).

    nodes, pods  node count (1..99), pods per node created up front
    mode         "routes" | "native" | "vxlan"
    tag          name prefix of everything (default xs<pid><n>, unique)
    agent        None: start xdpathd on every node in native/vxlan mode if the
                 binary exists; True: require it; False: never
    plugin, agent_bin, ctl_bin   binaries (defaults: build/bin/...)
    agent_extra  dict merged into every node's agent config (e.g.
                 {"policyDir": ...}; a None value removes the key); default none
    """

    def __init__(self, nodes=2, pods=0, mode="routes", tag=None, agent=None,
                 plugin=PLUGIN, agent_bin=AGENT, ctl_bin=CTL, log_level="info",
                 ready_timeout=READY_TIMEOUT, agent_extra=None):
        if mode not in MODES:
            raise SandboxError(f"mode {mode!r}: one of {', '.join(MODES)}")
        if not 1 <= nodes <= MAX_NODES:
            raise SandboxError(f"nodes={nodes}: 1..{MAX_NODES}")
        if pods < 0:
            raise SandboxError(f"pods={pods}")
        if mode == "routes" and agent:
            raise SandboxError("routes mode runs no agent")
        if os.geteuid() != 0:
            raise SandboxError("the sandbox needs root (network namespaces)")
        if not os.access(plugin, os.X_OK):
            raise SandboxError(f"{plugin} is missing: run `make`")
        if agent is None:
            agent = mode != "routes" and os.access(agent_bin, os.X_OK)
        if agent and not os.access(agent_bin, os.X_OK):
            raise SandboxError(f"{agent_bin} is missing")
        self.mode = mode
        self.plugin = plugin
        self.agent_bin = agent_bin
        self.ctl_bin = ctl_bin
        self.log_level = log_level
        self.ready_timeout = ready_timeout
        self.agent_extra = dict(agent_extra or {})
        self.owner = os.getpid()
        self.closed = False
        self.detached = False
        self.pods = []
        self.nodes = []
        self.state_dir = None
        self.tag = self._claim(tag)      # state file created O_EXCL: the tag is ours
        _live.add(self)
        try:
            self.state_dir = tempfile.mkdtemp(prefix=f"{self.tag}-", dir=TMP)
            open(os.path.join(self.state_dir, MARKER), "w").close()
            self.underlay = Netns(self, f"{self.tag}u")
            self.external = External(self)
            self.nodes = [Node(self, i) for i in range(1, nodes + 1)]
            self.save()
            self._build()
            # Agents first, as on a real node (the CNI joins the datapath).
            if agent:
                for n in self.nodes:
                    self._launch_agent(n)
                for n in self.nodes:
                    self._wait_ready(n)
                self.save()
            for n in self.nodes:
                for _ in range(pods):
                    self.add_pod(n, save=False)
            self.save()
        except BaseException:
            self.close()
            raise

    # -- construction ------------------------------------------------------
    @staticmethod
    def _claim(tag):
        if tag is not None:
            check_tag(tag)
            try:
                os.close(os.open(state_file(tag), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                raise SandboxError(f"tag {tag} is in use ({state_file(tag)}); "
                                   f"`sandbox.py down --tag {tag}` removes it") from None
            if tag_netns(tag) or tag_pin_roots(tag):
                os.unlink(state_file(tag))
                raise SandboxError(f"tag {tag} has leftovers: run `sandbox.py down --tag {tag}`")
            return tag
        while True:
            t = f"xs{os.getpid()}{next(_claim_seq)}"
            if tag_netns(t) or tag_pin_roots(t):
                continue  # leftovers of a crashed run with a recycled pid
            try:
                os.close(os.open(state_file(t), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return t
            except FileExistsError:
                continue

    def _build(self):
        u, x, nodes = self.underlay.netns, self.external.netns, self.nodes
        ip_batch([f"netns add {n}" for n in [u, x] + [n.netns for n in nodes]])
        for n in nodes:
            os.makedirs(n.park_dir)
        # Underlay: a plain L2 segment. No IPv6 on the bridge and its ports (no
        # DAD/MLD noise); multicast snooping off so NDP is simply flooded.
        run(netns_argv(u, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                       "net.ipv6.conf.default.disable_ipv6=1"))
        # Where the kernel has bridge netfilter (br_netfilter loaded), it
        # checks IP headers of bridged frames and silently drops malformed
        # ones: the underlay is a wire, not a firewall (the filter tests send
        # malformed frames on purpose). Per netns; only ours.
        run(netns_argv(u, "sh", "-c", "for k in iptables ip6tables arptables; do "
                       "f=/proc/sys/net/bridge/bridge-nf-call-$k; [ ! -e $f ] || echo 0 > $f; "
                       "done"))
        lines = ["link set lo up",
                 "link add br0 type bridge stp_state 0 mcast_snooping 0",
                 "link set br0 up"]
        for port, peer in [(n.name, n.netns) for n in nodes] + [("x", x)]:
            lines += [f"link add {port} mtu 1500 type veth peer name {UPLINK} mtu 1500 netns {peer}",
                      f"link set {port} master br0",
                      f"link set {port} up"]
        ip_batch(lines, netns=u)
        # External host.
        run(netns_argv(x, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0",
                       f"net.ipv6.conf.{UPLINK}.accept_dad=0"))
        ip_batch(["link set lo up",
                  f"addr add {INET4}/32 dev lo",
                  f"addr add {INET6}/128 dev lo",
                  f"addr add {EXT4}/24 dev {UPLINK}",
                  f"addr add {EXT6}/64 dev {UPLINK} nodad",
                  f"link set {UPLINK} up"], netns=x)
        for n in nodes:
            run(n.argv("sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                       "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.all.accept_dad=0",
                       f"net.ipv6.conf.{UPLINK}.accept_dad=0"))
            lines = ["link set lo up",
                     f"addr add {n.ip4}/24 dev {UPLINK}",
                     f"addr add {n.ip6}/64 dev {UPLINK} nodad",
                     f"link set {UPLINK} up",
                     f"route add default via {EXT4} dev {UPLINK}",
                     f"route add ::/0 via {EXT6} dev {UPLINK}"]
            if self.mode == "routes":
                for m in nodes:
                    if m is not n:
                        lines += [f"route add {m.pod_cidr4} via {m.ip4} dev {UPLINK}",
                                  f"route add {m.pod_cidr6} via {m.ip6} dev {UPLINK}"]
            ip_batch(lines, netns=n.netns)
            if self.mode == "routes":
                run(n.argv("nft", "-f", "-"), input=self._masquerade(n))
            _write_json(n.cni_conf_path, n.cni_conf())

    @staticmethod
    def _masquerade(n):
        return (f"table inet {NAT_TABLE} {{\n"
                f"  chain postrouting {{\n"
                f"    type nat hook postrouting priority srcnat; policy accept;\n"
                f"    ip saddr {n.pod_cidr4} ip daddr != {CLUSTER4} oifname \"{UPLINK}\" masquerade\n"
                f"    ip6 saddr {n.pod_cidr6} ip6 daddr != {CLUSTER6} oifname \"{UPLINK}\" masquerade\n"
                f"  }}\n}}\n")

    # -- lookup ------------------------------------------------------------
    def node(self, node):
        """A Node from a Node, its name "n1", or its netns name."""
        if isinstance(node, Node):
            if node.cluster is not self:
                raise SandboxError(f"{node} belongs to another cluster")
            return node
        if isinstance(node, str):
            for n in self.nodes:
                if node in (n.name, n.netns):
                    return n
            raise SandboxError(f"no node {node!r} in {self.tag}")
        raise TypeError("node: a Node or a name like 'n1' (use cluster.nodes[i] for indexes)")

    def pod(self, key):
        """A Pod by id ("n1p1"), netns, name, or "namespace/name"."""
        for p in self.pods:
            if key in (p.id, p.netns, p.name, f"{p.namespace}/{p.name}"):
                return p
        raise SandboxError(f"no pod {key!r} in {self.tag}")

    def target(self, key):
        """Any namespace by short name: n1, n1p1, pod name, x/external, u/underlay."""
        if key in ("x", "external", self.external.netns):
            return self.external
        if key in ("u", "underlay", self.underlay.netns):
            return self.underlay
        for n in self.nodes:
            if key in (n.name, n.netns):
                return n
        return self.pod(key)

    # -- pods --------------------------------------------------------------
    def add_pod(self, node, name=None, namespace="default", labels=None, save=True):
        """Create a pod netns <tag><node>p<j> and wire it with the real CNI
        plugin (ADD run inside the node). Returns the Pod."""
        self._check_open()
        node = self.node(node)
        pod_id = f"{node.name}p{next(node._pod_seq)}"
        pod = Pod(self, node, pod_id, name or pod_id, namespace, labels)
        ip_batch([f"netns add {pod.netns}"])
        try:
            ip_batch(["link set lo up"], netns=pod.netns)
            r = node.cni("ADD", pod.container_id, pod.path, pod.cni_args)
            if r.returncode != 0:
                raise SandboxError(f"CNI ADD of {pod.id} on {node.name} failed "
                                   f"(exit {r.returncode}): {r.stdout.strip()} {r.stderr.strip()}")
            result = json.loads(r.stdout)
        except BaseException:
            ip_batch([f"netns del {pod.netns}"], force=True)
            raise
        pod = Pod(self, node, pod_id, pod.name, namespace, labels, result)
        node.pods.append(pod)
        self.pods.append(pod)
        if save:
            self.save()
        return pod

    def delete_pod(self, pod):
        """CNI DEL (inside the node), then remove the pod netns."""
        self._check_open()
        if isinstance(pod, str):
            pod = self.pod(pod)
        r = pod.node.cni("DEL", pod.container_id, pod.path, pod.cni_args)
        if r.returncode != 0:
            raise SandboxError(f"CNI DEL of {pod.id} failed (exit {r.returncode}): "
                               f"{r.stdout.strip()} {r.stderr.strip()}")
        for p in pids_in_netns([pod.netns]):
            _Proc(p).signal(signal.SIGKILL)
        ip_batch([f"netns del {pod.netns}"], force=True)
        pod.node.pods.remove(pod)
        self.pods.remove(pod)
        self.save()

    # -- agents ------------------------------------------------------------
    def start_agent(self, node):
        """Start xdpathd in a node (native/vxlan) and wait until it is ready."""
        node = self.node(node)
        self._launch_agent(node)
        self._wait_ready(node)
        self.save()
        return node.agent

    def _launch_agent(self, node):
        self._check_open()
        if self.mode == "routes":
            raise SandboxError("routes mode runs no agent")
        if self.agent_running(node):
            raise SandboxError(f"the agent of {node.name} already runs (pid {node.agent.pid})")
        if not os.access(self.agent_bin, os.X_OK):
            raise SandboxError(f"{self.agent_bin} is missing")
        ensure_bpffs()
        node.datapath = True
        _write_json(node.cni_conf_path, node.cni_conf())
        _write_json(node.agent_config_path, node.agent_config())
        with open(node.agent_log, "ab") as log:
            log.write(f"--- sandbox: starting {self.agent_bin} at {time.ctime()}\n".encode())
            log.flush()
            p = subprocess.Popen(node.argv(self.agent_bin, "--config", node.agent_config_path,
                                           bpffs=True),
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True)
        # nsenter, unshare and sh all exec in place: p.pid is the agent itself.
        node.agent = _Proc(p.pid, popen=p)

    def _ready(self, node):
        if os.access(self.ctl_bin, os.X_OK):
            try:
                r = run([self.ctl_bin, "--socket", node.socket, "status", "-o", "json"],
                        check=False, timeout=2)
            except subprocess.TimeoutExpired:
                return False
            if r.returncode != 0:
                return False
            try:
                return json.loads(r.stdout).get("ready") is True
            except (ValueError, AttributeError):
                return False
        # No xdpathctl: a socket that accepts connections is all we can check.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(node.socket)
                return True
            except OSError:
                return False

    def _wait_ready(self, node):
        end = time.monotonic() + self.ready_timeout
        while True:
            if not node.agent.alive():
                raise SandboxError(f"the agent of {node.name} exited (status "
                                   f"{node.agent.returncode}) before it was ready\n"
                                   f"{self.agent_log_tail(node)}")
            if self._ready(node):
                return
            if time.monotonic() > end:
                node.agent.signal(signal.SIGKILL)
                node.agent.wait(5)
                raise SandboxError(f"the agent of {node.name} was not ready within "
                                   f"{self.ready_timeout:g} s\n{self.agent_log_tail(node)}")
            time.sleep(READY_POLL)

    def agent_log_tail(self, node, lines=30):
        node = self.node(node)
        try:
            with open(node.agent_log, errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
        except OSError:
            tail = ["(no log)"]
        return f"--- {node.agent_log} (last {lines} lines):\n" + "\n".join(tail)

    def agent_running(self, node):
        node = self.node(node)
        return node.agent is not None and node.agent.alive()

    def kill_agent(self, node, sig=signal.SIGKILL, timeout=10):
        """Signal a node's agent and return once the process is gone."""
        node = self.node(node)
        if node.agent is None:
            raise SandboxError(f"{node.name} has no agent")
        node.agent.signal(sig)
        if not node.agent.wait(timeout):
            raise SandboxError(f"the agent of {node.name} (pid {node.agent.pid}) is still "
                               f"running {timeout} s after signal {sig}")
        self.save()
        return node.agent.returncode

    # -- state -------------------------------------------------------------
    def describe(self):
        return {"tag": self.tag, "mode": self.mode, "owner": self.owner,
                "stateDir": self.state_dir,
                "underlay": {"netns": self.underlay.netns, "bridge": "br0",
                             "subnets": ["10.200.0.0/24", "fd00:200::/64"]},
                "clusterCIDRs": [CLUSTER4, CLUSTER6],
                "external": self.external.describe(),
                "nodes": [n.describe() for n in self.nodes],
                "pods": [p.describe() for p in self.pods],
                **({"agentExtra": self.agent_extra} if self.agent_extra else {})}

    def save(self):
        if not self.closed:
            _write_json(state_file(self.tag), self.describe())

    @classmethod
    def attach(cls, tag):
        """A Cluster object for a running cluster of another process (from its
        state file). close() on it tears the cluster down."""
        check_tag(tag)
        try:
            with open(state_file(tag)) as f:
                st = json.load(f)
        except (OSError, ValueError) as e:
            raise SandboxError(f"no cluster {tag}: {e}") from None
        c = cls.__new__(cls)
        c.tag, c.mode, c.owner = tag, st["mode"], st.get("owner")
        c.state_dir = st["stateDir"]
        c.plugin, c.agent_bin, c.ctl_bin = PLUGIN, AGENT, CTL
        c.log_level, c.ready_timeout, c.closed, c.detached = "info", READY_TIMEOUT, False, True
        c.agent_extra = dict(st.get("agentExtra") or {})
        c.underlay = Netns(c, st["underlay"]["netns"])
        c.external = External(c)
        c.nodes = []
        for nd in st["nodes"]:
            n = Node(c, int(nd["name"][1:]))
            n.datapath = nd.get("datapath", False)
            if nd.get("agent"):
                n.agent = _Proc(nd["agent"]["pid"], start=nd["agent"].get("start"))
            c.nodes.append(n)
        c.pods = []
        for pd in st["pods"]:
            n = c.node(pd["node"])
            res = {"ips": [{"address": a} for a in (pd["ip4"], pd["ip6"]) if a],
                   "interfaces": [{"name": pd["hostVeth"]}] if pd.get("hostVeth") else []}
            p = Pod(c, n, pd["id"], pd["name"], pd["namespace"], pd.get("labels"), res)
            n.pods.append(p)
            c.pods.append(p)
        for n in c.nodes:
            last = max([int(p.id.split("p")[1]) for p in n.pods], default=0)
            n._pod_seq = itertools.count(last + 1)
        return c

    def detach(self):
        """Leave the cluster up when this process exits or the with block
        ends (CLI `up`); close() or `down` still remove it."""
        self.detached = True
        _live.discard(self)
        self.save()

    def _check_open(self):
        if self.closed:
            raise SandboxError(f"cluster {self.tag} is torn down")

    def close(self):
        """Tear down: agents, processes in the namespaces, pin roots, netns,
        state dir, state file. Idempotent."""
        if self.closed:
            return None
        self.closed = True
        _live.discard(self)
        agents = [n.agent for n in self.nodes if n.agent is not None]
        return _cleanup(self.tag, agents, [self.state_dir] if self.state_dir else [])

    teardown = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.detached:
            self.close()
        return False

    def __repr__(self):
        return (f"<Cluster {self.tag} {self.mode} {len(self.nodes)} nodes "
                f"{len(self.pods)} pods{' closed' if self.closed else ''}>")


# --------------------------------------------------------------------------
# CLI

def _cmd_up(a):
    c = Cluster(nodes=a.nodes, pods=a.pods, mode=a.mode, tag=a.tag,
                agent=False if a.no_agent else None)
    print(json.dumps(c.describe(), indent=2), flush=True)
    if not a.wait:
        c.detach()
        return 0

    def stop(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        c.close()
    return 0


def _cmd_down(a):
    print(json.dumps(down(a.tag), indent=2))
    return 0


def _cmd_show(a):
    with open(state_file(check_tag(a.tag))) as f:
        sys.stdout.write(f.read())
    return 0


def _cmd_exec(a):
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        raise SandboxError("exec: no command (… exec --tag T n1p1 -- cmd args)")
    try:
        ns = Cluster.attach(a.tag).target(a.target).netns
    except SandboxError:
        # No state file (crashed before saving?): resolve by name alone.
        ns = {"x": f"{a.tag}x", "external": f"{a.tag}x", "u": f"{a.tag}u",
              "underlay": f"{a.tag}u"}.get(a.target, a.tag + a.target)
        if ns not in tag_netns(a.tag):
            raise
    os.execvp("ip", netns_argv(ns, *cmd))


def main(argv=None):
    p = argparse.ArgumentParser(prog="sandbox.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build a cluster, print its JSON description")
    up.add_argument("--nodes", type=int, default=2)
    up.add_argument("--pods", type=int, default=2, help="pods per node")
    up.add_argument("--mode", choices=MODES, default="routes")
    up.add_argument("--tag", help="name prefix (default xs<pid><n>)")
    up.add_argument("--no-agent", action="store_true", help="native/vxlan without xdpathd")
    up.add_argument("--wait", action="store_true",
                    help="stay in the foreground; tear down on SIGINT/SIGTERM")
    up.set_defaults(fn=_cmd_up)
    dn = sub.add_parser("down", help="remove everything of a tag (also after a crash)")
    dn.add_argument("--tag", required=True)
    dn.set_defaults(fn=_cmd_down)
    sh = sub.add_parser("show", help="print a running cluster's description")
    sh.add_argument("--tag", required=True)
    sh.set_defaults(fn=_cmd_show)
    ex = sub.add_parser("exec", help="run a command in n<i>, n<i>p<j>, a pod name, x, u")
    ex.add_argument("--tag", required=True)
    ex.add_argument("target")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    ex.set_defaults(fn=_cmd_exec)
    a = p.parse_args(argv)
    try:
        return a.fn(a)
    except (SandboxError, CommandError, OSError) as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
