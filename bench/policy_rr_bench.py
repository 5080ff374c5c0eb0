#!/usr/bin/python3
"""NetworkPolicy pod-to-pod request/response latency against the number of
allow entries: xdpath (BPF policy maps) against iptables baselines enforcing
the same allow-list (a linear chain, and an ipset), all measured in one run,
interleaved. Same node: client n1p1 -> server n1p2, sockperf TCP ping-pong.

Setups (each its own one-node sandbox cluster with two pods, all built before
the first measurement; N = BENCH_POL_SIZES):

  xdpath-off   -  sandbox "native", agent without policyDir (nothing enforced)
  xdpath       N  sandbox "native", agent with a policyDir holding the Namespace
                  and Pod manifests and one NetworkPolicy that isolates the
                  server (ingress) and allows the client on TCP SOCKPERF_PORT;
                  then N filler allow entries written straight into the pinned
                  xdp_policy map (and their identities into xdp_ipcache) by
                  `policy_prog_bench --fill` (fake identities and endpoints the
                  agent does not know; the agent only deletes its own keys
                  after its first apply: the counts are checked after the
                  fill and again after the measurements)
  host-routed  -  sandbox "routes" (no BPF, the node netns forwards), no rules
  iptables     N  "routes" + in the node netns: FORWARD -j XDPB-POL; XDPB-POL =
                  N non-matching `-s <fake ip> -p tcp --dport <port> -j ACCEPT`,
                  then client -> server:port ACCEPT, server:port -> client
                  ACCEPT, then DROP (loaded with iptables-restore)
  ipset        N  "routes" + one hash:ip,port,ip set of N filler entries
                  (fake source, tcp/udp:port, server or another fake pod) plus
                  (client, tcp:port, server); FORWARD -j XDPB-POL; XDPB-POL =
                  `-m set --match-set S src,dst,dst` ACCEPT (requests),
                  `-m set --match-set S dst,src,src` ACCEPT (the same entry
                  read backwards: the server's replies), DROP

The iptables chains are evaluated for EVERY forwarded packet in both
directions: no conntrack ESTABLISHED/RELATED shortcut (the common way to make
iptables policy cheap), so they show what the allow-list itself costs per
packet. xdpath looks its policy up for new connections only; the rest of a
connection (and its replies) passes through xdpath's conntrack, as in every
kernel-conntrack-based implementation.

Enforcement is verified in every setup before it is measured: with the
servers up and before the policy or rules, the client reaches both the
sockperf port and a second port (BLOCKED_PORT); after them, sockperf still
runs (1 s) and BLOCKED_PORT is refused (for xdpath also counted as
policy_denied by the agent), and again after the xdpath filler is written.
A setup that fails these checks is not measured. After the runs, the xdpath
setups report their datapath verdicts (xdpathctl metrics: the packets went
redirect_peer, none was policy_denied) and that the filler is still intact.

sockperf client and server are pinned to one CPU (BENCH_POL_RR_CPU), as in
bench/datapath_bench.py (see there why). Each repeat runs every setup once
(order alternating between repeats); the table shows medians over repeats
and ratios: xdpath against xdpath N=0 (and xdpath-off), iptables and ipset
against host-routed. The issue's target (xdpath at the largest N within
+10% of N=0) is printed as PASS/MISS; exit status 0 either way, 1 only if a
setup could not be measured at all.

Environment:
  BENCH_POL_SIZES       allow entries, e.g. "0,100,10000,100000" (the default)
  BENCH_POL_REPEATS     repeats (default 5)
  BENCH_POL_SECONDS     seconds per sockperf run (default 5)
  BENCH_POL_MSG         sockperf message size (default 64)
  BENCH_POL_RR_CPU      CPU list for both sockperf ends (taskset -c), "none" to unpin
  BENCH_POL_ONLY        families to run, e.g. "xdpath,iptables" (xdpath-off,
                        xdpath, host-routed, iptables, ipset)
  BENCH_POL_LINEAR_MAX  largest N for the linear iptables chain (default: no cap;
                        100 000 rules load in ~2 s with iptables-nft here)
  BENCH_POL_IPTABLES    iptables binary: "iptables" (default; nf_tables backend on
                        Debian 12) or "iptables-legacy"
  BENCH_POL_JSON        write every sample and the summary to this file

Everything (iptables rules, ipsets, servers, BPF pins) lives in the sandbox
clusters' namespaces and pin roots; the rules and sets are flushed and
destroyed in their node netns before the clusters are torn down, on exit, on
exceptions, on Ctrl-C and on SIGTERM/SIGHUP. Nothing runs in the root netns
but `ipset list -n` (read only: the root's set names must be the same at the
end) and policy_prog_bench --fill/--count on the clusters' pins.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402


def sizes_env():
    raw = os.environ.get("BENCH_POL_SIZES", "0,100,10000,100000")
    try:
        v = sorted({int(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        raise SystemExit(f"BENCH_POL_SIZES: bad list {raw!r}") from None
    if not v or v[0] < 0:
        raise SystemExit(f"BENCH_POL_SIZES: bad list {raw!r}")
    return v


SIZES = sizes_env()
REPEATS = int(os.environ.get("BENCH_POL_REPEATS", "5"))
SECONDS = int(os.environ.get("BENCH_POL_SECONDS", "5"))
MSG = int(os.environ.get("BENCH_POL_MSG", "64"))
RR_CPU = os.environ.get("BENCH_POL_RR_CPU", str(min(os.sched_getaffinity(0))))
FAMILIES = ("xdpath-off", "xdpath", "host-routed", "iptables", "ipset")
ONLY = [s.strip() for s in os.environ.get("BENCH_POL_ONLY", "").split(",") if s.strip()]
LINEAR_MAX = int(os.environ.get("BENCH_POL_LINEAR_MAX", "0") or 0) or None
IPTABLES = os.environ.get("BENCH_POL_IPTABLES", "iptables")
JSON_OUT = os.environ.get("BENCH_POL_JSON")

PROG = os.path.join(ROOT, "build", "bench", "policy_prog_bench")
SOCKPERF_PORT, BLOCKED_PORT = 11111, 11112
CHAIN = "XDPB-POL"
IPSET = "xdpb-allow"
LISTEN_TIMEOUT = 5.0
ENFORCE_TIMEOUT = 10.0
CLIENT_TRIES = 3
LOAD_TIMEOUT = 900

TCP_CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.0).close()
except OSError as e:
    print(e); sys.exit(1)
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Setup:
    def __init__(self, family, n):
        self.family, self.n = family, n
        self.key = family if n is None else f"{family}/{n}"
        self.cluster = self.client = self.server = None
        self.error = None
        self.notes = []              # load times, filler counts, checks
        self.load_s = None           # rules / set / filler load time
        self.filler = {}             # xdpath: counts after the fill and at the end
        self.rtt50, self.rtt_avg, self.rtt99 = [], [], []
        self.failures = []

    @property
    def ready(self):
        return self.error is None and self.client is not None


def selected():
    bad = [f for f in ONLY if f not in FAMILIES]
    if bad:
        raise SystemExit(f"BENCH_POL_ONLY: unknown {bad}; known: {list(FAMILIES)}")
    fams = [f for f in FAMILIES if not ONLY or f in ONLY]
    out, capped = [], []
    for f in fams:
        if f in ("xdpath-off", "host-routed"):
            out.append(Setup(f, None))
            continue
        for n in SIZES:
            if f == "iptables" and LINEAR_MAX is not None and n > LINEAR_MAX:
                capped.append(n)
                continue
            out.append(Setup(f, n))
    return out, capped


# --------------------------------------------------------------------------
# processes in the pods

class Procs:
    def __init__(self, work):
        self.work = work
        self.procs = []

    def popen(self, ns, *cmd):
        path = os.path.join(self.work, f"{ns.netns}-{len(self.procs)}.log")
        with open(path, "wb") as out:
            p = subprocess.Popen(ns.argv(*cmd), stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        p.log = path
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        self.procs = []


def rr_pin():
    return [] if RR_CPU == "none" else ["taskset", "-c", RR_CPU]


def wait_listen(ns, ip, port, proc):
    end = time.monotonic() + LISTEN_TIMEOUT
    while time.monotonic() < end:
        if proc.poll() is not None:
            with open(proc.log, errors="replace") as f:
                raise sandbox.SandboxError(f"server in {ns.netns} exited: {f.read()[-500:]}")
        if ns.exec("ss", "-Hltn", "src", f"{ip}:{port}", check=False).stdout.strip():
            return
        time.sleep(0.05)
    raise sandbox.SandboxError(f"nothing listens on {ip}:{port} in {ns.netns}")


def start_servers(procs, s):
    ip = s.server.ip4
    rr = procs.popen(s.server, *rr_pin(), "sockperf", "server", "--tcp", "-i", ip,
                     "-p", SOCKPERF_PORT)
    other = procs.popen(s.server, "sockperf", "server", "--tcp", "-i", ip, "-p", BLOCKED_PORT)
    wait_listen(s.server, ip, SOCKPERF_PORT, rr)
    wait_listen(s.server, ip, BLOCKED_PORT, other)


def connects(s, port):
    r = s.client.exec("python3", "-c", TCP_CONNECT, s.server.ip4, port, check=False,
                      timeout=10)
    return r.returncode == 0


def eventually(cond, what, timeout=ENFORCE_TIMEOUT):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise sandbox.SandboxError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def sockperf(s, seconds):
    """(p50, average, p99) round trip in µs of one ping-pong run."""
    last = ""
    for _ in range(CLIENT_TRIES):
        r = s.client.exec(*rr_pin(), "sockperf", "ping-pong", "--tcp", "--full-rtt",
                          "-i", s.server.ip4, "-p", SOCKPERF_PORT, "-t", seconds, "-m", MSG,
                          check=False, timeout=seconds + 30)
        out = ANSI.sub("", r.stdout + r.stderr)
        avg = re.search(r"Summary: Round trip is ([\d.]+) usec", out)
        p50 = re.search(r"percentile 50\.000 =\s*([\d.]+)", out)
        p99 = re.search(r"percentile 99\.000 =\s*([\d.]+)", out)
        if r.returncode == 0 and avg and p50 and p99:
            return float(p50.group(1)), float(avg.group(1)), float(p99.group(1))
        last = out.strip()[-300:]
        time.sleep(0.5)
    raise sandbox.SandboxError(f"sockperf {s.key}: {last}")


# --------------------------------------------------------------------------
# enforcement checks

def check_open(s):
    """Before any policy: both ports reachable (the servers listen, nothing
    else in the way), so a refused BLOCKED_PORT later is the policy's doing."""
    eventually(lambda: connects(s, SOCKPERF_PORT), f"{s.key}: client -> sockperf port")
    if not connects(s, BLOCKED_PORT):
        raise sandbox.SandboxError(f"{s.key}: client cannot reach port {BLOCKED_PORT} "
                                   "before any policy")


def check_enforced(s, when, rr=True):
    eventually(lambda: not connects(s, BLOCKED_PORT),
               f"{s.key}: port {BLOCKED_PORT} blocked {when}")
    if not connects(s, SOCKPERF_PORT):
        raise sandbox.SandboxError(f"{s.key}: sockperf port refused {when}")
    if rr:
        sockperf(s, 1)
    s.notes.append(f"enforces {when}: {'sockperf ok, ' if rr else ''}port {BLOCKED_PORT} "
                   "blocked")


# --------------------------------------------------------------------------
# xdpath

def ctl(node, *args):
    r = sandbox.run([node.cluster.ctl_bin, "--socket", node.socket, *args, "-o", "json"],
                    timeout=10)
    return json.loads(r.stdout)


def denied(node):
    return ctl(node, "metrics")["drops"]["policy_denied"]["packets"]


def verdicts(s):
    """{forward verdict or policy_denied: packets} from xdpathctl metrics, or None."""
    try:
        m = ctl(s.cluster.nodes[0], "metrics")
        out = {k: v["packets"] for k, v in m["forward"].items()}
        out["policy_denied"] = m["drops"]["policy_denied"]["packets"]
        return out
    except (sandbox.SandboxError, subprocess.SubprocessError, ValueError, KeyError):
        return None


def write_json(d, name, obj):
    tmp = os.path.join(d, f".{name}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, os.path.join(d, name))   # one inotify event, never half a file


def labels(pod):
    return dict(pod.labels) or {"app": pod.id}


def write_pods(d, c):
    """Namespace and Pod manifests: the agent denies endpoints it has no Pod
    for (fail closed), so these come first, without any NetworkPolicy."""
    write_json(d, "ns-default.json", {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "default", "labels": {"kubernetes.io/metadata.name": "default"}}})
    for p in c.pods:
        ips = [ip for ip in (p.ip4, p.ip6) if ip]
        write_json(d, f"pod-{p.name}.json", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": labels(p)},
            "spec": {"nodeName": p.node.name},
            "status": {"podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]}})


def write_netpol(d, server, client):
    write_json(d, "np-bench.json", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "bench-allow-client", "namespace": server.namespace},
        "spec": {"podSelector": {"matchLabels": labels(server)}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {"matchLabels": labels(client)}}],
                              "ports": [{"protocol": "TCP", "port": SOCKPERF_PORT}]}]}})


def prog_count(node):
    r = sandbox.run([PROG, "--count", node.pin_root], timeout=120)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", r.stdout)}


def build_xdpath(stack, procs, work, s):
    policy = s.family == "xdpath"
    extra = {}
    if policy:
        d = tempfile.mkdtemp(prefix="policy-", dir=work)
        os.chmod(d, 0o755)
        extra = {"policyDir": d}
    c = stack.enter_context(sandbox.Cluster(nodes=1, pods=2, mode="native", agent=True,
                                            agent_extra=extra))
    s.cluster = c
    node = c.nodes[0]
    s.client, s.server = node.pods
    start_servers(procs, s)

    def loaded(policies):
        st = ctl(node, "policy", "list")["stats"]
        return st["pods"] == 2 and st["policies"] == policies

    if policy:
        write_pods(extra["policyDir"], c)
        eventually(lambda: loaded(0), f"{s.key}: the agent loaded the Pod manifests")
    check_open(s)
    if not policy:
        s.notes.append(f"no policy: port {BLOCKED_PORT} reachable (checked)")
        return
    write_netpol(extra["policyDir"], s.server, s.client)
    eventually(lambda: loaded(1), f"{s.key}: the agent loaded the NetworkPolicy")
    d0 = denied(node)
    check_enforced(s, "after the NetworkPolicy", rr=False)   # sockperf: after the filler
    if denied(node) <= d0:
        raise sandbox.SandboxError(f"{s.key}: blocked connects were not counted as "
                                   "policy_denied")
    before = prog_count(node)
    t0 = time.monotonic()
    if s.n:
        r = sandbox.run([PROG, "--fill", node.pin_root, s.n, s.server.ip4], timeout=600)
        s.notes.append(r.stdout.strip())
    s.load_s = time.monotonic() - t0
    after = prog_count(node)
    want_ipc = (s.n + 3) // 4
    if after.get("policy_filler") != s.n or after.get("ipcache_filler") != want_ipc:
        raise sandbox.SandboxError(f"{s.key}: filler not in the maps: {after}")
    s.filler = {"agentEntries": before, "afterFill": after}
    s.notes.append(f"maps after the fill: xdp_policy {after['policy']} entries "
                   f"({after['policy_filler']} filler), xdp_ipcache {after['ipcache']} "
                   f"({after['ipcache_filler']} filler)")
    check_enforced(s, "after the filler")


# --------------------------------------------------------------------------
# iptables / ipset in the node netns of a "routes" cluster

def fake_ip(i):
    """172.16.0.0/12 + i: no pod has these addresses."""
    a = 0xAC100000 + i
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


def fake_port(i):
    return 1024 + (i * 7919) % 60000


def linear_rules(s):
    c, sv = s.client.ip4, s.server.ip4
    lines = ["*filter", f":{CHAIN} - [0:0]", f"-A FORWARD -j {CHAIN}"]
    lines += [f"-A {CHAIN} -s {fake_ip(i)}/32 -p tcp -m tcp --dport {fake_port(i)} -j ACCEPT"
              for i in range(s.n)]
    lines += [f"-A {CHAIN} -s {c}/32 -d {sv}/32 -p tcp -m tcp --dport {SOCKPERF_PORT} -j ACCEPT",
              f"-A {CHAIN} -s {sv}/32 -d {c}/32 -p tcp -m tcp --sport {SOCKPERF_PORT} -j ACCEPT",
              f"-A {CHAIN} -j DROP", "COMMIT", ""]
    return "\n".join(lines)


def ipset_restore(s):
    c, sv = s.client.ip4, s.server.ip4
    maxelem = max(65536, 2 * (s.n + 1))
    lines = [f"create {IPSET} hash:ip,port,ip family inet hashsize 1024 maxelem {maxelem}"]
    for i in range(s.n):
        dst = sv if i % 2 else fake_ip(0x80000 + i // 2 % 4096)   # the server, other "pods"
        proto = "udp" if i % 4 == 2 else "tcp"
        lines.append(f"add {IPSET} {fake_ip(i)},{proto}:{fake_port(i)},{dst}")
    lines += [f"add {IPSET} {c},tcp:{SOCKPERF_PORT},{sv}", ""]
    return "\n".join(lines)


def ipset_rules():
    return "\n".join(["*filter", f":{CHAIN} - [0:0]", f"-A FORWARD -j {CHAIN}",
                      f"-A {CHAIN} -m set --match-set {IPSET} src,dst,dst -j ACCEPT",
                      f"-A {CHAIN} -m set --match-set {IPSET} dst,src,src -j ACCEPT",
                      f"-A {CHAIN} -j DROP", "COMMIT", ""])


def ipt_cleanup(node):
    """Rules and set out of the node netns (its deletion would remove them
    too: both are per netns)."""
    with contextlib.suppress(Exception):
        node.exec(f"{IPTABLES}-restore", input="*filter\n-F\n-X\nCOMMIT\n", check=False,
                  timeout=LOAD_TIMEOUT)
    with contextlib.suppress(Exception):
        node.exec("ipset", "destroy", IPSET, check=False, timeout=60)


def build_routes(stack, procs, s):
    c = stack.enter_context(sandbox.Cluster(nodes=1, pods=2, mode="routes"))
    s.cluster = c
    node = c.nodes[0]
    s.client, s.server = node.pods
    if s.family != "host-routed":
        stack.callback(ipt_cleanup, node)   # before the cluster goes (last in, first out)
    start_servers(procs, s)
    check_open(s)
    if s.family == "host-routed":
        s.notes.append(f"no rules: port {BLOCKED_PORT} reachable (checked)")
        return
    t0 = time.monotonic()
    if s.family == "iptables":
        node.exec(f"{IPTABLES}-restore", input=linear_rules(s), timeout=LOAD_TIMEOUT)
        s.load_s = time.monotonic() - t0
        s.notes.append(f"{s.n + 3} rules in {CHAIN} loaded in {s.load_s:.2f} s")
    else:
        node.exec("ipset", "restore", input=ipset_restore(s), timeout=LOAD_TIMEOUT)
        t1 = time.monotonic()
        node.exec(f"{IPTABLES}-restore", input=ipset_rules(), timeout=LOAD_TIMEOUT)
        s.load_s = time.monotonic() - t0
        n = node.exec("ipset", "list", IPSET, "-t").stdout
        m = re.search(r"Number of entries: (\d+)", n)
        if not m or int(m.group(1)) != s.n + 1:
            raise sandbox.SandboxError(f"{s.key}: set holds {m and m.group(1)} entries, "
                                       f"want {s.n + 1}")
        s.notes.append(f"set of {s.n + 1} entries loaded in {t1 - t0:.2f} s, rules in "
                       f"{time.monotonic() - t1:.2f} s")
    check_enforced(s, "after the rules")


# --------------------------------------------------------------------------
# report

def med(xs):
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fx(r, width=0):
    return (f"{r:.2f}x" if r is not None else "n/a").rjust(width)


def fmt(x, spec):
    return format(x, spec) if x is not None else "n/a"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def base_of(s, by):
    if s.family == "xdpath":
        return by.get("xdpath/0")
    if s.family in ("iptables", "ipset"):
        return by.get("host-routed")
    return None


def ipt_version():
    r = sandbox.run([IPTABLES, "--version"], check=False)
    return (r.stdout or r.stderr).strip() or "?"


def report(setups, capped, load, build_s, measure_s):
    by = {s.key: s for s in setups}
    print(f"\nPolicy RR benchmark: sockperf ping-pong --tcp --full-rtt -m {MSG} -t {SECONDS}, "
          f"{REPEATS} repeat(s), same node (n1p1 -> n1p2), one cluster per setup")
    pin = ("sockperf client and server pinned to CPU " + RR_CPU if RR_CPU != "none"
           else "sockperf unpinned")
    print(f"machine: {os.cpu_count()} CPUs, {pin}; load average {load[0]} at start, "
          f"{load[1]} at end; built in {build_s:.0f} s, measured in {measure_s:.0f} s")
    print(f"iptables: {IPTABLES} = {ipt_version()}; chains evaluated for every packet "
          "in both directions (no conntrack ESTABLISHED shortcut)")
    print("medians over repeats, [min-max] of p50 across repeats; base: xdpath N -> xdpath N=0, "
          "iptables/ipset N -> host-routed (no rules)")
    print(f"{'setup':<12} {'entries':>8} {'RR p50 us':>9} {'[min-max]':>15} {'x base':>7} "
          f"{'RR avg us':>9} {'x base':>7} {'p99 us':>8} {'load s':>7}")
    for s in setups:
        n = "-" if s.n is None else str(s.n)
        if s.error:
            print(f"{s.family:<12} {n:>8} not measured: {s.error}")
            continue
        b = base_of(s, by)
        r50, ravg = med(s.rtt50), med(s.rtt_avg)
        rng = f"[{min(s.rtt50):.1f}-{max(s.rtt50):.1f}]" if s.rtt50 else "n/a"
        print(f"{s.family:<12} {n:>8} {fmt(r50, '9.1f'):>9} {rng:>15} "
              f"{fx(ratio(r50, med(b.rtt50)) if b else None, 7)} {fmt(ravg, '9.1f'):>9} "
              f"{fx(ratio(ravg, med(b.rtt_avg)) if b else None, 7)} "
              f"{fmt(med(s.rtt99), '8.1f'):>8} {fmt(s.load_s, '7.2f'):>7}")
    if capped:
        print(f"iptables linear chain capped at BENCH_POL_LINEAR_MAX={LINEAR_MAX}: "
              f"not run for N={', '.join(map(str, capped))}")
    for s in setups:
        if s.failures:
            print(f"{s.key}: {len(s.failures)} failed run(s); first: {s.failures[0]}")

    print("\nat the same N (RR p50):")
    off = by.get("xdpath-off")
    for n in SIZES:
        x = by.get(f"xdpath/{n}")
        if not x:
            continue
        r_off = ratio(med(x.rtt50), med(off.rtt50)) if off else None
        parts = [f"xdpath/{n} vs xdpath-off {fx(r_off)}"]
        for f in ("iptables", "ipset"):
            o = by.get(f"{f}/{n}")
            if o:
                parts.append(f"vs {f} {fx(ratio(med(x.rtt50), med(o.rtt50)))}")
        print("  " + ", ".join(parts))

    print("\nsetups and checks:")
    for s in setups:
        what = s.notes or ([s.error] if s.error else [])
        print(f"  {s.key:<16} " + ("; ".join(what) if what else ""))
    print("  xdpath filler: fake identities 0x10000000+ with ipcache /32s in 172.16.0.0/12, "
          "half for the server's endpoint, half for 64 endpoints that do not exist, "
          "TCP/UDP ports, 16-port blocks, any-port (policy_prog_bench fill_key())")
    print("  ipset: one hash:ip,port,ip set; requests match (src ip, dst port, dst ip), "
          "replies the same entry read dst,src,src")

    targets = []
    print("\ntarget (exit status 0 either way):")
    top = max((n for n in SIZES if by.get(f"xdpath/{n}")), default=None)
    x0, xt = by.get("xdpath/0"), by.get(f"xdpath/{top}") if top is not None else None
    if x0 and xt and top:
        r = ratio(med(xt.rtt50), med(x0.rtt50))
        ra = ratio(med(xt.rtt_avg), med(x0.rtt_avg))
        verdict = "n/a" if r is None else ("PASS" if r <= 1.10 else "MISS")
        targets.append({"target": f"xdpath RR p50 at N={top} within 1.10x of N=0", "ratio": r,
                        "ratioAvg": ra, "limit": 1.10, "verdict": verdict})
        print(f"  {verdict:<4}  xdpath RR p50 N={top} / N=0 = {fx(r)} <= 1.10x "
              f"(avg: {fx(ra)})")
    else:
        print("  n/a (needs xdpath at N=0 and a larger N)")
    return targets


# --------------------------------------------------------------------------

def build(stack, procs, work, setups):
    for s in setups:
        t0 = time.monotonic()
        try:
            if s.family.startswith("xdpath"):
                build_xdpath(stack, procs, work, s)
            else:
                build_routes(stack, procs, s)
            log(f"  built {s.key:<16} in {time.monotonic() - t0:5.1f} s"
                + (f" (load {s.load_s:.2f} s)" if s.load_s is not None else ""))
        except Exception as e:   # one broken setup must not hide the others
            s.error = f"build failed: {str(e).strip().splitlines()[0][:300]}"
            log(f"setup {s.key} failed: {e}")


def root_ipsets():
    r = sandbox.run(["ipset", "list", "-n"], check=False)
    return sorted(r.stdout.split()) if r.returncode == 0 else None


def main():
    if os.geteuid() != 0:
        raise SystemExit("policy rr bench: needs root")
    for tool in ("sockperf", "ipset", f"{IPTABLES}-restore", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"policy rr bench: {tool} missing (scripts/install-deps.sh)")
    if not os.access(PROG, os.X_OK):
        raise SystemExit(f"policy rr bench: {PROG} missing (make build/bench/policy_prog_bench)")
    setups, capped = selected()

    def stop(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    sets0 = root_ipsets()
    work = tempfile.mkdtemp(prefix=f"xdpb-pol{os.getpid()}.")
    procs = Procs(work)
    load = ["?", "?"]
    with contextlib.ExitStack() as stack:   # unwinds last-in first-out
        stack.callback(shutil.rmtree, work, True)
        stack.callback(procs.close)   # if build() fails midway: after the clusters
        t0 = time.monotonic()
        log(f"policy rr bench: building {len(setups)} setups (sizes "
            f"{','.join(map(str, SIZES))})")
        build(stack, procs, work, setups)
        stack.callback(procs.close)   # normally: servers before the clusters
        build_s = time.monotonic() - t0
        live = [s for s in setups if s.ready]
        est = len(live) * REPEATS * (SECONDS + 2.5)   # sockperf starts in ~2 s
        log(f"policy rr bench: built {len(live)}/{len(setups)} setups in {build_s:.1f} s; "
            f"measuring ~{est / 60:.1f} min ({REPEATS} repeats x {len(live)} setups x "
            f"{SECONDS} s)")
        before = {s.key: verdicts(s) for s in live if s.family.startswith("xdpath")}
        load[0] = loadavg()
        t1 = time.monotonic()
        for rep in range(REPEATS):
            for s in (live if rep % 2 == 0 else live[::-1]):
                try:
                    p50, avg, p99 = sockperf(s, SECONDS)
                    s.rtt50.append(p50)
                    s.rtt_avg.append(avg)
                    s.rtt99.append(p99)
                except (sandbox.SandboxError, subprocess.TimeoutExpired) as e:
                    s.failures.append(str(e))
                    log(f"  FAILED {s.key}: {e}")
                log(f"[{rep + 1}/{REPEATS}] {s.key:<16} RR p50 "
                    f"{fmt(s.rtt50[-1] if s.rtt50 else None, '.1f')} us")
        measure_s = time.monotonic() - t1
        load[1] = loadavg()
        for s in live:   # the packets went through xdpath, none was denied
            if s.key in before:
                a, b = verdicts(s), before[s.key]
                if a and b:
                    d = {k: v - b.get(k, 0) for k, v in a.items() if v - b.get(k, 0)}
                    s.notes.append("datapath verdicts during the runs: " +
                                   (", ".join(f"{k} {v}" for k, v in d.items()) or "none"))
                    if d.get("policy_denied"):
                        s.failures.append(f"{d['policy_denied']} packets denied during the runs")
        # The filler is still there (the agent did not sweep it) and the
        # policy still enforces.
        for s in live:
            if s.family != "xdpath":
                continue
            try:
                end = prog_count(s.cluster.nodes[0])
                s.filler["atEnd"] = end
                ok = end.get("policy_filler") == s.n
                s.notes.append(f"filler at the end: {end.get('policy_filler')} of {s.n} "
                               f"({'intact' if ok else 'CHANGED'})")
                if not ok:
                    s.failures.append(f"filler changed during the run: {end}")
                if connects(s, BLOCKED_PORT):
                    s.failures.append(f"port {BLOCKED_PORT} reachable after the run")
            except Exception as e:
                s.failures.append(f"end check: {e}")
        for s in setups:
            if s.ready and not s.rtt50:
                s.error = "every run failed: " + (s.failures[0] if s.failures else "?")
        targets = report(setups, capped, load, build_s, measure_s)
        if JSON_OUT:
            with open(JSON_OUT, "w") as f:
                json.dump({"bench": "policy_rr", "repeats": REPEATS, "seconds": SECONDS,
                           "msgSize": MSG, "sizes": SIZES, "cpus": os.cpu_count(),
                           "rrCpu": RR_CPU, "loadavg": load, "iptables": ipt_version(),
                           "linearMax": LINEAR_MAX, "linearSkipped": capped,
                           "setups": [{"key": s.key, "family": s.family, "entries": s.n,
                                       "error": s.error, "notes": s.notes,
                                       "loadSeconds": s.load_s, "filler": s.filler,
                                       "rttP50Us": s.rtt50, "rttAvgUs": s.rtt_avg,
                                       "rttP99Us": s.rtt99, "failures": s.failures}
                                      for s in setups],
                           "targets": targets}, f, indent=2)
            print(f"\nsamples written to {JSON_OUT}")
    sets1 = root_ipsets()
    if sets0 != sets1:
        print(f"WARNING: the root netns's ipsets changed: {sets0} -> {sets1}", file=sys.stderr)
    else:
        print(f"\nroot netns: ipsets unchanged after teardown ({len(sets1 or [])} set(s), "
              "none of ours); every rule and set lived in the clusters' node netns")
    broken = [s.key for s in setups if s.error]
    if broken:
        print(f"\nnot measured: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:   # everything is torn down by then
        print("policy rr bench: interrupted", file=sys.stderr)
        sys.exit(130)
