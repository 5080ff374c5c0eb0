#!/usr/bin/python3
"""ADD/DEL latency and parallel-ADD wall time: xdpath vs the reference
bridge + host-local plugins, measured in the same run, interleaved.

Runs inside a throwaway node netns (scripts/bench-cni.sh sets it up; this
process enters it with setns(2), staying in the root mount namespace so that
`ip netns del` really removes a netns), so every exec is a plain fork/exec
like a runtime's, without `ip netns exec` overhead. Prints medians, p99s and
ratios xdpath/reference."""
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

PLUGIN_DIR, WORK, TAG = sys.argv[1], sys.argv[2], sys.argv[3]
RUNS = int(os.environ.get("BENCH_RUNS", "200"))
PAR = int(os.environ.get("BENCH_PARALLEL", "100"))
PAR_REPEAT = int(os.environ.get("BENCH_PARALLEL_REPEAT", "5"))
PREALLOC = int(os.environ.get("BENCH_PREALLOC", "1000"))
CNI_PATH = f"{PLUGIN_DIR}:/usr/lib/cni"
CLONE_NEWNET = 0x40000000


def enter_node_netns():
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{TAG}n") as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")


def conf(kind, net):
    if kind == "xdpath":
        return {"cniVersion": "1.0.0", "name": net, "type": "xdpath",
                "endpointDir": f"{WORK}/{net}/ep",
                "ipam": {"type": "xdpath", "dataDir": f"{WORK}/{net}/ipam",
                         "ranges": [[{"subnet": "10.96.0.0/16"}]]}}
    return {"cniVersion": "1.0.0", "name": net, "type": "bridge", "bridge": f"{TAG}br",
            "isGateway": True, "ipam": {"type": "host-local", "dataDir": f"{WORK}/{net}/ipam",
                                        "ranges": [[{"subnet": "10.97.0.0/16"}]]}}


def plugin_bin(kind):
    return {"xdpath": f"{PLUGIN_DIR}/xdpath", "reference": "/usr/lib/cni/bridge",
            "reference-ipam": "/usr/lib/cni/host-local"}[kind]


def start(kind, net, cmd, cid, netns, ifname="eth0"):
    env = {"CNI_COMMAND": cmd, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
           "CNI_IFNAME": ifname, "CNI_PATH": CNI_PATH, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    p = subprocess.Popen([plugin_bin(kind)], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(json.dumps(conf(kind.replace("-ipam", ""), net)).encode())
    p.stdin.close()
    return p


def run(kind, net, cmd, cid, netns, ifname="eth0"):
    t0 = time.perf_counter()
    p = start(kind, net, cmd, cid, netns, ifname)
    out = p.stdout.read()
    err = p.stderr.read()
    rc = p.wait()
    dt = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{kind} {cmd} {cid} failed rc={rc}: {out!r} {err!r}")
    return dt


def filler(kind):
    """Pre-allocated addresses are reservations without live links, for both
    plugins alike: a Linux bridge takes at most 1024 ports (BR_MAX_PORTS), too
    few for 1000 plus the parallel wave. The reference's come from host-local
    directly; xdpath's from real ADDs into a filler netns that is then
    deleted (its veths go with it, the reservations stay)."""
    return "xdpath" if kind == "xdpath" else "reference-ipam"


def prealloc(kind, net, n, cmd="ADD"):
    for i in range(n):
        run(filler(kind), net, cmd, f"fill{i}", f"/run/netns/{TAG}fill", f"{kind[0]}{i}")


def drop_filler_links():
    subprocess.run(["ip", "netns", "del", f"{TAG}fill"], check=True)
    for _ in range(100):  # the kernel destroys a dead netns' devices asynchronously
        links = subprocess.run(["ip", "-o", "link", "show", "type", "veth"],
                               capture_output=True, text=True).stdout
        if not links:
            return
        time.sleep(0.1)
    raise SystemExit("filler veths did not go away:\n" + links[:2000])


def veth_delete_floor(n):
    """What the kernel alone charges to delete a pod's veth pair (one `ip link
    del`, exec included like a plugin's): the floor under any synchronous DEL."""
    ts = []
    for i in range(n):
        subprocess.run(["ip", "link", "add", f"{TAG}v", "type", "veth", "peer", "name", "eth0",
                        "netns", f"{TAG}p0"], check=True)
        t0 = time.perf_counter()
        subprocess.run(["ip", "link", "del", f"{TAG}v"], check=True)
        ts.append(time.perf_counter() - t0)
    return ts


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def latency(nets):
    res = {k: {"add": [], "del": []} for k in nets}
    kinds = list(nets)
    for i in range(RUNS):
        for kind in (kinds if i % 2 == 0 else kinds[::-1]):  # interleave, alternate order
            res[kind]["add"].append(run(kind, nets[kind], "ADD", f"lat{i}", f"/run/netns/{TAG}p0"))
            res[kind]["del"].append(run(kind, nets[kind], "DEL", f"lat{i}", f"/run/netns/{TAG}p0"))
    return res


def parallel(kind, net, rep):
    def wave(cmd):
        t0 = time.perf_counter()
        ps = [start(kind, net, cmd, f"par{rep}-{i}", f"/run/netns/{TAG}p{i}") for i in range(PAR)]
        bad = [p for p in ps if p.wait() != 0]
        dt = time.perf_counter() - t0
        if bad:
            raise SystemExit(f"{kind} parallel {cmd}: {len(bad)} failed: {bad[0].stdout.read()!r}")
        for p in ps:
            p.stdout.close()
            p.stderr.close()
        return dt
    return wave("ADD"), wave("DEL")


def main():
    enter_node_netns()
    rows = []
    for pre in (0, PREALLOC):
        nets = {"xdpath": f"xb{pre}", "reference": f"rb{pre}"}
        if pre:
            for kind, net in nets.items():
                prealloc(kind, net, pre)
            drop_filler_links()
        lat = latency(nets)
        par = {k: {"add": [], "del": []} for k in nets}
        for rep in range(PAR_REPEAT):
            for kind in (list(nets) if rep % 2 == 0 else list(nets)[::-1]):
                a, d = parallel(kind, nets[kind], rep)
                par[kind]["add"].append(a)
                par[kind]["del"].append(d)
        for metric, get in (("ADD median", lambda k: statistics.median(lat[k]["add"])),
                            ("ADD p99", lambda k: p99(lat[k]["add"])),
                            ("DEL median", lambda k: statistics.median(lat[k]["del"])),
                            ("DEL p99", lambda k: p99(lat[k]["del"])),
                            (f"{PAR} parallel ADD wall", lambda k: statistics.median(par[k]["add"])),
                            (f"{PAR} parallel DEL wall", lambda k: statistics.median(par[k]["del"]))):
            x, r = get("xdpath") * 1000, get("reference") * 1000
            rows.append((pre, metric, x, r, x / r))
        if not pre:
            floor = statistics.median(veth_delete_floor(min(RUNS, 100))) * 1000
            r = statistics.median(lat["reference"]["del"]) * 1000
            rows.append((pre, "veth delete alone", floor, r, floor / r))
        if pre:
            for kind, net in nets.items():
                prealloc(kind, net, pre, "DEL")
    print(f"\nCNI benchmark: {RUNS} sequential ADD/DEL per plugin, parallel x{PAR} repeated "
          f"{PAR_REPEAT}x; reference = bridge + host-local (Debian), same run, interleaved")
    print("prealloc: addresses reserved in the IPAM store, without live links, for both")
    print(f"{'prealloc':>8}  {'metric':<24} {'xdpath ms':>10} {'reference ms':>13} {'ratio':>7}")
    for pre, metric, x, r, ratio in rows:
        print(f"{pre:>8}  {metric:<24} {x:>10.2f} {r:>13.2f} {ratio:>7.2f}x")
    for pre, m, x, r, ratio in rows:
        if pre and m != "veth delete alone":
            xs = [row[2] for row in rows if row[0] == 0 and row[1] == m][0]
            print(f"xdpath {m} at {pre} allocated vs 0: {x / xs:.2f}x")


if __name__ == "__main__":
    main()
