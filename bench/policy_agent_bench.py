#!/usr/bin/python3
"""NetworkPolicy control-plane benchmark: how long a manifest change takes
to be enforced, and what the agent's memory costs at scale.

Update latency (per cluster size, 100 and 1000 pods by default). A 2-node
sandbox cluster ("native", xdpathd with a policyDir) with REAL local pods
(BENCH_POL_LOCAL_PODS per node, default 50: 100 endpoints that the agents
compile allow-lists for) and, to reach the cluster size, further Pod
objects on nodes that do not exist here (remote pods: identities and
ipcache entries, as a watch would deliver them), spread over one namespace
per 10 pods, with one background NetworkPolicy per 10 pods. One client
(n1) probes one server (n2) with UDP requests from fresh source ports every
~2 ms (reply timeout 5 ms). Each toggle atomically rewrites one policy file
that isolates the server and either admits or excludes the client; the
latency is from the rename(2) to the first probe sent after it that sees
the new verdict. Both flips (allow -> deny, deny -> allow) are measured
BENCH_POL_TOGGLES times (default 20 each). The probe period bounds the
resolution (~2-7 ms). Target: p99 <= 100 ms.

Agent memory. One node, BENCH_POL_RSS_LOCAL real pods (default 20), a
policyDir with 10 000 Pod objects in 1 000 namespaces and 10 000
NetworkPolicies (selectors, namespace selectors, ports, one ipBlock in ten);
VmRSS after the load and VmHWM (peak), against the same agent with an empty
policyDir in the same run. Target: <= 100 MB.

Environment: BENCH_POL_SIZES (default "100,1000"), BENCH_POL_TOGGLES,
BENCH_POL_LOCAL_PODS, BENCH_POL_RSS_PODS / _NS / _POLICIES / _LOCAL,
BENCH_POL_JSON (write the samples). Everything lives in namespaces created
here and is removed on exit (also on errors and Ctrl-C)."""
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

SIZES = [int(x) for x in os.environ.get("BENCH_POL_SIZES", "100,1000").split(",") if x]
TOGGLES = int(os.environ.get("BENCH_POL_TOGGLES", "20"))
LOCAL = int(os.environ.get("BENCH_POL_LOCAL_PODS", "50"))
RSS_PODS = int(os.environ.get("BENCH_POL_RSS_PODS", "10000"))
RSS_NS = int(os.environ.get("BENCH_POL_RSS_NS", "1000"))
RSS_POLS = int(os.environ.get("BENCH_POL_RSS_POLICIES", "10000"))
RSS_LOCAL = int(os.environ.get("BENCH_POL_RSS_LOCAL", "20"))
PORT = 80

# In the client pod: probe until stdin closes; print "t_send verdict" (CLOCK_MONOTONIC)
# for every probe whose verdict differs from the previous one.
PROBER = r"""
import os, socket, sys, threading, time
ip, port = sys.argv[1], int(sys.argv[2])
sport = 20000
last = None
stop = []
threading.Thread(target=lambda: (sys.stdin.read(), stop.append(1)), daemon=True).start()
while not stop:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.005)
    sport = 20000 + (sport - 19999) % 40000
    try:
        s.bind(("0.0.0.0", sport))
    except OSError:
        s.close(); continue
    t = time.clock_gettime(time.CLOCK_MONOTONIC)
    try:
        s.sendto(b"p", (ip, port)); ok = s.recv(16) == b"p"
    except OSError:
        ok = False
    s.close()
    if ok != last:
        print(f"{t:.6f} {int(ok)}", flush=True); last = ok
    if not ok:
        continue
    time.sleep(0.002)
"""

ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(64); s.sendto(d, a)
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def write(d, name, obj):
    tmp = os.path.join(d, f".{name}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, os.path.join(d, name))


def ns_obj(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name,
                                                  **(labels or {})}}}


def pod_obj(ns, name, labels, node, ips):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
            "status": {"podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips]}}


def fake_ip(i):
    return f"10.250.{i // 250}.{i % 250 + 1}"


def background_policy(ns, i, nns):
    """A realistic policy: select an app, admit a few apps from a namespace
    and the monitoring namespace on named and numeric ports; one in ten also
    an ipBlock, one in five an egress section."""
    spec = {"podSelector": {"matchLabels": {"app": f"app{i % 7}"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": f"app{(i + 1) % 7}"}}},
                                  {"namespaceSelector": {"matchLabels": {
                                      "kubernetes.io/metadata.name": f"ns{(i * 7) % nns}"}},
                                   "podSelector": {"matchExpressions": [
                                       {"key": "tier", "operator": "In",
                                        "values": ["web", "api"]}]}}],
                         "ports": [{"port": "http"}, {"port": 9000 + i % 50, "endPort": 9010 + i % 50}]}]}
    if i % 10 == 0:
        spec["ingress"].append({"from": [{"ipBlock": {"cidr": f"192.168.{i % 256}.0/24",
                                                      "except": [f"192.168.{i % 256}.128/25"]}}]})
    if i % 5 == 0:
        spec["policyTypes"] = ["Ingress", "Egress"]
        spec["egress"] = [{"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"bg{i}", "namespace": ns}, "spec": spec}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


# --------------------------------------------------------------------------
# update latency

def target_policy(server, admit):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "bench-target", "namespace": "bench"},
            "spec": {"podSelector": {"matchLabels": {"role": "server"}},
                     "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {
                         "role": "client" if admit else "nobody"}}}],
                         "ports": [{"port": PORT, "protocol": "UDP"}]}]}}


def wait_agents(cluster, pods, policies, timeout=120):
    end = time.monotonic() + timeout
    while True:
        ok = True
        for n in cluster.nodes:
            r = sandbox.run([cluster.ctl_bin, "--socket", n.socket, "policy", "list", "-o", "json"],
                            check=False)
            try:
                st = json.loads(r.stdout)["stats"]
                ok = ok and st["pods"] == pods and st["policies"] == policies
            except (ValueError, KeyError):
                ok = False
        if ok:
            return
        if time.monotonic() > end:
            raise sandbox.SandboxError(f"agents did not load {pods} pods / {policies} policies")
        time.sleep(0.2)


def compile_ms(node):
    with open(node.agent_log, errors="replace") as f:
        ms = [int(m) for m in re.findall(r"compile_ms=(\d+)", f.read())]
    return ms[-TOGGLES:] if ms else []


def update_latency(size):
    d = tempfile.mkdtemp(prefix="xdpath-polbench-")
    os.chmod(d, 0o755)
    c = sandbox.Cluster(nodes=2, pods=0, mode="native", agent=True,
                        agent_extra={"policyDir": d})
    procs = []
    try:
        nns = max(1, size // 10)
        for i in range(nns):
            write(d, f"ns-{i}.json", ns_obj(f"ns{i}"))
        write(d, "ns-bench.json", ns_obj("bench"))
        for i in range(nns):
            write(d, f"bg-{i}.json", background_policy(f"ns{i}", i, nns))
        local = []
        t0 = time.monotonic()
        for k in range(2 * LOCAL):
            node = c.nodes[k % 2]
            role = "client" if k == 0 else "server" if k == 1 else f"app{k % 7}"
            ns = "bench" if k < 2 else f"ns{k % nns}"
            name = f"p{k}"
            labels = {"role": role, "app": f"app{k % 7}", "tier": "web"}
            write(d, f"pod-{ns}-{name}.json", pod_obj(ns, name, labels, node.name, ["0.0.0.0"]))
            p = c.add_pod(node, name=name, namespace=ns, labels=labels, save=False)
            write(d, f"pod-{ns}-{name}.json",
                  pod_obj(ns, name, labels, node.name, [ip for ip in (p.ip4, p.ip6) if ip]))
            local.append(p)
        c.save()
        log(f"  {len(local)} real pods in {time.monotonic() - t0:.1f} s")
        for i in range(size - len(local)):
            ns = f"ns{i % nns}"
            write(d, f"pod-x{i}.json", pod_obj(ns, f"r{i}", {"app": f"app{i % 7}", "tier": "api"},
                                             f"remote{i % 8}", [fake_ip(i)]))
        client, server = local[0], local[1]
        write(d, "target.json", target_policy(server, True))
        wait_agents(c, size, nns + 1)
        procs.append(server.popen("python3", "-c", ECHO, str(PORT)))
        time.sleep(0.3)
        prober = client.popen("python3", "-u", "-c", PROBER, server.ip4, str(PORT),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(prober)
        # first verdict: allowed
        line = prober.stdout.readline().split()
        if line[1] != "1":
            raise sandbox.SandboxError("the client cannot reach the server under the allow policy")
        lat = {"deny": [], "allow": []}
        admit = True
        for _ in range(2 * TOGGLES):
            admit = not admit
            time.sleep(0.15)  # settle: the previous flip's probes are done
            t = time.clock_gettime(time.CLOCK_MONOTONIC)
            write(d, "target.json", target_policy(server, admit))
            while True:
                ts, v = prober.stdout.readline().split()
                if int(v) == int(admit) and float(ts) >= t:
                    lat["allow" if admit else "deny"].append((float(ts) - t) * 1000)
                    break
                if float(ts) >= t + 5:
                    raise sandbox.SandboxError("a policy change was not enforced within 5 s")
        cms = compile_ms(c.nodes[1])
        return {"size": size, "local": len(local), "namespaces": nns, "policies": nns + 1,
                "deny_ms": lat["deny"], "allow_ms": lat["allow"], "compile_ms": cms}
    finally:
        for p in procs:
            p.kill()
            p.wait()
        c.close()
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# agent memory

def proc_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def agent_memory(pods, nns, npols, local):
    d = tempfile.mkdtemp(prefix="xdpath-polbench-")
    os.chmod(d, 0o755)
    c = sandbox.Cluster(nodes=1, pods=0, mode="native", agent=True,
                        agent_extra={"policyDir": d}, ready_timeout=120)
    try:
        node = c.nodes[0]
        real = []
        for k in range(local):
            ns, name = f"ns{k % nns}", f"p{k}"
            labels = {"app": f"app{k % 7}", "tier": "web"}
            write(d, f"pod-{ns}-{name}.json", pod_obj(ns, name, labels, node.name, ["0.0.0.0"]))
            p = c.add_pod(node, name=name, namespace=ns, labels=labels, save=False)
            real.append((ns, name, labels, p))
        c.save()
        time.sleep(0.5)
        pid = node.agent.pid
        base = {"rss_kb": proc_kb(pid, "VmRSS"), "hwm_kb": proc_kb(pid, "VmHWM")}
        # the whole cluster, written elsewhere and moved in: one load
        stage = tempfile.mkdtemp(prefix="xdpath-polbench-stage-")
        objs = []
        for i in range(nns):
            objs.append(ns_obj(f"ns{i}", {"team": f"t{i % 20}"}))
        for ns, name, labels, p in real:
            objs.append(pod_obj(ns, name, labels, node.name, [ip for ip in (p.ip4, p.ip6) if ip]))
        for i in range(pods - local):
            objs.append(pod_obj(f"ns{i % nns}", f"r{i}", {"app": f"app{i % 7}", "tier": "api"},
                                f"remote{i % 50}", [fake_ip(i)]))
        for i in range(npols):
            objs.append(background_policy(f"ns{i % nns}", i, nns))
        # 100 objects per file, as List documents
        for k in range(0, len(objs), 100):
            with open(os.path.join(stage, f"l{k // 100:05d}.json"), "w") as f:
                json.dump({"apiVersion": "v1", "kind": "List", "items": objs[k:k + 100]}, f)
        t = time.monotonic()
        for name in sorted(os.listdir(stage)):
            os.replace(os.path.join(stage, name), os.path.join(d, name))
        shutil.rmtree(stage, ignore_errors=True)
        # the pod manifests written before are still there (same objects: replaced)
        end = time.monotonic() + 120
        while True:
            r = sandbox.run([c.ctl_bin, "--socket", node.socket, "policy", "list", "-o", "json"],
                            check=False)
            try:
                st = json.loads(r.stdout)["stats"]
                if st["pods"] == pods and st["policies"] == npols:
                    break
            except (ValueError, KeyError):
                pass
            if time.monotonic() > end:
                raise sandbox.SandboxError("the agent did not load the cluster")
            time.sleep(0.2)
        load_s = time.monotonic() - t
        time.sleep(1.0)
        loaded = {"rss_kb": proc_kb(pid, "VmRSS"), "hwm_kb": proc_kb(pid, "VmHWM")}
        with open(node.agent_log, errors="replace") as f:
            cms = [int(m) for m in re.findall(r"compile_ms=(\d+)", f.read())]
        return {"pods": pods, "namespaces": nns, "policies": npols, "local": local,
                "empty": base, "loaded": loaded, "load_s": load_s,
                "compile_ms": cms[-1] if cms else None, "stats": st}
    finally:
        c.close()
        shutil.rmtree(d, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        log("bench: needs root")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    out = {"latency": [], "memory": None}
    for size in SIZES:
        log(f"update latency: {size} pods")
        out["latency"].append(update_latency(size))
    log(f"agent memory: {RSS_PODS} pods, {RSS_NS} namespaces, {RSS_POLS} policies")
    out["memory"] = agent_memory(RSS_PODS, RSS_NS, RSS_POLS, RSS_LOCAL)

    print("\nPolicy update latency: manifest rename -> first probe seeing the new verdict "
          f"({TOGGLES} flips each way; UDP probes every ~2 ms)")
    print(f"{'pods':>6} {'real':>5} {'pols':>5}  {'deny p50':>9} {'deny p99':>9}  "
          f"{'allow p50':>9} {'allow p99':>9}  {'all p99':>8}  {'compile ms':>10}  target p99<=100ms")
    base = None
    for r in out["latency"]:
        allv = r["deny_ms"] + r["allow_ms"]
        p99 = pct(allv, 99)
        base = base or p99
        cm = statistics.median(r["compile_ms"]) if r["compile_ms"] else float("nan")
        print(f"{r['size']:>6} {r['local']:>5} {r['policies']:>5}  {pct(r['deny_ms'], 50):>9.1f} "
              f"{pct(r['deny_ms'], 99):>9.1f}  {pct(r['allow_ms'], 50):>9.1f} "
              f"{pct(r['allow_ms'], 99):>9.1f}  {p99:>8.1f}  {cm:>10.0f}  "
              f"{'PASS' if p99 <= 100 else 'MISS'} ({p99 / base:.2f}x the smallest size)")
    m = out["memory"]
    print(f"\nAgent memory: {m['pods']} pods, {m['namespaces']} namespaces, {m['policies']} "
          f"policies, {m['local']} local endpoints (loaded in {m['load_s']:.1f} s, compile "
          f"{m['compile_ms']} ms)")
    print(f"  empty policyDir: RSS {m['empty']['rss_kb'] / 1024:.1f} MB")
    print(f"  loaded:          RSS {m['loaded']['rss_kb'] / 1024:.1f} MB "
          f"({m['loaded']['rss_kb'] / max(1, m['empty']['rss_kb']):.1f}x empty), peak "
          f"{m['loaded']['hwm_kb'] / 1024:.1f} MB  target <=100 MB: "
          f"{'PASS' if m['loaded']['hwm_kb'] <= 100 * 1024 else 'MISS'}")
    if os.environ.get("BENCH_POL_JSON"):
        with open(os.environ["BENCH_POL_JSON"], "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
