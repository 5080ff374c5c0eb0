#!/usr/bin/python3
"""The agent as a Kubernetes controller at cluster scale: initial sync time,
memory, and watch-event -> map-update latency, served by the test API
server (test/k8s/apiserver.py) inside a sandbox cluster's external host.

One node runs xdpathd with only a kubeconfig (its addresses, pod CIDRs and
peers come from Node objects) and BENCH_K8S_LOCAL real pods wired by the CNI
plugin. Two clusters are measured in the same run:
  empty   the Node objects and the local pods only (the baseline);
  loaded  plus BENCH_K8S_PODS remote Pod objects (on 50 nodes that do not
          exist here) in BENCH_K8S_NS namespaces and BENCH_K8S_POLICIES
          NetworkPolicies (bench/policy_agent_bench.py's generators:
          selectors, namespace selectors, named and ranged ports, ipBlocks,
          egress).
For each, the agent is restarted on the full store and measured:
  sync     agent start -> the first sync enforced (every resource listed
           with limit/continue pagination, decoded, compiled and written to
           the maps; the agent's own "first sync enforced ms=" log line,
           which counts from its start);
  RSS      VmRSS after the sync and VmHWM (peak);
and, as the sync's baseline, the same lists fetched by a plain client
(Python urllib + json in the external host, one thread per resource),
then BENCH_K8S_TOGGLES NetworkPolicy creates and deletes selecting a local
pod, each timed from the moment the test server stored it (the watch event
leaves then) to the agent's next "policy maps updated" log line that
changed policy entries (its wall-clock timestamp, ms resolution; the same
clock).
For scale, the agent's RSS with the same objects read from a policyDir (the
clusterless source) is measured in the same run.

Targets: sync <= 5 s, RSS <= 100 MB, event -> map p99 <= 100 ms (loaded).
Environment: BENCH_K8S_PODS (10000), BENCH_K8S_NS (1000), BENCH_K8S_POLICIES
(10000), BENCH_K8S_LOCAL (20), BENCH_K8S_TOGGLES (30), BENCH_K8S_POLDIR (1: also
measure the policyDir source), BENCH_K8S_JSON (write the samples there).
Everything lives in namespaces created here, removed on exit."""
import datetime
import json
import os
import re
import signal
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "test", "k8s"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandbox  # noqa: E402
from apiserver import ApiServer  # noqa: E402
import policy_agent_bench as gen  # noqa: E402

PODS = int(os.environ.get("BENCH_K8S_PODS", "10000"))
NNS = int(os.environ.get("BENCH_K8S_NS", "1000"))
NPOLS = int(os.environ.get("BENCH_K8S_POLICIES", "10000"))
LOCAL = int(os.environ.get("BENCH_K8S_LOCAL", "20"))
TOGGLES = int(os.environ.get("BENCH_K8S_TOGGLES", "30"))
POLDIR = os.environ.get("BENCH_K8S_POLDIR", "1") == "1"

UPDATED = re.compile(r'^ts=(\S+) .*msg="policy maps updated" .*policy_put=(\d+) policy_del=(\d+)')
FIRST_SYNC = re.compile(r'msg="first sync enforced" ms=(\d+)')


# The baseline for the sync: the same paginated lists fetched by a plain
# client (Python, in the external host; urllib + json, one thread per
# resource like the agent), without decoding, compiling or the datapath.
RAW_LIST = r"""
import json, ssl, sys, threading, time, urllib.parse, urllib.request
url, token, ca = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
paths = ["/api/v1/pods", "/api/v1/namespaces", "/apis/networking.k8s.io/v1/networkpolicies",
         "/api/v1/nodes", "/apis/xdpath.io/v1alpha1/xdpfilters"]
count = {}
def fetch(p):
    cont, n = "", 0
    while True:
        q = "limit=500" + ("&continue=" + urllib.parse.quote(cont) if cont else "")
        req = urllib.request.Request(f"{url}{p}?{q}", headers={"Authorization": "Bearer " + token})
        doc = json.load(urllib.request.urlopen(req, context=ctx))
        n += len(doc["items"])
        cont = doc["metadata"].get("continue")
        if not cont:
            break
    count[p] = n
t = time.monotonic()
ths = [threading.Thread(target=fetch, args=(p,)) for p in paths]
[x.start() for x in ths]
[x.join() for x in ths]
print(json.dumps({"ms": (time.monotonic() - t) * 1000, "count": count}))
"""


def raw_list(c, srv):
    r = c.external.exec("python3", "-c", RAW_LIST, srv.url, srv.token, srv.ca_path)
    return json.loads(r.stdout)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ts_of(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def node_obj(n):
    return {"metadata": {"name": n.name}, "spec": {"podCIDRs": n.pod_cidrs},
            "status": {"addresses": [{"type": "InternalIP", "address": n.ip4},
                                     {"type": "InternalIP", "address": n.ip6}]}}


def log_lines(node, start):
    with open(node.agent_log, errors="replace") as f:
        f.seek(start)
        return f.read().splitlines()


def log_size(node):
    return os.path.getsize(node.agent_log)


def wait_first_sync(node, start, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for line in log_lines(node, start):
            m = FIRST_SYNC.search(line)
            if m:
                return int(m.group(1))
        time.sleep(0.05)
    raise sandbox.SandboxError(f"no first sync within {timeout} s\n{node.cluster.agent_log_tail(node)}")


def restart(c, node):
    """Restart the agent on what the store holds now: (sync ms, RSS kB, HWM kB)."""
    if c.agent_running(node):
        c.kill_agent(node, signal.SIGTERM)
    start = log_size(node)
    c.start_agent(node)
    ms = wait_first_sync(node, start)
    time.sleep(1.0)   # settle: bookmarks, the resync
    pid = node.agent.pid
    return ms, gen.proc_kb(pid, "VmRSS"), gen.proc_kb(pid, "VmHWM")


def target():
    """Isolates the local server pod, admitting the local clients on TCP 80:
    its allow entries appear (and go) with each toggle."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "bench-toggle", "namespace": "local"},
            "spec": {"podSelector": {"matchLabels": {"role": "server"}},
                     "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                                  "ports": [{"port": 80, "protocol": "TCP"}]}]}}


def toggles(srv, node, n):
    """Create/delete a policy selecting a local pod n times: ms from the
    store write to the agent's map update."""
    out = []
    for i in range(n):
        start = log_size(node)
        t0 = time.time()
        if i % 2 == 0:
            srv.create("networkpolicies", target(), namespace="local")
        else:
            srv.delete("networkpolicies", "bench-toggle", namespace="local")
        end = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < end:
            for line in log_lines(node, start):
                m = UPDATED.match(line)
                if m and int(m.group(2)) + int(m.group(3)) > 0 and ts_of(m.group(1)) >= t0 - 0.001:
                    got = (ts_of(m.group(1)) - t0) * 1000
                    break
            if got is None:
                time.sleep(0.002)
        if got is None:
            raise sandbox.SandboxError(f"toggle {i}: no map update within 10 s")
        out.append(max(got, 0.0))
        time.sleep(0.15)
    if n % 2:
        srv.delete("networkpolicies", "bench-toggle", namespace="local")
    return out


def load_cluster(srv, nns, npods, npols, local_node):
    for i in range(nns):
        srv.create("namespaces", {"metadata": {"name": f"ns{i}", "labels": {"team": f"t{i % 20}"}}})
    for i in range(npods):
        o = gen.pod_obj(f"ns{i % nns}", f"r{i}", {"app": f"app{i % 7}", "tier": "api"},
                        f"remote{i % 50}", [gen.fake_ip(i)])
        srv.create("pods", o, namespace=f"ns{i % nns}")
    for i in range(npols):
        srv.create("networkpolicies", gen.background_policy(f"ns{i % nns}", i, nns),
                   namespace=f"ns{i % nns}")


def measure():
    c = sandbox.Cluster(nodes=1, pods=0, mode="native", agent=False, ready_timeout=120)
    srv = None
    try:
        node = c.nodes[0]
        # Every write stays in the history: a restart lists anyway.
        srv = ApiServer(host=sandbox.EXT4, netns=c.external.netns, history=200000,
                        bookmark_interval=5.0).start()
        kc = srv.kubeconfig(os.path.join(c.state_dir, "kubeconfig"))
        srv.create("nodes", node_obj(node))
        c.agent_extra = {"kubernetes": {"kubeconfig": kc}, "peers": None, "nodeIP": None,
                         "nodeIP6": None, "podCIDRs": None}
        c.start_agent(node)
        srv.create("namespaces", {"metadata": {"name": "local"}})
        for k in range(LOCAL):
            labels = {"app": f"app{k % 7}", "tier": "web", "role": "server" if k == 0 else "client"}
            p = c.add_pod(node, name=f"p{k}", namespace="local", labels=labels, save=False)
            srv.create("pods", gen.pod_obj("local", p.name, labels, node.name,
                                           [ip for ip in (p.ip4, p.ip6) if ip]), namespace="local")
        c.save()
        res = {}
        log("empty cluster: restart, sync, toggles")
        ms, rss, hwm = restart(c, node)
        res["empty"] = {"sync_ms": ms, "rss_kb": rss, "hwm_kb": hwm,
                        "toggle_ms": toggles(srv, node, TOGGLES)}
        log(f"loading {PODS} pods, {NNS} namespaces, {NPOLS} policies into the API server")
        c.kill_agent(node, signal.SIGTERM)   # the sync is measured from a start, not as events
        t = time.monotonic()
        load_cluster(srv, NNS, PODS - LOCAL, NPOLS, node)
        log(f"  stored in {time.monotonic() - t:.1f} s")
        raw = raw_list(c, srv)
        log(f"  a plain client lists it in {raw['ms']:.0f} ms")
        log("loaded cluster: restart, sync, toggles")
        ms, rss, hwm = restart(c, node)
        st = json.loads(sandbox.run([c.ctl_bin, "--socket", node.socket, "policy", "list",
                                     "-o", "json"]).stdout)["stats"]
        if st["pods"] < PODS or st["policies"] < NPOLS:
            raise sandbox.SandboxError(f"the agent has {st['pods']} pods, {st['policies']} policies")
        lists = {}
        for line in log_lines(node, 0):
            m = re.search(r'msg="listed" resource=(\S+) objects=(\d+) .* ms=(\d+)', line)
            if m:
                lists[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        tms = toggles(srv, node, TOGGLES)
        cms = [int(m) for m in re.findall(r"compile_ms=(\d+)", open(node.agent_log).read())]
        res["loaded"] = {"sync_ms": ms, "rss_kb": rss, "hwm_kb": hwm, "lists": lists, "raw_list": raw,
                         "stats": st, "compile_ms": statistics.median(cms[-TOGGLES:]) if cms else None,
                         "toggle_ms": tms}
        return res
    finally:
        c.close()
        if srv:
            srv.stop()


def main():
    if os.geteuid() != 0:
        log("bench: needs root")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    res = measure()
    if POLDIR:
        log("the same objects from a policyDir (the clusterless source), for scale")
        res["policydir"] = gen.agent_memory(PODS, NNS, NPOLS, LOCAL)
    e, l = res["empty"], res["loaded"]
    pct = gen.pct
    print(f"\nxdpathd with the Kubernetes API: {PODS} pods, {NNS} namespaces, {NPOLS} "
          f"NetworkPolicies, {LOCAL} local endpoints (test API server, same run)")
    print(f"{'':22}{'empty':>10}{'loaded':>10}{'ratio':>8}  target")
    print(f"{'initial sync (ms)':22}{e['sync_ms']:>10}{l['sync_ms']:>10}"
          f"{l['sync_ms'] / max(1, e['sync_ms']):>7.1f}x  <= 5000: "
          f"{'PASS' if l['sync_ms'] <= 5000 else 'MISS'}")
    print(f"{'  plain-client lists':22}{'':>10}{l['raw_list']['ms']:>10.0f}"
          f"{l['sync_ms'] / max(1, l['raw_list']['ms']):>7.2f}x  (sync / the lists alone)")
    print(f"{'RSS (MB)':22}{e['rss_kb'] / 1024:>10.1f}{l['rss_kb'] / 1024:>10.1f}"
          f"{l['rss_kb'] / max(1, e['rss_kb']):>7.1f}x")
    print(f"{'peak RSS (MB)':22}{e['hwm_kb'] / 1024:>10.1f}{l['hwm_kb'] / 1024:>10.1f}"
          f"{l['hwm_kb'] / max(1, e['hwm_kb']):>7.1f}x  <= 100: "
          f"{'PASS' if l['hwm_kb'] <= 100 * 1024 else 'MISS'}")
    for p in (50, 99):
        a, b = pct(e["toggle_ms"], p), pct(l["toggle_ms"], p)
        print(f"{f'event->map p{p} (ms)':22}{a:>10.1f}{b:>10.1f}{b / max(0.1, a):>7.1f}x"
              + (f"  <= 100: {'PASS' if b <= 100 else 'MISS'}" if p == 99 else ""))
    print("  lists (objects, ms): " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(l["lists"].items())))
    print(f"  compile (median of the toggles' loads): {l['compile_ms']} ms")
    if POLDIR:
        m = res["policydir"]
        print(f"  same objects from a policyDir: RSS {m['loaded']['rss_kb'] / 1024:.1f} MB, peak "
              f"{m['loaded']['hwm_kb'] / 1024:.1f} MB (Kubernetes source / policyDir: "
              f"{l['rss_kb'] / max(1, m['loaded']['rss_kb']):.2f}x RSS, "
              f"{l['hwm_kb'] / max(1, m['loaded']['hwm_kb']):.2f}x peak)")
    if os.environ.get("BENCH_K8S_JSON"):
        with open(os.environ["BENCH_K8S_JSON"], "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
