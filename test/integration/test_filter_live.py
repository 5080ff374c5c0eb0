"""Emergency filters live: `xdpathctl filter add|list|del|enable|disable|
sanity|watch` against a sandbox cluster (native mode, 2 nodes, agents), each
test checking real packets and the rules' counters.

Pods: flt/a and flt/b on n1, flt/c and flt/d on n2. Traffic is UDP sent by a
small Python sender inside a pod netns (a 4-byte sequence number in every
datagram, paced with a monotonic clock) to a receiver in another pod that
counts what arrives per (source, port) and which sequence numbers. A rule on
n2 with scope "uplink" sees what n1's pods send to n2's pods (XDP on n2's
eth0); scope "pods" sees what n2's pods send (TC on their host veths).

Datapath semantics checked (include/xdpath/filter.h): every matching rule
counts hits and bytes; a pass rule beats drops; the first drop rule, or a
rate-limit rule over its budget (GCRA, burst rate/10 + 1), drops and counts
a drop; expiry is enforced by the datapath itself (boot time), also while
the agent is stopped; rules stay in the pinned maps across an agent restart.

Every test leaves both nodes with no rules, sanity mode off and the agents
running (the autouse fixture enforces it even when a test fails); the
cluster is torn down by the module fixture's finalizer.
"""
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sandbox  # noqa: E402

CTL = os.path.join(ROOT, "build", "bin", "xdpathctl")
PY = "/usr/bin/python3"
NS = "flt"
RESYNC_S = 10            # AGENT_RESYNC_SEC in agent/agent.h
PAYLOAD = b"xdpath-filter-live"
FRAME = 14 + 20 + 8 + 4 + len(PAYLOAD)   # Ethernet + IPv4 + UDP + seq + payload

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")

# A UDP receiver: binds IP on the given ports, prints "ready", counts every
# datagram per "srcip:sport>dport" (and the distinct sequence numbers) until
# its stdin is closed, then prints the counts as JSON.
RECV = r"""
import json, select, socket, sys
ip, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(",")]
socks = []
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((ip, p))
    s.setblocking(False)
    socks.append(s)
print("ready", flush=True)
by, seqs = {}, {}
def drain(s):
    while True:
        try:
            data, peer = s.recvfrom(2048)
        except BlockingIOError:
            return
        k = "%s:%d>%d" % (peer[0], peer[1], s.getsockname()[1])
        by[k] = by.get(k, 0) + 1
        if len(data) >= 4:
            seqs.setdefault(k, set()).add(int.from_bytes(data[:4], "big"))
while True:
    r, _, _ = select.select(socks + [sys.stdin], [], [], 1.0)
    for s in socks:
        if s in r:
            drain(s)
    if sys.stdin in r and not sys.stdin.buffer.read1(64):
        break
for s in socks:
    drain(s)
print(json.dumps({"by": by, "unique": {k: len(v) for k, v in seqs.items()},
                  "maxSeq": {k: max(v) for k, v in seqs.items()}}), flush=True)
"""

# A UDP sender: COUNT datagrams from source port SPORT to DST:DPORT at RATE
# per second (0: as fast as it can), datagram i carrying i; with "eof" it
# also stops when its stdin is closed. Prints {"sent", "errors", "elapsed"}.
SEND = r"""
import json, select, socket, sys, time
dst, dport, sport, count, rate = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                  int(sys.argv[4]), float(sys.argv[5]))
until_eof = sys.argv[6:] == ["eof"]
payload = PAYLOAD
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", sport))
gap = 1.0 / rate if rate > 0 else 0.0
t0 = time.perf_counter()
sent = errors = 0
while sent < count:
    if until_eof and sent % 20 == 0 and select.select([sys.stdin], [], [], 0)[0]:
        if not sys.stdin.buffer.read1(64):
            break
    due = t0 + sent * gap
    while True:
        now = time.perf_counter()
        if now >= due:
            break
        if due - now > 0.002:
            time.sleep(due - now - 0.001)
    try:
        s.sendto(sent.to_bytes(4, "big") + payload, (dst, dport))
    except OSError:
        errors += 1
    sent += 1
print(json.dumps({"sent": sent, "errors": errors, "elapsed": time.perf_counter() - t0}),
      flush=True)
""".replace("PAYLOAD", repr(PAYLOAD))

# One IPv4 frame with ihl 4 (a header shorter than the minimum), sent raw on
# the pod's eth0 to the gateway's MAC.
MALFORMED = r"""
import sys
from scapy.all import IP, UDP, Ether, Raw, get_if_hwaddr, sendp
src, dst, gw = sys.argv[1:4]
f = bytearray(bytes(Ether(src=get_if_hwaddr("eth0"), dst=gw) / IP(src=src, dst=dst) /
                    UDP(sport=46000, dport=6006) / Raw(b"x" * 16)))
f[14] = 0x44
sendp(bytes(f), iface="eth0", verbose=False)
"""

# TCP: a server that counts the bytes of one connection and answers the
# count; a client that sends N bytes and prints the answer.
TCP_SINK = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(20)
print("ready", flush=True)
c, _ = s.accept(); c.settimeout(20); n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
c.sendall(str(n).encode()); c.close()
"""
TCP_SOURCE = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(b"z" * int(sys.argv[3])); c.shutdown(socket.SHUT_WR)
print(c.recv(100).decode())
"""


# --------------------------------------------------------------------------
# helpers

def agent_state(node):
    """What the agent was doing, for a failure message."""
    pid = node.agent.pid if node.agent else None
    info = [f"agent pid {pid}"]
    for f in ("stat", "wchan", "stack"):
        try:
            with open(f"/proc/{pid}/{f}") as fp:
                info.append(f"{f}: {fp.read().strip()}")
        except OSError as e:
            info.append(f"{f}: {e}")
    return "\n".join(info) + "\n" + node.cluster.agent_log_tail(node, 20)


def ctl(node, *args, check=True, sock=None, timeout=30):
    try:
        r = subprocess.run([CTL, "--socket", sock or node.socket, *args], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"xdpathctl {' '.join(args)}: no answer within {timeout} s\n"
                    f"{agent_state(node)}")
    if check and r.returncode != 0:
        pytest.fail(f"xdpathctl {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r


def ctl_json(node, *args):
    return json.loads(ctl(node, "-o", "json", *args).stdout)


def listing(node):
    return ctl_json(node, "filter", "list")


def rules(node):
    """{name: rule} of `filter list -o json`."""
    return {f["name"]: f for f in listing(node)["filters"]}


def add(node, name, expr, *opts):
    """`filter add` (-o json); the rule as the agent answered it."""
    r = ctl_json(node, "filter", "add", name, expr, *opts)
    assert r["name"] == name and r["active"] is True, r
    return r


def eventually(cond, timeout, what, step=0.1):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(step)


def watch_until(proc, pred, timeout):
    """The first event `filter watch --follow -o json` prints that pred
    accepts."""
    end = time.monotonic() + timeout
    buf = ""
    while time.monotonic() < end:
        r, _, _ = select.select([proc.stdout], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        chunk = os.read(proc.stdout.fileno(), 65536).decode()
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split("\n")
        for line in lines:
            if line.strip() and pred(json.loads(line)):
                return json.loads(line)
    err = proc.stderr.read() if proc.poll() is not None else ""
    pytest.fail(f"filter watch --follow: no such event within {timeout} s "
                f"(exit {proc.poll()}, stderr {err!r})")


def xdp_attached(node):
    link = json.loads(node.exec("ip", "-j", "link", "show", "dev", "eth0").stdout)[0]
    return "xdp" in link


class Receiver:
    def __init__(self, pod, ports):
        self.pod = pod
        self.p = pod.popen(PY, "-c", RECV, pod.ip4, ",".join(map(str, ports)),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            self.p.kill()
            pytest.fail(f"receiver in {pod.id} did not start: {line} {self.p.stderr.read()}")
        self.res = None

    def stop(self, grace=0.3):
        """The counts, after `grace` s for packets still in flight."""
        if self.res is None:
            time.sleep(grace)
            out, err = self.p.communicate("", timeout=15)
            assert self.p.returncode == 0, err
            self.res = json.loads(out)
        return self.res

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def got(self, src, sport, dport):
        return self.stop()["by"].get(f"{src.ip4}:{sport}>{dport}", 0)

    def unique(self, src, sport, dport):
        k = f"{src.ip4}:{sport}>{dport}"
        r = self.stop()
        return r["unique"].get(k, 0), r["maxSeq"].get(k, -1)


def sender(src, dst, dport, sport, count, rate, until_eof=False):
    return src.popen(PY, "-c", SEND, dst.ip4, dport, sport, count, rate,
                     *(["eof"] if until_eof else []), stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill(*procs):
    for p in procs:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


def finish(p, timeout=60):
    out, err = p.communicate("", timeout=timeout)
    assert p.returncode == 0, err
    r = json.loads(out)
    assert r["errors"] == 0, r
    return r


def flows(specs, rate=1000):
    """Run UDP flows in parallel: specs are (src, dst, dport, sport, count);
    returns {(src.id, sport, dport): (sent, received)}."""
    ports = {}
    for src, dst, dport, sport, count in specs:
        ports.setdefault(dst.id, (dst, set()))[1].add(dport)
    recv = {k: Receiver(d, sorted(p)) for k, (d, p) in ports.items()}
    procs = []
    try:
        for s in specs:
            procs.append((s, sender(s[0], s[1], s[2], s[3], s[4], rate)))
        sent = {(s[0].id, s[3], s[2]): finish(p)["sent"] for s, p in procs}
        out = {}
        for src, dst, dport, sport, count in specs:
            out[(src.id, sport, dport)] = (sent[(src.id, sport, dport)],
                                           recv[dst.id].got(src, sport, dport))
        return out
    finally:
        kill(*[p for _, p in procs])
        for r in recv.values():
            r.kill()


def flow(src, dst, dport, sport, count, rate=1000):
    """(sent, received) of one UDP flow."""
    return flows([(src, dst, dport, sport, count)], rate)[(src.id, sport, dport)]


def agent_alive_and_running(c, node):
    if node.agent is not None and node.agent.alive():
        node.agent.signal(signal.SIGCONT)   # a test that stopped it and failed
        return
    c.start_agent(node)


# --------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="module")
def env():
    c = sandbox.Cluster(nodes=2, pods=0, mode="native", agent=True)
    try:
        n1, n2 = c.nodes
        pods = {
            "a": c.add_pod(n1, name="a", namespace=NS),
            "b": c.add_pod(n1, name="b", namespace=NS),
            "c": c.add_pod(n2, name="c", namespace=NS),
            "d": c.add_pod(n2, name="d", namespace=NS),
        }
        # Neighbours resolved everywhere before anything is counted.
        for s, d in (("a", "c"), ("a", "d"), ("b", "c"), ("c", "a"), ("d", "a"), ("c", "b")):
            assert pods[s].ping(pods[d].ip4), (s, d)
        yield c, pods
    finally:
        c.close()


@pytest.fixture(autouse=True)
def clean(env):
    """After every test: agents running, no rules, sanity off, no XDP."""
    c, _ = env
    yield
    for n in c.nodes:
        agent_alive_and_running(c, n)
        ctl(n, "filter", "sanity", "off", check=False)
        for name in rules(n):
            ctl(n, "filter", "del", name, check=False)
        left = listing(n)
        assert left["filters"] == [] and left["sanity"] is False, left


# --------------------------------------------------------------------------
# 1. add / list / del, and the errors

def test_add_list_del_and_errors(env):
    c, p = env
    n2 = c.nodes[1]
    a = p["a"]
    empty = listing(n2)
    assert empty["filters"] == [] and empty["capacity"] == 1024, empty
    assert empty["uplinkXdp"] is False and empty["sanity"] is False, empty

    r1 = add(n2, "r1", f"udp and ip.src == {a.ip4} and udp.dport == 5100", "--scope", "uplink")
    assert (r1["action"], r1["scope"], r1["origin"], r1["indexed"]) == \
        ("drop", "uplink", "cli", True), r1
    assert (r1["hits"], r1["bytes"], r1["drops"], r1["expires"]) == (0, 0, 0, 0), r1
    out = ctl(n2, "filter", "add", "r2", "ip.ttl == 1", "--action", "count",
              "--expire", "15m").stdout
    head, _, left = out.strip().rpartition(", expires in ")
    assert head == "r2: count, scanned, scope all", out
    assert 895 <= int(left.split()[0]) <= 900, out
    out = ctl(n2, "filter", "add", "r3", "udp.dport in 5101..5102 and ip.ttl > 1",
              "--action", "rate-limit=50/s", "--per", "dst", "--scope", "pods").stdout
    assert out.strip() == "r3: rate-limit, scanned, scope pods", out

    lst = listing(n2)
    got = {f["name"]: f for f in lst["filters"]}
    assert set(got) == {"r1", "r2", "r3"}, lst
    assert lst["uplinkXdp"] is True, lst
    assert got["r1"]["expr"] == r1["expr"] and got["r1"]["slot"] == r1["slot"], got
    r2 = got["r2"]
    assert r2["action"] == "count" and r2["expires"] - r2["created"] == 900, r2
    assert 0 < r2["expiresInSeconds"] <= 900 and r2["indexed"] is False, r2
    r3 = got["r3"]
    assert (r3["action"], r3["rate"], r3["per"], r3["scope"]) == \
        ("rate-limit", 50, "dst", "pods"), r3
    assert all(f["active"] and f["hits"] == 0 for f in got.values()), got

    table = ctl(n2, "filter", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "ACTION", "SCOPE", "HITS", "BYTES", "DROPS",
                                "EXPIRES", "STATE", "RULE"], table
    rows = {l.split()[0]: l.split() for l in table[1:-1]}
    assert rows["r1"][:8] == ["r1", "drop", "uplink", "0", "0", "0", "never", "active"], rows
    assert " ".join(rows["r1"][8:]) == r1["expr"], rows
    assert rows["r2"][:3] == ["r2", "count", "all"] and rows["r2"][6][:3] in ("15m", "14m"), rows
    assert rows["r3"][1] == "rate-limit=50/s/dst" and rows["r3"][2] == "pods", rows
    assert table[-1] == "sanity mode off", table

    # A catalog entry: enable (named by its id), then disable.
    e = ctl_json(n2, "filter", "enable", "MALF-IPV4-IHL-LT5", "--scope", "pods")
    assert (e["name"], e["origin"], e["expr"], e["scope"]) == \
        ("MALF-IPV4-IHL-LT5", "catalog", "ip.ihl < 5", "pods"), e
    out = ctl(n2, "filter", "disable", "MALF-IPV4-IHL-LT5").stdout
    assert out.strip() == "disabled MALF-IPV4-IHL-LT5", out
    before = rules(n2)
    assert set(before) == {"r1", "r2", "r3"}, before

    def fails(rc, msgs, *args, sock=None):
        r = ctl(n2, *args, check=False, sock=sock)
        assert r.returncode == rc, (args, r.returncode, r.stdout, r.stderr)
        for m in msgs:
            assert m in r.stderr, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)
        assert rules(n2).keys() == before.keys(), (args, "left something behind")
        return r.stderr

    # A rule that does not compile: column and caret, exit 2, before any
    # request (the same with no agent at the socket).
    expr = "udp.dport == 5 and ip.src == 10.0.0.0/33"
    for sock in (None, "/nonexistent/xdpathd.sock"):
        err = fails(2, ["column 30: expected an IPv4 address or CIDR for ip.src, "
                        "not '10.0.0.0/33'"], "filter", "add", "e1", expr, sock=sock)
        lines = err.splitlines()
        assert lines[1] == "  " + expr, lines
        assert lines[2] == "  " + " " * 29 + "^", lines
    fails(2, ["column 1: unknown field 'udp.dprt'"], "filter", "add", "e1", "udp.dprt == 5")
    # Options checked by the CLI: exit 2.
    fails(2, ['--action must be drop, pass, count or rate-limit=N/s, not "drp"'],
          "filter", "add", "e1", "udp", "--action", "drp")
    fails(2, ["--action rate-limit=N/s: N packets per second, N > 0"],
          "filter", "add", "e1", "udp", "--action", "rate-limit=0/s")
    fails(2, ["--action rate-limit=N/s"], "filter", "add", "e1", "udp",
          "--action", "rate-limit=10/m")
    fails(2, ['--expire: a duration such as 90s, 15m, 2h, 1d or 1h30m, not "5x"'],
          "filter", "add", "e1", "udp", "--expire", "5x")
    fails(2, ['not "0s"'], "filter", "add", "e1", "udp", "--expire", "0s")
    fails(2, ["--per must be rule, src or dst"], "filter", "add", "e1", "udp",
          "--action", "rate-limit=5/s", "--per", "host")
    # Refused by the agent: exit 1.
    fails(1, ["filter r1 exists (xdpathctl filter del r1 first)"],
          "filter", "add", "r1", "tcp")
    fails(1, [f"filter e1: no pod {NS}/nopod on this node"],
          "filter", "add", "e1", "udp", "--scope", f"{NS}/nopod")
    fails(1, [f"filter e1: no pod {NS}/a on this node"],      # a runs on n1
          "filter", "add", "e1", "udp", "--scope", f"{NS}/a")
    fails(1, ["no filter nosuch"], "filter", "del", "nosuch")
    fails(1, ["no catalog entry NOPE-1 (xdpathctl filter catalog lists them)"],
          "filter", "enable", "NOPE-1")
    fails(1, ["catalog entry MALF-IPV4-IHL-LT5 is not enabled"],
          "filter", "disable", "MALF-IPV4-IHL-LT5")
    fails(1, ["filter name must be 1-63 characters"], "filter", "add", "bad name!", "udp")
    after = rules(n2)
    for k in before:   # nothing else changed either
        assert {x: after[k][x] for x in ("expr", "slot", "action", "scope")} == \
            {x: before[k][x] for x in ("expr", "slot", "action", "scope")}, k

    assert ctl(n2, "filter", "del", "r1").stdout.strip() == "deleted r1"
    assert ctl_json(n2, "filter", "del", "r2") == {"deleted": "r2"}
    assert ctl(n2, "filter", "del", "r3").stdout.strip() == "deleted r3"
    fails_after = ctl(n2, "filter", "del", "r3", check=False)
    assert fails_after.returncode == 1 and "no filter r3" in fails_after.stderr
    lst = listing(n2)
    assert lst["filters"] == [] and lst["uplinkXdp"] is False, lst
    assert ctl(n2, "filter", "list").stdout.splitlines()[1:] == ["sanity mode off"]


def test_bad_scope_is_a_usage_error(env):
    """--scope is an option value like --action and --expire: a value that is
    none of all|uplink|pods|NAMESPACE/POD is a usage error (exit 2) with a
    message naming the forms, and nothing is added."""
    c, _ = env
    n2 = c.nodes[1]
    for bad in ("bogus", "/x", "ns/", "Uplink"):
        r = ctl(n2, "filter", "add", "e1", "udp", "--scope", bad, check=False)
        assert "scope must be all, uplink, pods or NAMESPACE/POD" in r.stderr, (bad, r.stderr)
        assert rules(n2) == {}, bad
        assert r.returncode == 2, (bad, r.returncode, r.stderr)


# --------------------------------------------------------------------------
# 2. drop on the uplink

def test_uplink_drop_counts_watch_and_resume(env):
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    assert listing(n2)["uplinkXdp"] is False and not xdp_attached(n2)
    assert flow(a, cc, 5200, 40200, 20, rate=200) == (20, 20)

    expr = f"udp and ip.src == {a.ip4} and ip.dst == {cc.ip4} and udp.dport == 5200"
    add(n2, "drop-a-c", expr, "--scope", "uplink")
    lst = listing(n2)
    assert lst["uplinkXdp"] is True and xdp_attached(n2), lst
    follow = subprocess.Popen([CTL, "--socket", n2.socket, "-o", "json", "filter", "watch",
                               "--follow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        sent, got = flow(a, cc, 5200, 40200, 50, rate=500)
        followed = watch_until(follow, lambda e: e["rule"] == "drop-a-c", 3)
    finally:
        follow.kill()
        follow.wait()
    assert (sent, got) == (50, 0)
    assert (followed["src"], followed["dstPort"]) == (a.ip4, 5200), followed
    r = rules(n2)["drop-a-c"]
    assert (r["hits"], r["drops"], r["bytes"]) == (50, 50, 50 * FRAME), r

    evs = [json.loads(l) for l in ctl(n2, "-o", "json", "filter", "watch").stdout.splitlines()]
    mine = [e for e in evs if e["rule"] == "drop-a-c"]
    assert 1 <= len(mine) <= 50, evs[-5:]
    e = mine[-1]
    assert (e["src"], e["dst"], e["proto"], e["srcPort"], e["dstPort"]) == \
        (a.ip4, cc.ip4, 17, 40200, 5200), e
    assert (e["at"], e["interface"], e["action"], e["len"]) == \
        ("uplink", "eth0", "drop", FRAME), e
    assert isinstance(e["seq"], int) and e["time"].endswith("Z"), e
    assert len(e["hex"]) == 2 * FRAME, e
    table = ctl(n2, "filter", "watch").stdout.splitlines()
    assert table[0].split() == ["TIME", "RULE", "AT", "INTERFACE", "LEN", "PROTO", "SRC", "DST"]
    assert any(l.split()[1:] == ["drop-a-c", "uplink", "eth0", str(FRAME), "17",
                                 f"{a.ip4}:40200", f"{cc.ip4}:5200"] for l in table), table[-3:]

    ctl(n2, "filter", "del", "drop-a-c")
    lst = listing(n2)
    assert lst["uplinkXdp"] is False and lst["filters"] == [], lst
    eventually(lambda: not xdp_attached(n2), 2, "XDP detached from n2's eth0")
    assert flow(a, cc, 5200, 40200, 20, rate=200) == (20, 20)


# --------------------------------------------------------------------------
# 3. count only

def test_count_only_drops_nothing(env):
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    add(n2, "count-a", f"udp and ip.src == {a.ip4} and udp.dport == 5300", "--action", "count")
    assert flow(a, cc, 5300, 40300, 300) == (300, 300)
    r = rules(n2)["count-a"]
    assert (r["hits"], r["bytes"], r["drops"]) == (300, 300 * FRAME, 0), r


# --------------------------------------------------------------------------
# 4. pass beats drop

def test_pass_beats_drop(env):
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    add(n2, "drop-udp", "udp", "--scope", "uplink")          # the drop first
    add(n2, "pass-40401", "udp.sport == 40401", "--action", "pass", "--scope", "uplink")
    res = flows([(a, cc, 5400, 40401, 100), (a, cc, 5400, 40402, 100)])
    assert res[(a.id, 40401, 5400)] == (100, 100), res
    assert res[(a.id, 40402, 5400)] == (100, 0), res
    r = rules(n2)
    assert (r["pass-40401"]["hits"], r["pass-40401"]["drops"]) == (100, 0), r
    assert (r["drop-udp"]["hits"], r["drop-udp"]["drops"]) == (200, 100), r


# --------------------------------------------------------------------------
# 5. rate limit

def budget(rate, elapsed):
    return rate * elapsed + rate // 10 + 1


def test_rate_limit_holds_its_budget(env):
    c, p = env
    n2 = c.nodes[1]
    a, b, cc = p["a"], p["b"], p["c"]
    add(n2, "rl-rule", "udp.dport == 5500", "--action", "rate-limit=100/s", "--scope", "uplink")
    rcv = Receiver(cc, [5500])
    try:
        s = finish(sender(a, cc, 5500, 40500, 3000, 1000))
        got = rcv.got(a, 40500, 5500)
    finally:
        rcv.kill()
    assert s["sent"] == 3000
    limit = budget(100, s["elapsed"])
    print(f"rate-limit 100/s, 3000 sent in {s['elapsed']:.2f} s: {got} received "
          f"(budget {limit:.0f})")
    assert 0.5 * limit <= got <= 1.1 * limit, (got, limit, s)
    r = rules(n2)["rl-rule"]
    assert (r["hits"], r["drops"]) == (3000, 3000 - got), r

    # per source: each sender has its own budget
    ctl(n2, "filter", "del", "rl-rule")
    add(n2, "rl-src", "udp.dport == 5501", "--action", "rate-limit=100/s", "--per", "src",
        "--scope", "uplink")
    rcv = Receiver(cc, [5501])
    try:
        pa = sender(a, cc, 5501, 40501, 3000, 1000)
        pb = sender(b, cc, 5501, 40501, 3000, 1000)
        sa, sb = finish(pa), finish(pb)
        ga, gb = rcv.got(a, 40501, 5501), rcv.got(b, 40501, 5501)
    finally:
        rcv.kill()
    for s, got in ((sa, ga), (sb, gb)):
        limit = budget(100, s["elapsed"])
        assert 0.5 * limit <= got <= 1.1 * limit, (got, limit, s)
    assert ga + gb > 1.1 * budget(100, max(sa["elapsed"], sb["elapsed"])), (ga, gb)
    r = rules(n2)["rl-src"]
    assert (r["rate"], r["per"], r["hits"], r["drops"]) == (100, "src", 6000, 6000 - ga - gb), r


# --------------------------------------------------------------------------
# 6. expiry

def test_expiry_in_the_datapath_then_removed(env):
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    t0 = time.monotonic()
    add(n2, "exp2", f"udp and ip.src == {a.ip4} and udp.dport == 5600", "--expire", "2s",
        "--scope", "uplink")
    t1 = time.monotonic()
    assert flow(a, cc, 5600, 40600, 10, rate=200) == (10, 0)
    assert time.monotonic() < t0 + 1.8, "too slow to check the rule before it expires"
    r = rules(n2)["exp2"]
    assert (r["hits"], r["drops"]) == (10, 10), r

    time.sleep(max(0.0, t1 + 2.5 - time.monotonic()))
    assert flow(a, cc, 5600, 40600, 10, rate=200) == (10, 10)
    assert time.monotonic() < t0 + 4.0, "too slow to check the rule just after it expired"
    r = rules(n2).get("exp2")
    if r is not None:          # not resynced away yet: the datapath alone stopped it
        assert r["expiresInSeconds"] <= 0 and r["hits"] == 10, r
        row = next(l for l in ctl(n2, "filter", "list").stdout.splitlines()
                   if l.startswith("exp2 "))
        assert row.split()[6] == "expired", row
    # The agent's resync (every AGENT_RESYNC_SEC) removes it.
    eventually(lambda: "exp2" not in rules(n2), t0 + 2 + RESYNC_S + 2 - time.monotonic(),
               "the expired rule removed from the list", step=0.25)
    assert listing(n2)["uplinkXdp"] is False


def test_expiry_while_the_agent_is_stopped(env):
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    add(n2, "exp3", f"udp and ip.src == {a.ip4} and udp.dport == 5601", "--expire", "3s",
        "--scope", "uplink")
    t1 = time.monotonic()
    assert flow(a, cc, 5601, 40601, 5, rate=200) == (5, 0)
    os.kill(n2.agent.pid, signal.SIGSTOP)
    try:
        time.sleep(max(0.0, t1 + 3.5 - time.monotonic()))
        with open(f"/proc/{n2.agent.pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        assert state == "T", state      # still stopped: nothing but the datapath acted
        assert flow(a, cc, 5601, 40601, 10, rate=200) == (10, 10)
    finally:
        os.kill(n2.agent.pid, signal.SIGCONT)
    r = rules(n2).get("exp3")
    if r is not None:          # expired packets are not counted
        assert (r["hits"], r["drops"]) == (5, 5), r
    eventually(lambda: "exp3" not in rules(n2), RESYNC_S + 2, "exp3 removed after the resync")


# --------------------------------------------------------------------------
# 7. scope

def test_scope_uplink_pods_and_one_pod(env):
    c, p = env
    n2 = c.nodes[1]
    a, cc, d = p["a"], p["c"], p["d"]
    specs = [(a, cc, 5700, 40700, 20), (cc, a, 5700, 40701, 20), (d, a, 5700, 40702, 20)]

    def run():
        res = flows(specs, rate=500)
        return (res[(a.id, 40700, 5700)][1], res[(cc.id, 40701, 5700)][1],
                res[(d.id, 40702, 5700)][1])

    # pods: what n2's pods send, not what arrives on n2's uplink
    add(n2, "sc", "udp.dport == 5700", "--scope", "pods")
    assert listing(n2)["uplinkXdp"] is False
    assert run() == (20, 0, 0)
    assert rules(n2)["sc"]["hits"] == 40
    ctl(n2, "filter", "del", "sc")
    # uplink: what arrives on n2's uplink, not what its pods send
    add(n2, "sc", "udp.dport == 5700", "--scope", "uplink")
    assert run() == (0, 20, 20)
    assert rules(n2)["sc"]["hits"] == 20
    ctl(n2, "filter", "del", "sc")
    # one pod: what flt/c sends; flt/d on the same node and the uplink are untouched
    r = add(n2, "sc", "udp.dport == 5700", "--scope", f"{NS}/c")
    assert r["scope"] == f"{NS}/c", r
    assert run() == (20, 0, 20)
    r = rules(n2)["sc"]
    assert (r["hits"], r["drops"]) == (20, 20), r


# --------------------------------------------------------------------------
# 8. agent restart

def test_rules_survive_an_agent_restart(env):
    c, p = env
    n2 = c.nodes[1]
    a, b, cc = p["a"], p["b"], p["c"]
    assert add(n2, "rs-idx", f"udp and ip.src == {a.ip4} and udp.dport == 5800",
               "--scope", "uplink")["indexed"] is True
    assert add(n2, "rs-scan", "udp.dport in 5801..5802 and ip.ttl > 1",
               "--scope", "uplink")["indexed"] is False
    add(n2, "rs-pod", "udp.dport == 5803", "--scope", f"{NS}/c")
    add(n2, "rs-later", "udp.dport == 5804", "--action", "count", "--expire", "1h")
    specs = [(a, cc, 5800, 40800, 20), (b, cc, 5801, 40801, 20), (cc, a, 5803, 40803, 20),
             (a, cc, 5804, 40804, 20)]
    want = {(a.id, 40800, 5800): (20, 0), (b.id, 40801, 5801): (20, 0),
            (cc.id, 40803, 5803): (20, 0), (a.id, 40804, 5804): (20, 20)}
    assert flows(specs, rate=500) == want
    before = rules(n2)
    assert {k: (v["hits"], v["drops"]) for k, v in before.items()} == \
        {"rs-idx": (20, 20), "rs-scan": (20, 20), "rs-pod": (20, 20), "rs-later": (20, 0)}

    c.kill_agent(n2, signal.SIGKILL)
    assert not c.agent_running(n2)
    # The datapath goes on without the agent: same drops, same counters.
    assert flows(specs, rate=500) == want
    c.start_agent(n2)
    after = rules(n2)
    assert set(after) == set(before), after
    keep = ("expr", "action", "scope", "origin", "created", "expires", "slot", "indexed",
            "active")
    for k in before:
        assert {x: after[k][x] for x in keep} == {x: before[k][x] for x in keep}, k
    assert {k: (v["hits"], v["drops"]) for k, v in after.items()} == \
        {"rs-idx": (40, 40), "rs-scan": (40, 40), "rs-pod": (40, 40), "rs-later": (40, 0)}
    assert after["rs-idx"]["bytes"] == 40 * FRAME
    assert listing(n2)["uplinkXdp"] is True and xdp_attached(n2)
    # the restarted agent takes new rules
    add(n2, "rs-new", f"udp and ip.src == {a.ip4} and udp.dport == 5805", "--scope", "uplink")
    assert flow(a, cc, 5805, 40805, 10, rate=200) == (10, 0)
    assert rules(n2)["rs-new"]["drops"] == 10
    for name in ("rs-idx", "rs-scan", "rs-pod", "rs-later", "rs-new"):
        ctl(n2, "filter", "del", name)
    lst = listing(n2)
    assert lst["filters"] == [] and lst["uplinkXdp"] is False, lst
    assert flows(specs, rate=500) == {k: (20, 20) for k in want}


def test_restart_never_opens_the_uplink(env):
    """A drop rule on the uplink keeps dropping through kill -9 and the
    restart of the agent: a steady stream sent all along never gets through,
    and every packet is counted."""
    c, p = env
    n2 = c.nodes[1]
    a, cc, d = p["a"], p["c"], p["d"]
    add(n2, "rw-up", f"udp and ip.src == {a.ip4} and udp.dport == 5810", "--scope", "uplink")
    add(n2, "rw-pod", "udp.dport == 5811", "--scope", f"{NS}/d")
    rcv = {"c": Receiver(cc, [5810]), "a": Receiver(a, [5811])}
    up = pod = None
    try:
        up = sender(a, cc, 5810, 40810, 100000, 2000, until_eof=True)
        pod = sender(d, a, 5811, 40811, 100000, 2000, until_eof=True)
        time.sleep(0.3)
        c.kill_agent(n2, signal.SIGKILL)
        time.sleep(0.3)
        c.start_agent(n2)
        time.sleep(0.5)
        s_up, s_pod = finish(up), finish(pod)
        got_up, seq_up = rcv["c"].unique(a, 40810, 5810)
        got_pod, _ = rcv["a"].unique(d, 40811, 5811)
    finally:
        kill(up, pod)
        for r in rcv.values():
            r.kill()
    r = rules(n2)
    assert (r["rw-pod"]["hits"], got_pod) == (s_pod["sent"], 0), (r["rw-pod"], got_pod)
    assert got_up == 0, (f"{got_up} of {s_up['sent']} packets of a dropped flow got through "
                         f"n2's uplink while the agent restarted (last seq {seq_up})",
                         c.agent_log_tail(n2, 12))
    assert r["rw-up"]["hits"] == s_up["sent"], r["rw-up"]


# --------------------------------------------------------------------------
# 9. pushes while traffic flows

def test_pushes_lose_no_packet(env, capsys):
    c, p = env
    n2 = c.nodes[1]
    a, cc = p["a"], p["c"]
    rcv = {"c": Receiver(cc, [5900]), "a": Receiver(a, [5901])}
    lat, n = [], 200
    fwd = rev = None
    try:
        fwd = sender(a, cc, 5900, 40900, 100000, 1000, until_eof=True)
        rev = sender(cc, a, 5901, 40901, 100000, 1000, until_eof=True)
        t0 = time.monotonic()
        time.sleep(0.2)
        # 200 rules that match nothing of the streams (TTL 3, other ports),
        # indexed and scanned, on the uplink, the pods and both.
        scopes = ("all", "uplink", "pods")
        for i in range(n):
            expr = (f"udp.dport == {20000 + i}" if i % 2 else
                    f"ip.ttl == 3 and udp.dport > {30000 + i}")
            t = time.perf_counter()
            ctl(n2, "-o", "json", "filter", "add", f"push-{i}", expr, "--scope", scopes[i % 3])
            lat.append(time.perf_counter() - t)
        mid = rules(n2)
        assert len(mid) == n and all(r["active"] and r["hits"] == 0 for r in mid.values()), \
            [r for r in mid.values() if not r["active"] or r["hits"]][:3]
        assert sum(1 for r in mid.values() if r["indexed"]) == n // 2
        for i in range(n):
            ctl(n2, "filter", "del", f"push-{i}")
        assert rules(n2) == {}
        time.sleep(max(0.2, t0 + 2.2 - time.monotonic()))    # 2000 packets at least
        s_fwd, s_rev = finish(fwd), finish(rev)
        res = [(s_fwd["sent"],) + rcv["c"].unique(a, 40900, 5900),
               (s_rev["sent"],) + rcv["a"].unique(cc, 40901, 5901)]
    finally:
        kill(fwd, rev)
        for r in rcv.values():
            r.kill()
    for sent, unique, last in res:
        assert sent >= 2000 and (unique, last) == (sent, sent - 1), res
    with capsys.disabled():
        print(f"\nfilter add (CLI, {n} calls while 2 x 1000 pps flowed): median "
              f"{statistics.median(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms; "
              f"streams {res[0][0]} + {res[1][0]} packets, none lost")


# --------------------------------------------------------------------------
# 10. sanity mode

def test_sanity_mode(env):
    c, p = env
    n1, n2 = c.nodes
    a, cc = p["a"], p["c"]
    catalog = json.loads(ctl(n1, "-o", "json", "filter", "catalog").stdout)
    ids = [e["id"] for e in catalog if e["sanity"]]
    assert len(ids) >= 5, ids
    for n in c.nodes:
        assert ctl_json(n, "filter", "sanity", "on") == {"sanity": True}
        lst = listing(n)
        assert lst["sanity"] is True and lst["uplinkXdp"] is True, lst
        assert sorted(f["name"] for f in lst["filters"]) == sorted(f"sanity:{i}" for i in ids)
        by_id = {e["id"]: e for e in catalog}
        for f in lst["filters"]:
            e = by_id[f["name"].split(":", 1)[1]]
            assert (f["origin"], f["action"], f["scope"], f["expr"], f["active"]) == \
                ("sanity", "drop", "all", e["rule"], True), f
    assert ctl(n1, "filter", "sanity").stdout.strip() == "sanity mode on"
    assert ctl(n1, "filter", "list").stdout.splitlines()[-1] == "sanity mode on"

    # Normal traffic flows: UDP, ping, a TCP transfer (GSO segments included).
    assert flows([(a, cc, 6000, 46000, 500), (cc, a, 6000, 46001, 500)]) == \
        {(a.id, 46000, 6000): (500, 500), (cc.id, 46001, 6000): (500, 500)}
    assert a.ping(cc.ip4) and cc.ping(a.ip4)
    sink = cc.popen(PY, "-c", TCP_SINK, cc.ip4, "6001", stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True)
    try:
        assert sink.stdout.readline().strip() == "ready"
        r = a.exec(PY, "-c", TCP_SOURCE, cc.ip4, "6001", str(4 << 20), timeout=30)
        assert r.stdout.strip() == str(4 << 20), r
    finally:
        sink.kill()
        sink.wait()
    for n in c.nodes:
        hit = {k: v["hits"] for k, v in rules(n).items() if v["hits"]}
        assert hit == {}, (n.name, hit)

    # One malformed frame from a: dropped by n1 at a's veth, counted once.
    gw = json.loads(a.exec("ip", "-j", "neigh", "show", "169.254.1.1").stdout)[0]["lladdr"]
    a.exec(PY, "-c", MALFORMED, a.ip4, cc.ip4, gw, timeout=60)
    name = "sanity:MALF-IPV4-IHL-LT5"
    eventually(lambda: rules(n1)[name]["drops"] == 1, 2, "the malformed frame counted")
    r = rules(n1)
    assert (r[name]["hits"], r[name]["drops"]) == (1, 1), r[name]
    assert {k: v["hits"] for k, v in r.items() if v["hits"]} == {name: 1}, r
    assert all(v["hits"] == 0 for v in rules(n2).values())
    ev = [json.loads(l) for l in ctl(n1, "-o", "json", "filter", "watch").stdout.splitlines()]
    ev = [e for e in ev if e["rule"] == name]
    assert len(ev) == 1 and (ev[0]["at"], ev[0]["src"], ev[0]["dst"]) == \
        ("pod", a.ip4, cc.ip4), ev
    assert ev[0]["interface"] == a.host_veth, ev

    for n in c.nodes:
        assert ctl(n, "filter", "sanity", "off").stdout.strip() == "sanity mode off"
        lst = listing(n)
        assert lst["filters"] == [] and lst["sanity"] is False and lst["uplinkXdp"] is False
    assert flow(a, cc, 6000, 46000, 20, rate=200) == (20, 20)


# --------------------------------------------------------------------------
# 11. the state file

def test_state_file(env):
    c, p = env
    n2 = c.nodes[1]
    path = os.path.join(n2.state_dir, "filters.json")
    add(n2, "st-drop", f"udp and ip.src == {p['a'].ip4}", "--scope", "uplink")
    add(n2, "st-rate", "udp.dport == 6100", "--action", "rate-limit=20/s", "--per", "src")
    add(n2, "st-pod", "tcp.dport == 6101", "--scope", f"{NS}/d", "--expire", "2h")

    def state():
        with open(path) as f:
            return json.load(f)
    st = state()
    assert st["version"] == 1 and st["sanity"] is False, st
    lst = rules(n2)
    files = {e["name"]: e for e in st["filters"]}
    assert set(files) == set(lst) == {"st-drop", "st-rate", "st-pod"}, (files, lst)
    for name, e in files.items():
        r = lst[name]
        assert (e["expr"], e["action"], e["origin"], e["created"], e["expires"], e["slot"]) == \
            (r["expr"], r["action"], r["origin"], r["created"], r["expires"], r["slot"]), name
    assert (files["st-drop"]["scope"], files["st-drop"]["pod"]) == (1, "")
    assert (files["st-rate"]["rate"], files["st-rate"]["per"], files["st-rate"]["scope"]) == \
        (20, "src", 3)
    assert (files["st-pod"]["pod"], files["st-pod"]["scope"]) == (f"{NS}/d", 2)
    assert files["st-pod"]["expires"] - files["st-pod"]["created"] == 7200
    assert not os.path.exists(os.path.join(n2.state_dir, ".filters.json.tmp"))
    ctl(n2, "filter", "del", "st-rate")
    assert sorted(e["name"] for e in state()["filters"]) == ["st-drop", "st-pod"]
