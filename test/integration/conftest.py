"""Shared fixtures for the integration tests: a throwaway "node" network
namespace where the plugin runs, pod namespaces, and a helper that invokes the
real plugin binary exactly the way a container runtime does (env vars + stdin).

Nothing here touches the machine's own interfaces or sysctls: the plugin runs
inside the node namespace, and every namespace, directory and name carries a
per-run unique tag. Everything is removed at fixture teardown, pass or fail."""
import itertools
import json
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLUGIN = os.path.join(ROOT, "build", "bin", "xdpath")
REF_CNI_PATH = "/usr/lib/cni"
RUN = "%05d" % (os.getpid() % 100000)
_seq = itertools.count()


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

    def __repr__(self):
        return f"Result(rc={self.rc}, stdout={self.stdout!r}, stderr={self.stderr!r})"


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
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        self.pods.append(ns)
        return f"/run/netns/{ns}"

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

    # -- the plugin --------------------------------------------------------
    def cni(self, command, conf, cid=None, netns=None, ifname="eth0", args=None, env=None,
            plugin=PLUGIN, raw=None, timeout=60):
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
        stdin = raw if raw is not None else json.dumps(conf)
        cmd = ["ip", "netns", "exec", self.ns, "env", "-i"] + [f"{k}={v}" for k, v in e.items()]
        proc = subprocess.run(cmd + [plugin], input=stdin, capture_output=True, text=True,
                              timeout=timeout)
        return Result(proc)

    def add(self, conf, cid, netns, ifname="eth0", **kw):
        r = self.cni("ADD", conf, cid, netns, ifname, **kw)
        assert r.rc == 0, r
        return r.json

    def reservations(self, network="xdpnet"):
        d = os.path.join(self.data_dir, network)
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d)
                      if f not in ("lock", "attachments") and not f.startswith("last_reserved"))

    def endpoint_records(self):
        if not os.path.isdir(self.ep_dir):
            return []
        return sorted(os.listdir(self.ep_dir))

    def host_veths(self):
        return [l for l in self.links() if l.startswith("xdp")]

    def destroy(self):
        for ns in list(self.pods):
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def node():
    n = Node()
    try:
        yield n
    finally:
        n.destroy()


def with_prev(conf, result):
    c = dict(conf)
    c["prevResult"] = result
    return c
