"""Shared fixtures for the integration tests: a throwaway "node" network
namespace where the plugin runs, pod namespaces, and a helper that invokes the
real plugin binary exactly the way a container runtime does (env vars + stdin).

Nothing here touches the machine's own interfaces or sysctls: the plugin runs
inside the node namespace, and every namespace, directory and name carries a
per-run unique tag. Everything is removed at fixture teardown, pass or fail.
All addresses used by the tests are in 10.9x.0.0/16 or fd00:9x::/64 and only
ever exist inside namespaces the tests created."""
import ipaddress
import itertools
import json
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLUGIN = os.path.join(ROOT, "build", "bin", "xdpath")
CNIDRV = os.path.join(ROOT, "build", "test", "cnidrv")
REF_CNI_PATH = "/usr/lib/cni"
PY = "/usr/bin/python3"  # the system Python, also used inside pods
RUN = "%05d" % (os.getpid() % 100000)
_seq = itertools.count()

GW4, GW6 = "169.254.1.1", "fe80::1"
# The plugin's own files in <dataDir>/<network>/ that are not reservations.
STORE_META = ("lock", "attachments")


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        pytest.exit("integration tests need root (network namespaces, veth)", returncode=1)
    if not os.access(PLUGIN, os.X_OK):
        pytest.exit(f"{PLUGIN} is missing: run `make` first", returncode=1)


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.json = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            self.json = None

    @property
    def code(self):
        return self.json.get("code") if self.json and self.rc != 0 else None

    @property
    def text(self):
        """msg and details of an error, for message checks."""
        if not self.json:
            return ""
        return f"{self.json.get('msg', '')}: {self.json.get('details', '')}"

    def __repr__(self):
        return f"Result(rc={self.rc}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def ips_of(result, family=None):
    """Addresses (without prefix) from a result, optionally of one family (4/6)."""
    out = []
    for ip in result["ips"]:
        a = ipaddress.ip_interface(ip["address"]).ip
        if family in (None, a.version):
            out.append(str(a))
    return out


def ip_of(result, family=4):
    addrs = ips_of(result, family)
    assert len(addrs) == 1, result
    return addrs[0]


class Node:
    """A throwaway node: a netns where the plugin runs, with private state dirs."""

    def __init__(self):
        self.tag = f"xdpt{RUN}{next(_seq):03d}"
        self.ns = self.tag + "n"
        self.dir = tempfile.mkdtemp(prefix=self.tag + "-")
        self.data_dir = os.path.join(self.dir, "ipam")
        self.ep_dir = os.path.join(self.dir, "endpoints")
        self.pods = []
        sh("ip", "netns", "add", self.ns)
        self.run("ip", "link", "set", "lo", "up")

    # -- namespaces --------------------------------------------------------
    def pod(self, name):
        """Create a pod netns; returns its path (the runtime's CNI_NETNS)."""
        ns = f"{self.tag}{name}"
        sh("ip", "netns", "add", ns)
        self.pods.append(ns)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        return f"/run/netns/{ns}"

    def many_pods(self, names):
        """Create many pod netns in one `ip -batch` (lo stays down)."""
        nss = [f"{self.tag}{name}" for name in names]
        self.pods.extend(nss)
        _batch([f"netns add {ns}" for ns in nss])
        return [f"/run/netns/{ns}" for ns in nss]

    def del_pod(self, netns_path):
        ns = os.path.basename(netns_path)
        sh("ip", "netns", "del", ns, check=False)
        if ns in self.pods:
            self.pods.remove(ns)

    def run(self, *args, check=True, **kw):
        return sh("ip", "netns", "exec", self.ns, *args, check=check, **kw)

    def in_pod(self, netns_path, *args, check=True, **kw):
        return sh("ip", "netns", "exec", os.path.basename(netns_path), *args, check=check, **kw)

    def links(self):
        out = self.run("ip", "-j", "link", "show").stdout
        return [l["ifname"] for l in json.loads(out)]

    def link(self, name, netns=None):
        """`ip -j -d link show dev NAME` in the node (or in the pod netns)."""
        cmd = ("ip", "-j", "-d", "link", "show", "dev", name)
        out = (self.in_pod(netns, *cmd) if netns else self.run(*cmd)).stdout
        return json.loads(out)[0]

    def sysctl(self, key):
        """A sysctl as the node netns sees it, e.g. 'net/ipv4/conf/X/rp_filter'."""
        return self.run("cat", f"/proc/sys/{key}").stdout.strip()

    def ping(self, addr, netns=None, wait=3):
        """True if one echo reply comes back within `wait` s (from the pod
        netns, or from the node when netns is None)."""
        cmd = ("ping", "-n", "-c1", "-i0.2", f"-w{wait}", addr)
        r = self.in_pod(netns, *cmd, check=False) if netns else self.run(*cmd, check=False)
        return r.returncode == 0

    # -- configs -----------------------------------------------------------
    def conf(self, version="1.1.0", ranges=None, name=None, **extra):
        c = {
            "cniVersion": version,
            "name": name or "xdpnet",
            "type": "xdpath",
            "endpointDir": self.ep_dir,
            "ipam": {
                "type": "xdpath",
                "dataDir": self.data_dir,
                "ranges": ranges or [[{"subnet": "10.91.0.0/24"}]],
            },
        }
        c.update(extra)
        return c

    def dual_conf(self, **kw):
        return self.conf(ranges=[[{"subnet": "10.91.0.0/24"}], [{"subnet": "fd00:91::/64"}]],
                         **kw)

    # -- the plugin --------------------------------------------------------
    def cni_argv(self, command, cid=None, netns=None, ifname="eth0", args=None, env=None,
                 plugin=PLUGIN):
        """The command line that runs the plugin in the node netns with exactly
        the given CNI_* variables (env -i), as a runtime would. `ip netns exec`
        and `env` exec in place, so the process is the plugin itself."""
        e = {"CNI_COMMAND": command, "CNI_PATH": REF_CNI_PATH, "PATH": os.environ["PATH"]}
        if cid is not None:
            e["CNI_CONTAINERID"] = cid
        if netns is not None:
            e["CNI_NETNS"] = netns
        if ifname is not None:
            e["CNI_IFNAME"] = ifname
        if args is not None:
            e["CNI_ARGS"] = args
        if env:
            e.update(env)
        e = {k: v for k, v in e.items() if v is not None}
        return (["ip", "netns", "exec", self.ns, "env", "-i"] +
                [f"{k}={v}" for k, v in e.items()] + [plugin])

    def cni(self, command, conf, cid=None, netns=None, ifname="eth0", args=None, env=None,
            plugin=PLUGIN, raw=None, timeout=60):
        stdin = raw if raw is not None else json.dumps(conf)
        cmd = self.cni_argv(command, cid, netns, ifname, args, env, plugin)
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                              timeout=timeout)
        return Result(proc)

    def spawn(self, command, conf, cid=None, netns=None, ifname="eth0", **kw):
        """Start the plugin without waiting; stdin is written and closed.
        Collect with `finish(proc)`."""
        p = subprocess.Popen(self.cni_argv(command, cid, netns, ifname, **kw),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            p.stdin.write(json.dumps(conf))
            p.stdin.close()
        except BrokenPipeError:  # killed before it read its config
            pass
        p.stdin = None  # closed: communicate() must not flush it
        return p

    @staticmethod
    def finish(proc, timeout=120):
        out, err = proc.communicate(timeout=timeout)
        return Result(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))

    def add(self, conf, cid, netns, ifname="eth0", **kw):
        r = self.cni("ADD", conf, cid, netns, ifname, **kw)
        assert r.rc == 0, r
        return r.json

    def delete(self, conf, cid, netns, ifname="eth0", **kw):
        r = self.cni("DEL", conf, cid, netns, ifname, **kw)
        assert r.rc == 0, r

    # -- state -------------------------------------------------------------
    def store_dir(self, network="xdpnet"):
        return os.path.join(self.data_dir, network)

    def reservations(self, network="xdpnet"):
        d = self.store_dir(network)
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d)
                      if f not in STORE_META and not f.startswith("last_reserved"))

    def attachment_records(self, network="xdpnet"):
        """IPAM's per-attachment records (<dataDir>/<network>/attachments/*).
        `.tmp` is the store's one shared scratch file (rewritten under the
        lock, swept by GC); an ADD killed while writing it leaves it behind."""
        d = os.path.join(self.store_dir(network), "attachments")
        return sorted(f for f in os.listdir(d) if f != ".tmp") if os.path.isdir(d) else []

    def endpoint_records(self):
        if not os.path.isdir(self.ep_dir):
            return []
        return sorted(os.listdir(self.ep_dir))

    def endpoint_record(self, cid, ifname="eth0"):
        with open(os.path.join(self.ep_dir, f"{cid}:{ifname}.json")) as f:
            return json.load(f)

    def host_veths(self):
        return [l for l in self.links() if l.startswith("xdp")]

    def leftovers(self, network="xdpnet"):
        """Everything an attachment can leave behind; all empty when clean."""
        return {"host veths": self.host_veths(),
                "reservations": self.reservations(network),
                "attachment records": self.attachment_records(network),
                "endpoint records": self.endpoint_records()}

    def assert_clean(self, network="xdpnet"):
        left = self.leftovers(network)
        assert not any(left.values()), f"left behind: {left}"

    def destroy(self):
        _batch([f"netns del {ns}" for ns in self.pods] + [f"netns del {self.ns}"])
        shutil.rmtree(self.dir, ignore_errors=True)


def _batch(lines):
    """Run `ip` commands in one process; -force keeps going past errors."""
    if lines:
        subprocess.run(["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, check=False)


@pytest.fixture
def node():
    n = Node()
    try:
        yield n
    finally:
        n.destroy()


@pytest.fixture(scope="session")
def cnidrv():
    """The libcni driver, built on first use (offline, about 1 s)."""
    if not os.access(CNIDRV, os.X_OK):
        sh("make", "-C", ROOT, "build/test/cnidrv")
    return CNIDRV


def with_prev(conf, result):
    c = dict(conf)
    c["prevResult"] = result
    return c
