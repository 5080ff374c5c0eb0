#!/usr/bin/env python3
"""Generate test/conformance/cases.json, the NetworkPolicy conformance cases
that scripts/netpol-conformance runs on a sandbox cluster.

    test/conformance/gen_cases.py            write cases.json next to this file
    test/conformance/gen_cases.py --check    exit 1 if cases.json is not what
                                             this script generates (hand edits)
    test/conformance/gen_cases.py --list     print the case names
    test/conformance/gen_cases.py -o FILE    write elsewhere

The world (the upstream e2e suite's): namespaces x, y, z labelled
kubernetes.io/metadata.name=<name>; pods a, b, c in each labelled pod=<name>;
every pod serves TCP and UDP on 80 and 81 with container ports named
serve-80-tcp, serve-80-udp, serve-81-tcp, serve-81-udp.

Output format:

    {"cases": [{"name": "...", "steps": [{
        "apply":  [NetworkPolicy, ...],          # same ns/name replaces
        "delete": ["ns/name", ...],
        "namespaceLabels": {"y": {"k": "v" | null}},   # merged, null removes
        "podLabels": {"x/a": {"k": "v" | null}},
        "probes": [{"protocol": "TCP" | "UDP", "port": 80 | 81}, ...],
        "expected": {"x/a": {"x/a": true, "x/b": false, ...}, ...}}]}]}

Only "probes" and "expected" are always present. The runner applies a step's
changes in the order delete, namespaceLabels, podLabels, apply; label changes
persist across the steps of a case and every case starts clean (no policies,
original labels). expected[client][server] covers all 9x9 pairs; self pairs
are not judged and are always true. Every probe of a step is judged against
the step's one matrix, so a step only groups probes whose matrices agree.
Policies may hold placeholders the runner substitutes once pods have IPs:
{{podIP NS/POD}}, {{hostCIDR NS/POD}} (the IP as /32) and
{{largeCIDR NS/POD}} (the IPv4 /4 holding the IP; all pods share one /16, so
it holds every pod). Policies only use them in ways whose outcome does not
depend on the actual addresses.

Two derivations of every matrix. Each case writes its expectations by hand,
the way the upstream suite does (test/e2e/network/netpol): a Reachability
starts all-true or all-false and is adjusted with expect / expect_peer /
expect_all_ingress / expect_all_egress calls written from reading the
policies. Independently, a reference evaluator of networking.k8s.io/v1
NetworkPolicy semantics (below) replays each case's steps, substitutes the
placeholders with fake pod IPs, and computes the matrix for every probe of
every step, under several fake IP layouts. Generation fails, naming the case,
step, probe, layout and differing cells, unless the two agree everywhere. The
evaluator also validates every policy as the API server would (so no case
relies on an object a real cluster rejects) and every step as the runner
would.
"""
import argparse
import copy
import ipaddress
import json
import os
import re
import sys

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
ALL = tuple(f"{ns}/{p}" for ns in NAMESPACES for p in PODS)
NS_LABEL = "kubernetes.io/metadata.name"
PORTS = (80, 81)
PROTOCOLS = ("TCP", "UDP")
# (name, containerPort, protocol) of every pod's one container
CONTAINER_PORTS = tuple((f"serve-{port}-{proto.lower()}", port, proto)
                        for port in PORTS for proto in PROTOCOLS)

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")

TCP80, TCP81, UDP80, UDP81 = ("TCP", 80), ("TCP", 81), ("UDP", 80), ("UDP", 81)


class GenError(Exception):
    pass


# ===========================================================================
# Policy builders (plain dicts, exactly what goes into the JSON)
# ===========================================================================

def netpol(ns, name, pod_selector, ingress=None, egress=None, types=None):
    """A NetworkPolicy; ingress/egress/types None = the field is omitted
    ([] = present but empty)."""
    spec = {"podSelector": pod_selector}
    if types is not None:
        spec["policyTypes"] = list(types)
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def sel(match_labels=None, *exprs):
    """A label selector; sel() is the empty selector {} (matches all)."""
    d = {}
    if match_labels is not None:
        d["matchLabels"] = dict(match_labels)
    if exprs:
        d["matchExpressions"] = list(exprs)
    return d


def In(key, *values):
    return {"key": key, "operator": "In", "values": list(values)}


def NotIn(key, *values):
    return {"key": key, "operator": "NotIn", "values": list(values)}


def Exists(key):
    return {"key": key, "operator": "Exists"}


def DoesNotExist(key):
    return {"key": key, "operator": "DoesNotExist"}


def pod_is(name):
    return sel({"pod": name})


def ns_is(name):
    return sel({NS_LABEL: name})


def peer(pods=None, nss=None):
    """A peer with a podSelector and/or a namespaceSelector."""
    d = {}
    if pods is not None:
        d["podSelector"] = pods
    if nss is not None:
        d["namespaceSelector"] = nss
    return d


def ipblock(cidr, *except_):
    b = {"cidr": cidr}
    if except_:
        b["except"] = list(except_)
    return {"ipBlock": b}


def port(p=None, protocol=None, end=None):
    d = {}
    if protocol is not None:
        d["protocol"] = protocol
    if p is not None:
        d["port"] = p
    if end is not None:
        d["endPort"] = end
    return d


def ing(frm=None, ports=None):
    """An ingress rule; frm/ports None = omitted."""
    r = {}
    if frm is not None:
        r["from"] = frm
    if ports is not None:
        r["ports"] = ports
    return r


def egr(to=None, ports=None):
    """An egress rule; to/ports None = omitted."""
    r = {}
    if to is not None:
        r["to"] = to
    if ports is not None:
        r["ports"] = ports
    return r


def host(pod):
    return "{{hostCIDR %s}}" % pod


def large(pod):
    return "{{largeCIDR %s}}" % pod


# ===========================================================================
# Hand-written expectations: the upstream Reachability helper
# ===========================================================================

class P:
    """Peer matcher as upstream's Peer: None matches every namespace/pod."""

    def __init__(self, ns=None, pod=None):
        self.ns, self.pod = ns, pod

    def matches(self, key):
        ns, pod = key.split("/")
        return (self.ns is None or self.ns == ns) and (self.pod is None or self.pod == pod)


class Reachability:
    def __init__(self, default):
        self.m = {c: {s: bool(default) for s in ALL} for c in ALL}

    def expect(self, client, server, connected):
        self.m[client][server] = connected

    def expect_all_ingress(self, pod, connected):
        for c in ALL:
            self.m[c][pod] = connected

    def expect_all_egress(self, pod, connected):
        for s in ALL:
            self.m[pod][s] = connected

    def expect_peer(self, frm, to, connected):
        for c in ALL:
            if frm.matches(c):
                for s in ALL:
                    if to.matches(s):
                        self.m[c][s] = connected

    def matrix(self):
        """The 9x9 matrix, self pairs (not judged) true."""
        return {c: {s: (True if c == s else self.m[c][s]) for s in ALL} for c in ALL}


# ===========================================================================
# Cases
# ===========================================================================

class Case:
    def __init__(self, name):
        self.name = name
        self.steps = []

    def step(self, reach, probes, apply=(), delete=(), pod_labels=None, ns_labels=None):
        st = {}
        if apply:
            st["apply"] = copy.deepcopy(list(apply))
        if delete:
            st["delete"] = list(delete)
        if pod_labels:
            st["podLabels"] = copy.deepcopy(pod_labels)
        if ns_labels:
            st["namespaceLabels"] = copy.deepcopy(ns_labels)
        st["probes"] = [{"protocol": proto, "port": p} for proto, p in probes]
        st["expected"] = reach.matrix()
        self.steps.append(st)

    def to_json(self):
        return {"name": self.name, "steps": self.steps}


CASE_FUNCS = []


def case(name):
    def register(fn):
        CASE_FUNCS.append((name, fn))
        return fn
    return register


def all_true():
    return Reachability(True)


# --- upstream "NetworkPolicy between server and client" (TCP) --------------

E2E = "e2e: "


@case(E2E + "should support a 'default-deny-ingress' policy")
def _(c):
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    c.step(r, [TCP80, TCP81, UDP80],
           apply=[netpol("x", "deny-ingress", sel(), types=["Ingress"])])


@case(E2E + "should support a 'default-deny-all' policy")
def _(c):
    # Upstream's older shape: deny all, but allow egress UDP/53 (DNS).
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    r.expect_peer(P("x"), P(), False)
    c.step(r, [TCP80, UDP80, UDP81],
           apply=[netpol("x", "deny-all-tcp-allow-dns", sel(), ingress=[],
                         egress=[egr(ports=[port(53, "UDP")])],
                         types=["Egress", "Ingress"])])


@case(E2E + "should enforce policy to allow traffic from pods within server namespace "
      "based on PodSelector")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/b", "x/a", True)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "x-a-allows-x-b", pod_is("a"),
                         ingress=[ing([peer(pod_is("b"))])], types=["Ingress"])])


@case(E2E + "should enforce policy to allow ingress traffic for a target")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", True)
    r.expect_all_ingress("x/b", False)
    r.expect_all_ingress("x/c", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "deny-all", sel(), types=["Ingress"]),
                  netpol("x", "allow-all-to-a", pod_is("a"),
                         ingress=[ing([peer(sel(), sel())])], types=["Ingress"])])


@case(E2E + "should enforce policy to allow ingress traffic from pods in all namespaces")
def _(c):
    r = all_true()
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-from-another-ns", pod_is("a"),
                         ingress=[ing([peer(nss=sel({}))])], types=["Ingress"])])


@case(E2E + "should enforce policy to allow traffic only from a different namespace, "
      "based on NamespaceSelector")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P("x", "a"), False)
    r.expect_peer(P("z"), P("x", "a"), False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-client-a-via-ns-selector", pod_is("a"),
                         ingress=[ing([peer(nss=ns_is("y"))])], types=["Ingress"])])


@case(E2E + "should enforce policy based on PodSelector with MatchExpressions")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/b", "x/a", True)
    c.step(r, [TCP80],
           apply=[netpol("x", "x-a-allows-x-b", pod_is("a"),
                         ingress=[ing([peer(sel(None, In("pod", "b")))])],
                         types=["Ingress"])])


@case(E2E + "should enforce policy based on NamespaceSelector with MatchExpressions")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P("x", "a"), False)
    r.expect_peer(P("z"), P("x", "a"), False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-ns-y-match-selector", pod_is("a"),
                         ingress=[ing([peer(nss=sel(None, In(NS_LABEL, "y")))])],
                         types=["Ingress"])])


@case(E2E + "should enforce policy based on PodSelector or NamespaceSelector")
def _(c):
    r = all_true()
    r.expect("x/a", "x/a", False)
    r.expect("x/c", "x/a", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-ns-y-match-selector", pod_is("a"),
                         ingress=[ing([peer(nss=sel(None, NotIn(NS_LABEL, "x"))),
                                       peer(pod_is("b"))])],
                         types=["Ingress"])])


@case(E2E + "should enforce policy based on PodSelector and NamespaceSelector")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("y/b", "x/a", True)
    r.expect("z/b", "x/a", True)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-ns-y-podselector-and-nsselector", pod_is("a"),
                         ingress=[ing([peer(pod_is("b"), sel(None, NotIn(NS_LABEL, "x")))])],
                         types=["Ingress"])])


@case(E2E + "should enforce policy based on Multiple PodSelectors and NamespaceSelectors")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P("x", "a"), False)
    r.expect("y/a", "x/a", False)
    r.expect("z/a", "x/a", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-ns-y-z-pod-b-c", pod_is("a"),
                         ingress=[ing([peer(sel(None, In("pod", "b", "c")),
                                            sel(None, NotIn(NS_LABEL, "x")))])],
                         types=["Ingress"])])


@case(E2E + "should enforce policy based on any PodSelectors")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/b", "x/a", True)
    r.expect("x/c", "x/a", True)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-ns-x-pod-b-c", pod_is("a"),
                         ingress=[ing([peer(pod_is("b")), peer(pod_is("c"))])],
                         types=["Ingress"])])


@case(E2E + "should enforce policy to allow traffic only from a pod in a different namespace "
      "based on PodSelector and NamespaceSelector")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("y/a", "x/a", True)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-ns-y-pod-a-via-namespace-pod-selector", pod_is("a"),
                         ingress=[ing([peer(pod_is("a"), ns_is("y"))])], types=["Ingress"])])


@case(E2E + "should enforce policy based on Ports")
def _(c):
    r81 = all_true()
    r81.expect_peer(P("x"), P("x", "a"), False)
    r81.expect_peer(P("y"), P("x", "a"), True)
    r81.expect_peer(P("z"), P("x", "a"), False)
    c.step(r81, [TCP81],
           apply=[netpol("x", "allow-client-a-via-ns-selector", pod_is("a"),
                         ingress=[ing([peer(nss=ns_is("y"))], [port(81, "TCP")])],
                         types=["Ingress"])])
    # not port 81/TCP: nobody reaches x/a
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80, UDP81, UDP80])


@case(E2E + "should enforce multiple, stacked policies with overlapping podSelectors")
def _(c):
    def allow():
        r = all_true()
        r.expect_peer(P("x"), P("x", "a"), False)
        r.expect_peer(P("y"), P("x", "a"), True)
        r.expect_peer(P("z"), P("x", "a"), False)
        return r
    c.step(allow(), [TCP81],
           apply=[netpol("x", "allow-client-a-via-ns-selector", pod_is("a"),
                         ingress=[ing([peer(nss=ns_is("y"))], [port(81, "TCP")])],
                         types=["Ingress"])])
    deny = all_true()
    deny.expect_all_ingress("x/a", False)
    c.step(deny, [TCP80])
    c.step(allow(), [TCP80, TCP81],
           apply=[netpol("x", "allow-client-a-via-ns-selector-80", pod_is("a"),
                         ingress=[ing([peer(nss=ns_is("y"))], [port(80, "TCP")])],
                         types=["Ingress"])])


@case(E2E + "should support allow-all policy")
def _(c):
    # policyTypes omitted: Ingress; `ingress: [{}]` admits everything
    c.step(all_true(), [TCP80, TCP81, UDP80],
           apply=[netpol("x", "allow-all", sel({}), ingress=[ing()])])


@case(E2E + "should allow ingress access on one named port")
def _(c):
    c.step(all_true(), [TCP81],
           apply=[netpol("x", "allow-all", sel({}),
                         ingress=[ing(ports=[port("serve-81-tcp")])], types=["Ingress"])])
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    c.step(r, [TCP80, UDP81])


@case(E2E + "should allow ingress access from namespace on one named port")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P("x", "a"), False)
    r.expect_peer(P("z"), P("x", "a"), False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-client-a-via-ns-selector-80", pod_is("a"),
                         ingress=[ing([peer(nss=ns_is("y"))],
                                      [port("serve-80-tcp", "TCP")])],
                         types=["Ingress"])])
    fail = all_true()
    fail.expect_all_ingress("x/a", False)
    c.step(fail, [TCP81, UDP80])


@case(E2E + "should allow egress access on one named port")
def _(c):
    c.step(all_true(), [TCP80],
           apply=[netpol("x", "allow-egress", sel({}),
                         egress=[egr(ports=[port("serve-80-tcp")])], types=["Egress"])])
    r = all_true()
    r.expect_peer(P("x"), P(), False)
    c.step(r, [TCP81, UDP80])


@case(E2E + "should enforce updated policy")
def _(c):
    c.step(all_true(), [TCP81],
           apply=[netpol("x", "allow-all-mutate-to-deny-all", sel({}), ingress=[ing()],
                         types=["Ingress"])])
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    c.step(r, [TCP81],
           apply=[netpol("x", "allow-all-mutate-to-deny-all", sel({}), ingress=[],
                         types=["Ingress"])])


@case(E2E + "should allow ingress access from updated namespace")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-client-a-via-ns-selector", pod_is("a"),
                         ingress=[ing([peer(nss=sel({"ns2": "updated"}))])],
                         types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect_peer(P("y"), P(), True)
    c.step(r, [TCP80], ns_labels={"y": {"ns2": "updated"}})
    # and the label going away stops the match again
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80], ns_labels={"y": {"ns2": None}})


@case(E2E + "should allow ingress access from updated pod")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-client-a-via-pod-selector", pod_is("a"),
                         ingress=[ing([peer(sel({"pod": "b", "pod2": "updated"}))])],
                         types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/b", "x/a", True)
    c.step(r, [TCP80], pod_labels={"x/b": {"pod2": "updated"}})
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80], pod_labels={"x/b": {"pod2": None}})


@case(E2E + "should deny ingress from pods on other namespaces")
def _(c):
    r = all_true()
    r.expect_peer(P("y"), P("x"), False)
    r.expect_peer(P("z"), P("x"), False)
    c.step(r, [TCP80],
           apply=[netpol("x", "deny-empty-policy", sel(),
                         ingress=[ing([peer(sel({}))])])])


@case(E2E + "should deny ingress access to updated pod")
def _(c):
    c.step(all_true(), [TCP80],
           apply=[netpol("x", "deny-ingress-via-label-selector", sel({"target": "isolated"}),
                         types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80], pod_labels={"x/a": {"target": "isolated"}})
    c.step(all_true(), [TCP80], pod_labels={"x/a": {"target": None}})


@case(E2E + "should deny egress from pods based on PodSelector")
def _(c):
    r = all_true()
    r.expect_all_egress("x/a", False)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "deny-egress-pod-a", pod_is("a"), types=["Egress"])])


@case(E2E + "should deny egress from all pods in a namespace")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P(), False)
    c.step(r, [TCP80, UDP80],
           apply=[netpol("x", "deny-egress-ns-x", sel(), egress=[], types=["Egress"])])


@case(E2E + "should work with Ingress, Egress specified together")
def _(c):
    r80 = all_true()
    r80.expect_all_ingress("x/a", False)
    r80.expect("x/b", "x/a", True)
    c.step(r80, [TCP80],
           apply=[netpol("x", "allow-client-a-via-pod-selector", pod_is("a"),
                         ingress=[ing([peer(pod_is("b"))])],
                         egress=[egr(ports=[port(80)])],
                         types=["Egress", "Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect_all_egress("x/a", False)
    r.expect("x/b", "x/a", True)
    c.step(r, [TCP81, UDP80])


@case(E2E + "should support denying of egress traffic on the client side "
      "(even if the server explicitly allows this traffic)")
def _(c):
    from_xa = [ing([peer(pod_is("a"), ns_is("x"))])]
    r = all_true()
    r.expect_peer(P("x", "a"), P(), False)
    r.expect_peer(P(), P("y", "a"), False)
    r.expect_peer(P("x", "a"), P("y", "a"), True)
    r.expect_peer(P(), P("y", "b"), False)
    c.step(r, [TCP80, UDP80],
           apply=[netpol("x", "allow-to-ns-y-pod-a", pod_is("a"),
                         egress=[egr([peer(pod_is("a"), ns_is("y"))])], types=["Egress"]),
                  netpol("y", "allow-from-xa-on-ya-match-selector", pod_is("a"),
                         ingress=from_xa, types=["Ingress"]),
                  netpol("y", "allow-from-xa-on-yb-match-selector", pod_is("b"),
                         ingress=from_xa, types=["Ingress"])])


@case(E2E + "should enforce egress policy allowing traffic to a server in a different "
      "namespace based on PodSelector and NamespaceSelector")
def _(c):
    r = all_true()
    r.expect_all_egress("x/a", False)
    r.expect("x/a", "y/a", True)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-to-ns-y-pod-a", pod_is("a"),
                         egress=[egr([peer(pod_is("a"), ns_is("y"))]),
                                 egr(ports=[port(53, "UDP")])],
                         types=["Egress"])])


@case(E2E + "should enforce ingress policy allowing any port traffic to a server on a "
      "specific protocol")
def _(c):
    c.step(all_true(), [TCP80, TCP81],
           apply=[netpol("x", "allow-ingress-by-proto", pod_is("a"),
                         ingress=[ing(ports=[port(protocol="TCP")])])])
    r = all_true()
    r.expect_peer(P(), P("x", "a"), False)
    c.step(r, [UDP80, UDP81])


@case(E2E + "should enforce multiple ingress policies with ingress allow-all policy "
      "taking precedence")
def _(c):
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    c.step(r, [TCP81, UDP80],
           apply=[netpol("x", "allow-ingress-port-80", sel({}),
                         ingress=[ing(ports=[port(80)])], types=["Ingress"])])
    c.step(all_true(), [TCP81, UDP80],
           apply=[netpol("x", "allow-ingress", sel({}), ingress=[ing()], types=["Ingress"])])


@case(E2E + "should enforce multiple egress policies with egress allow-all policy "
      "taking precedence")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P(), False)
    c.step(r, [TCP81],
           apply=[netpol("x", "allow-egress-port-80", sel({}),
                         egress=[egr(ports=[port(80)])], types=["Egress"])])
    c.step(all_true(), [TCP81],
           apply=[netpol("x", "allow-egress", sel({}), egress=[egr()], types=["Egress"])])


@case(E2E + "should stop enforcing policies after they are deleted")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P(), False)
    r.expect_peer(P(), P("x"), False)
    c.step(r, [TCP80],
           apply=[netpol("x", "deny-all", sel(), types=["Ingress", "Egress"])])
    c.step(all_true(), [TCP80, UDP81], delete=["x/deny-all"])


@case(E2E + "should allow egress access to server in CIDR block")
def _(c):
    r = all_true()
    r.expect_all_egress("x/a", False)
    r.expect("x/a", "y/b", True)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "allow-client-a-via-cidr-egress-rule", pod_is("a"),
                         egress=[egr([ipblock(host("y/b"))])], types=["Egress"])])


@case(E2E + "should enforce except clause while egress access to server in CIDR block")
def _(c):
    r = all_true()
    r.expect("x/a", "x/b", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-client-a-via-cidr-egress-rule", pod_is("a"),
                         egress=[egr([ipblock(large("x/b"), host("x/b"))])],
                         types=["Egress"])])


@case(E2E + "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed")
def _(c):
    r = all_true()
    r.expect("x/a", "x/b", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-client-a-via-cidr-egress-rule", pod_is("a"),
                         egress=[egr([ipblock(large("x/b"), host("x/b"))])],
                         types=["Egress"])])
    # upstream updates the same policy to allow only x/b's /32
    r = all_true()
    r.expect_all_egress("x/a", False)
    r.expect("x/a", "x/b", True)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-client-a-via-cidr-egress-rule", pod_is("a"),
                         egress=[egr([ipblock(host("x/b"))])], types=["Egress"])])


@case(E2E + "should enforce policies to check ingress and egress policies can be "
      "controlled independently based on PodSelector")
def _(c):
    c.step(all_true(), [TCP80],
           apply=[netpol("x", "allow-egress-for-target", pod_is("a"), egress=[egr()],
                         types=["Egress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "deny-ingress-via-label-selector", pod_is("a"),
                         types=["Ingress"])])


@case(E2E + "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the "
      "plugin doesn't support SCTP")
def _(c):
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    c.step(r, [TCP81, UDP81],
           apply=[netpol("x", "deny-ingress", sel(), types=["Ingress"]),
                  netpol("x", "allow-only-sctp-ingress-on-port-81", pod_is("a"),
                         ingress=[ing(ports=[port(81, "SCTP")])], types=["Ingress"])])


@case(E2E + "should properly isolate pods that are selected by a policy allowing SCTP, "
      "even if the plugin doesn't support SCTP")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP81, TCP80, UDP80],
           apply=[netpol("x", "allow-only-sctp-ingress-on-port-80", pod_is("a"),
                         ingress=[ing(ports=[port(80, "SCTP")])], types=["Ingress"])])


@case(E2E + "should not allow access by TCP when a policy specifies only UDP")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP81, TCP80, UDP80],
           apply=[netpol("x", "allow-only-udp-ingress-on-port-81", pod_is("a"),
                         ingress=[ing(ports=[port(81, "UDP")])], types=["Ingress"])])
    c.step(all_true(), [UDP81])


@case(E2E + "should enforce policy to allow traffic based on NamespaceSelector with "
      "MatchLabels using default ns label")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P("x", "a"), False)
    r.expect_peer(P("z"), P("x", "a"), False)
    c.step(r, [TCP80, UDP80],
           apply=[netpol("x", "allow-client-a-via-ns-selector-for-immutable-ns-label",
                         pod_is("a"), ingress=[ing([peer(nss=ns_is("y"))])],
                         types=["Ingress"])])


@case(E2E + "should enforce policy based on NamespaceSelector with MatchExpressions "
      "using default ns label")
def _(c):
    r = all_true()
    r.expect_peer(P("x", "a"), P("y"), False)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "allow-ns-y-match-selector-for-immutable-ns-label", pod_is("a"),
                         egress=[egr([peer(nss=sel(None, NotIn(NS_LABEL, "y")))])],
                         types=["Egress"])])


# upstream's port range tests use ports 111-116; the same shapes on 80/81
@case(E2E + "should enforce policy to allow ingress traffic using port range")
def _(c):
    c.step(all_true(), [TCP80, TCP81],
           apply=[netpol("x", "allow-ingress-use-port-range", pod_is("a"),
                         ingress=[ing(ports=[port(80, end=81)])], types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [UDP80, UDP81])     # the range's protocol defaults to TCP
    # a range starting above 80 excludes 80
    c.step(all_true(), [TCP81],
           apply=[netpol("x", "allow-ingress-use-port-range", pod_is("a"),
                         ingress=[ing(ports=[port(81, end=82)])], types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80])


@case(E2E + "should enforce policy to allow egress traffic using port range")
def _(c):
    c.step(all_true(), [TCP81],
           apply=[netpol("x", "allow-egress-use-port-range", pod_is("a"),
                         egress=[egr(ports=[port(81, end=82)])], types=["Egress"])])
    r = all_true()
    r.expect_all_egress("x/a", False)
    c.step(r, [TCP80, UDP81])


# --- upstream "NetworkPolicy between server and client using UDP" ----------

E2E_UDP = "e2e-udp: "


@case(E2E_UDP + "should support a 'default-deny-ingress' policy")
def _(c):
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    c.step(r, [UDP80],
           apply=[netpol("x", "deny-all", sel(), types=["Ingress"])])


@case(E2E_UDP + "should enforce policy based on Ports")
def _(c):
    r = all_true()
    r.expect_peer(P("x"), P("x", "a"), False)
    r.expect_peer(P("z"), P("x", "a"), False)
    c.step(r, [UDP81],
           apply=[netpol("x", "allow-ingress-on-port-81-ns-x", pod_is("a"),
                         ingress=[ing([peer(nss=ns_is("y"))], [port(81, "UDP")])],
                         types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP81, UDP80])


@case(E2E_UDP + "should enforce policy to allow traffic only from a pod in a different "
      "namespace based on PodSelector and NamespaceSelector")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("y/a", "x/a", True)
    c.step(r, [UDP80],
           apply=[netpol("x", "allow-ns-y-pod-a-via-namespace-pod-selector", pod_is("a"),
                         ingress=[ing([peer(pod_is("a"), ns_is("y"))])], types=["Ingress"])])


# --- cases of our own --------------------------------------------------------

EXT = "ext: "


@case(EXT + "policyTypes omitted with an egress section isolates both directions")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/b", "x/a", True)
    r.expect_all_egress("x/a", False)
    r.expect_peer(P("x", "a"), P("y"), True)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "in-from-b-out-to-y", pod_is("a"),
                         ingress=[ing([peer(pod_is("b"))])],
                         egress=[egr([peer(nss=ns_is("y"))])])])


@case(EXT + "policyTypes omitted with an empty egress list is Ingress only")
def _(c):
    # the API server defaults policyTypes to [Ingress] (+ Egress only when
    # there are egress rules): x/a is ingress-isolated, its egress is open
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80, UDP80],
           apply=[netpol("x", "empty-egress-list", pod_is("a"), egress=[])])


@case(EXT + "policyTypes Egress ignores the ingress rules")
def _(c):
    r = all_true()
    r.expect_peer(P("x", "a"), P("y"), False)
    r.expect_peer(P("x", "a"), P("z"), False)
    c.step(r, [TCP80, UDP80],
           apply=[netpol("x", "egress-only", pod_is("a"),
                         ingress=[ing([peer(pod_is("b"))])],
                         egress=[egr([peer(sel())])], types=["Egress"])])


@case(EXT + "policyTypes Ingress ignores the egress rules")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/c", "x/a", True)
    c.step(r, [TCP81, UDP80],
           apply=[netpol("x", "ingress-only", pod_is("a"),
                         ingress=[ing([peer(pod_is("c"))])],
                         egress=[egr([peer(pod_is("b"))])], types=["Ingress"])])


@case(EXT + "ingress allow-all with policyTypes Ingress, Egress and no egress rules "
      "denies egress")
def _(c):
    r = all_true()
    r.expect_all_egress("x/a", False)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "open-in-closed-out", pod_is("a"), ingress=[ing()],
                         types=["Ingress", "Egress"])])


@case(EXT + "podSelector matchExpressions Exists and DoesNotExist follow pod label changes")
def _(c):
    pol = netpol("x", "isolate-targets", sel(None, Exists("target")),
                 ingress=[ing([peer(sel(None, DoesNotExist("client")))])],
                 types=["Ingress"])
    c.step(all_true(), [TCP80], apply=[pol])       # no pod has a target label
    r = all_true()
    r.expect_all_ingress("x/b", False)
    r.expect("x/a", "x/b", True)
    c.step(r, [TCP80, UDP81],
           pod_labels={"x/b": {"target": "yes"}, "x/c": {"client": "yes"}})
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect_all_ingress("x/b", False)
    r.expect_peer(P("x"), P("x", "a"), True)
    r.expect_peer(P("x"), P("x", "b"), True)
    c.step(r, [TCP80],
           pod_labels={"x/c": {"client": None}, "x/a": {"target": "1"}})


@case(EXT + "NotIn matches pods without the key, across namespaces")
def _(c):
    # selects y/c only; admits every pod in every namespace unless role=blocked
    pol = netpol("y", "allow-unblocked", sel(None, NotIn("pod", "a", "b")),
                 ingress=[ing([peer(sel(None, NotIn("role", "blocked")), sel())])])
    c.step(all_true(), [TCP80], apply=[pol])
    r = all_true()
    r.expect("x/a", "y/c", False)
    c.step(r, [TCP80, UDP81],
           pod_labels={"x/a": {"role": "blocked"}, "z/b": {"role": "ok"}})


@case(EXT + "matchLabels and matchExpressions are ANDed; a policy in y only affects y")
def _(c):
    r = all_true()
    r.expect_all_ingress("y/b", False)
    r.expect_peer(P("z"), P("y", "b"), True)
    c.step(r, [TCP81, UDP80],
           apply=[netpol("y", "and-selector",
                         sel(None, In("pod", "a", "b"), NotIn("pod", "a")),
                         ingress=[ing([peer(nss=sel({NS_LABEL: "z"}, Exists(NS_LABEL)))])])])
    # updated to a podSelector no pod satisfies: nothing is isolated
    c.step(all_true(), [TCP81],
           apply=[netpol("y", "and-selector", sel({"pod": "a"}, In("pod", "b", "c")),
                         ingress=[ing([peer(nss=ns_is("z"))])])])


@case(EXT + "rules are ORed, each with its own peers and ports")
def _(c):
    pol = netpol("x", "two-rules", pod_is("a"),
                 ingress=[ing([peer(pod_is("b"))], [port(80, "TCP")]),
                          ing([peer(nss=ns_is("y"))], [port(81, "UDP"), port(80, "UDP")])],
                 types=["Ingress"])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/b", "x/a", True)
    c.step(r, [TCP80], apply=[pol])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP81])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect_peer(P("y"), P("x", "a"), True)
    c.step(r, [UDP80, UDP81])


@case(EXT + "a rule without from admits every namespace on its ports")
def _(c):
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    r.expect_all_ingress("x/a", True)
    c.step(r, [TCP80, UDP80],
           apply=[netpol("x", "deny-ingress", sel(), ingress=[], types=["Ingress"]),
                  netpol("x", "any-peer-port-80", pod_is("a"),
                         ingress=[ing(ports=[port(80, "TCP"), port(80, "UDP")])])])
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    c.step(r, [TCP81, UDP81])


@case(EXT + "both the client's egress and the server's ingress must allow")
def _(c):
    r = all_true()
    r.expect_all_egress("x/a", False)
    r.expect_peer(P("x", "a"), P("y"), True)
    r.expect_all_ingress("y/b", False)
    r.expect_peer(P("z"), P("y", "b"), True)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "egress-to-y", pod_is("a"),
                         egress=[egr([peer(nss=ns_is("y"))])], types=["Egress"]),
                  netpol("y", "ingress-from-z", pod_is("b"),
                         ingress=[ing([peer(nss=ns_is("z"))])], types=["Ingress"])])


@case(EXT + "replies of allowed connections pass the isolated reverse direction")
def _(c):
    # x/a -> y/b is allowed (x/a's egress and y/b's ingress are open); its
    # replies go out of y/b (egress-isolated) and into x/a (ingress-isolated)
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect_all_egress("y/b", False)
    c.step(r, [TCP80, UDP80, TCP81, UDP81],
           apply=[netpol("x", "deny-ingress-a", pod_is("a"), types=["Ingress"]),
                  netpol("y", "deny-egress-b", pod_is("b"), types=["Egress"])])


@case(EXT + "policies in namespace y do not affect pods in x")
def _(c):
    r = all_true()
    r.expect_peer(P("y"), P(), False)
    r.expect_all_ingress("y/a", False)
    c.step(r, [TCP80, UDP80],
           apply=[netpol("y", "deny-ingress-pod-a", pod_is("a"), types=["Ingress"]),
                  netpol("y", "deny-egress-all", sel(), types=["Egress"])])


@case(EXT + "empty namespaceSelector with a podSelector selects that pod in every namespace")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect_peer(P(None, "c"), P("x", "a"), True)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "allow-c-anywhere", pod_is("a"),
                         ingress=[ing([peer(pod_is("c"), sel())])])])


@case(EXT + "ingress ipBlock with except, then updated to a single host")
def _(c):
    r = all_true()
    r.expect("y/b", "x/a", False)
    r.expect("z/c", "x/a", False)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "ingress-cidr", pod_is("a"),
                         ingress=[ing([ipblock(large("x/a"), host("y/b"), host("z/c"))])],
                         types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("y/c", "x/a", True)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "ingress-cidr", pod_is("a"),
                         ingress=[ing([ipblock(host("y/c"))])], types=["Ingress"])])


@case(EXT + "egress ipBlock with except on UDP only")
def _(c):
    r = all_true()
    r.expect("x/a", "y/a", False)
    c.step(r, [UDP80, UDP81],
           apply=[netpol("x", "egress-cidr-udp", pod_is("a"),
                         egress=[egr([ipblock(large("x/a"), host("y/a"))],
                                     [port(protocol="UDP")])],
                         types=["Egress"])])
    r = all_true()
    r.expect_all_egress("x/a", False)
    c.step(r, [TCP80])


@case(EXT + "an address in one policy's except and another policy's cidr is allowed")
def _(c):
    r = all_true()
    r.expect("x/a", "x/b", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "cidr-except-b", pod_is("a"),
                         egress=[egr([ipblock(large("x/b"), host("x/b"))])],
                         types=["Egress"])])
    c.step(all_true(), [TCP80, UDP80],
           apply=[netpol("x", "cidr-only-b", pod_is("a"),
                         egress=[egr([ipblock(host("x/b"))])], types=["Egress"])])
    r = all_true()
    r.expect_all_egress("x/a", False)
    r.expect("x/a", "x/b", True)
    c.step(r, [TCP80], delete=["x/cidr-except-b"])


@case(EXT + "an address in an ipBlock except is still allowed by a podSelector peer")
def _(c):
    r = all_true()
    r.expect("x/a", "y/b", False)
    c.step(r, [TCP80, UDP80],
           apply=[netpol("x", "cidr-or-pod-b", pod_is("a"),
                         egress=[egr([ipblock(large("x/b"), host("x/b"), host("y/b")),
                                      peer(pod_is("b"))])],
                         types=["Egress"])])


@case(EXT + "an except carved from one rule's ipBlock does not mask another rule's "
      "covering ipBlock")
def _(c):
    # rule 1: TCP/80 to the /4 except x/b; rule 2: UDP (any port) to the /4
    r = all_true()
    r.expect("x/a", "x/b", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "two-blocks", pod_is("a"),
                         egress=[egr([ipblock(large("x/b"), host("x/b"))], [port(80, "TCP")]),
                                 egr([ipblock(large("x/a"))], [port(protocol="UDP")])],
                         types=["Egress"])])
    c.step(all_true(), [UDP80, UDP81])
    r = all_true()
    r.expect_all_egress("x/a", False)
    c.step(r, [TCP81])


@case(EXT + "egress namespaceSelector follows namespace label changes")
def _(c):
    r = all_true()
    r.expect_all_egress("x/a", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "egress-to-blue", pod_is("a"),
                         egress=[egr([peer(nss=sel({"team": "blue"}))])], types=["Egress"])])
    r = all_true()
    r.expect_all_egress("x/a", False)
    r.expect_peer(P("x", "a"), P("z"), True)
    c.step(r, [TCP80, UDP80], ns_labels={"z": {"team": "blue"}})
    r = all_true()
    r.expect_all_egress("x/a", False)
    r.expect_peer(P("x", "a"), P("y"), True)
    c.step(r, [TCP80], ns_labels={"z": {"team": "red"}, "y": {"team": "blue"}})
    r = all_true()
    r.expect_all_egress("x/a", False)
    r.expect_peer(P("x", "a"), P("y"), True)
    r.expect_peer(P("x", "a"), P("x"), True)
    c.step(r, [TCP80], ns_labels={"x": {"team": "blue"}})


@case(EXT + "updating a policy's podSelector moves the isolation; deleting it restores "
      "allow-all")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "deny-target", pod_is("a"), types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/b", False)
    c.step(r, [TCP80, UDP81],
           apply=[netpol("x", "deny-target", pod_is("b"), types=["Ingress"])])
    c.step(all_true(), [TCP80], delete=["x/deny-target"])


@case(EXT + "deleting one of two policies keeps the other's allowances")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/b", "x/a", True)
    r.expect("x/c", "x/a", True)
    c.step(r, [TCP80],
           apply=[netpol("x", "allow-from-b", pod_is("a"), ingress=[ing([peer(pod_is("b"))])]),
                  netpol("x", "allow-from-c", pod_is("a"), ingress=[ing([peer(pod_is("c"))])])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("x/c", "x/a", True)
    c.step(r, [TCP80, UDP80], delete=["x/allow-from-b"])
    c.step(all_true(), [TCP80], delete=["x/allow-from-c"])


@case(EXT + "named port of a UDP container port under protocol UDP")
def _(c):
    c.step(all_true(), [UDP81],
           apply=[netpol("x", "named-udp-81", pod_is("a"),
                         ingress=[ing(ports=[port("serve-81-udp", "UDP")])])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [UDP80, TCP81, TCP80])


@case(EXT + "named port naming a port of another protocol allows nothing")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80, TCP81, UDP80, UDP81],
           apply=[netpol("x", "named-mismatch", pod_is("a"),
                         ingress=[ing(ports=[port("serve-80-udp"),
                                             port("serve-81-tcp", "UDP")])],
                         types=["Ingress"])])


@case(EXT + "egress named UDP port")
def _(c):
    c.step(all_true(), [UDP80],
           apply=[netpol("x", "egress-named-udp", sel(),
                         egress=[egr(ports=[port("serve-80-udp", "UDP")])],
                         types=["Egress"])])
    r = all_true()
    r.expect_peer(P("x"), P(), False)
    c.step(r, [TCP80, UDP81])


@case(EXT + "UDP port range from one namespace")
def _(c):
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    r.expect_peer(P("z"), P("x"), True)
    c.step(r, [UDP80],
           apply=[netpol("x", "udp-range", sel(),
                         ingress=[ing([peer(nss=ns_is("z"))], [port(79, "UDP", end=80)])],
                         types=["Ingress"])])
    r = all_true()
    r.expect_peer(P(), P("x"), False)
    c.step(r, [UDP81, TCP80])


@case(EXT + "peer with both selectors follows pod label changes in several namespaces")
def _(c):
    r = all_true()
    r.expect_all_ingress("x/a", False)
    c.step(r, [TCP80],
           apply=[netpol("x", "from-y-clients", pod_is("a"),
                         ingress=[ing([peer(sel({"role": "client"}), ns_is("y"))])],
                         types=["Ingress"])])
    r = all_true()
    r.expect_all_ingress("x/a", False)
    r.expect("y/b", "x/a", True)
    c.step(r, [TCP80, UDP81],
           pod_labels={"y/b": {"role": "client"}, "z/b": {"role": "client"},
                       "x/c": {"role": "client"}})


def build_cases():
    cases, seen = [], set()
    for name, fn in CASE_FUNCS:
        if name in seen:
            raise GenError(f"duplicate case name {name!r}")
        seen.add(name)
        c = Case(name)
        fn(c)
        if not c.steps:
            raise GenError(f"{name}: no steps")
        cases.append(c)
    return cases


# ===========================================================================
# Reference evaluator (independent of the hand-written matrices)
# ===========================================================================

# Fake IPv4 layouts, each with every pod in one /16 as on the sandbox. The
# placeholders must give the same outcome under all of them.
def _layout(fmt, order):
    return {pod: fmt.format(i) for pod, i in zip(ALL, order)}


IP_LAYOUTS = {
    "10.244/16 in order": _layout("10.244.{}.7", range(9)),
    "10.88/16 reversed": _layout("10.88.3.{}", range(200, 191, -1)),
    "172.16/16 shuffled": _layout("172.16.{}.2", (5, 1, 8, 3, 0, 7, 2, 6, 4)),
    "192.168/16 one /24": _layout("192.168.0.{}", range(11, 20)),
}

PLACEHOLDER = re.compile(r"\{\{\s*(podIP|hostCIDR|largeCIDR)\s+([^\s}]+)\s*\}\}")


def substitute(obj, ips):
    def sub(m):
        kind, key = m.group(1), m.group(2)
        if key not in ips:
            raise GenError(f"placeholder {m.group(0)}: no pod {key}")
        ip = ipaddress.IPv4Address(ips[key])
        if kind == "podIP":
            return str(ip)
        if kind == "hostCIDR":
            return f"{ip}/32"
        return str(ipaddress.IPv4Network((int(ip), 4), strict=False))
    return json.loads(PLACEHOLDER.sub(sub, json.dumps(obj)))


# -- validation as the API server does it (the subset these cases touch) ----

LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?"
                       r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _check(cond, where, msg):
    if not cond:
        raise GenError(f"{where}: {msg}")


def _only(d, keys, where):
    _check(isinstance(d, dict), where, "not an object")
    extra = set(d) - set(keys)
    _check(not extra, where, f"unknown field(s) {sorted(extra)}")


def validate_selector(s, where):
    _only(s, ("matchLabels", "matchExpressions"), where)
    for k, v in (s.get("matchLabels") or {}).items():
        _check(LABEL_KEY.match(k) and isinstance(v, str) and LABEL_VALUE.match(v),
               where, f"bad label {k}={v!r}")
    for e in s.get("matchExpressions") or []:
        _only(e, ("key", "operator", "values"), where)
        _check(LABEL_KEY.match(e.get("key", "")), where, "bad matchExpressions key")
        op, vals = e.get("operator"), e.get("values")
        if op in ("In", "NotIn"):
            _check(isinstance(vals, list) and vals, where, f"{op} needs values")
        elif op in ("Exists", "DoesNotExist"):
            _check(not vals, where, f"{op} takes no values")
        else:
            raise GenError(f"{where}: bad operator {op!r}")


def valid_port_name(s):
    return (0 < len(s) <= 15 and re.fullmatch(r"[a-z0-9-]+", s) and re.search(r"[a-z]", s)
            and not s.startswith("-") and not s.endswith("-") and "--" not in s)


def _cidr(s, where):
    """A CIDR as the API server accepts it (no host bits set, here)."""
    try:
        return ipaddress.ip_network(s, strict=True)
    except (TypeError, ValueError) as e:
        raise GenError(f"{where}: bad cidr {s!r}: {e}") from None


def validate_policy(pol, ips):
    """pol before substitution; validates the substituted object."""
    where = "policy ?"
    _only(pol, ("apiVersion", "kind", "metadata", "spec"), where)
    _check(pol.get("apiVersion") == "networking.k8s.io/v1" and pol.get("kind") == "NetworkPolicy",
           where, "not a networking.k8s.io/v1 NetworkPolicy")
    meta = pol.get("metadata") or {}
    _only(meta, ("name", "namespace"), where)
    where = f"policy {meta.get('namespace')}/{meta.get('name')}"
    _check(meta.get("namespace") in NAMESPACES, where, "namespace must be x, y or z")
    _check(re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", meta.get("name", "")) and
           len(meta["name"]) <= 253, where, "bad name")
    pol = substitute(pol, ips)
    spec = pol["spec"]
    _only(spec, ("podSelector", "policyTypes", "ingress", "egress"), where)
    _check("podSelector" in spec, where, "podSelector is required")
    validate_selector(spec["podSelector"], where + " podSelector")
    types = spec.get("policyTypes")
    if types is not None:
        _check(isinstance(types, list) and len(types) <= 2 and len(set(types)) == len(types)
               and all(t in ("Ingress", "Egress") for t in types), where, "bad policyTypes")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            w = f"{where} {direction}[{i}]"
            _only(rule, (peers_key, "ports"), w)
            for p in rule.get(peers_key) or []:
                _only(p, ("podSelector", "namespaceSelector", "ipBlock"), w)
                _check(p, w, "a peer needs a selector or an ipBlock")
                if "ipBlock" in p:
                    _check(len(p) == 1, w, "ipBlock excludes the selectors")
                    b = p["ipBlock"]
                    _only(b, ("cidr", "except"), w)
                    net = _cidr(b.get("cidr"), w)
                    for e in b.get("except") or []:
                        en = _cidr(e, w)
                        _check(en.version == net.version and en.subnet_of(net) and
                               en.prefixlen > net.prefixlen, w,
                               f"except {e} is not strictly inside {b['cidr']}")
                for k in ("podSelector", "namespaceSelector"):
                    if k in p:
                        validate_selector(p[k], f"{w} {k}")
            for pp in rule.get("ports") or []:
                _only(pp, ("protocol", "port", "endPort"), w)
                _check(pp.get("protocol", "TCP") in ("TCP", "UDP", "SCTP"), w, "bad protocol")
                v = pp.get("port")
                if isinstance(v, str):
                    _check(valid_port_name(v), w, f"bad port name {v!r}")
                    _check("endPort" not in pp, w, "endPort with a named port")
                elif v is not None:
                    _check(isinstance(v, int) and 1 <= v <= 65535, w, f"bad port {v!r}")
                    if "endPort" in pp:
                        _check(isinstance(pp["endPort"], int) and v <= pp["endPort"] <= 65535,
                               w, "bad endPort")
                else:
                    _check("endPort" not in pp, w, "endPort without port")


# -- the semantics -----------------------------------------------------------

def selector_matches(s, labels):
    for k, v in (s.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in s.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In":
            ok = k in labels and labels[k] in vals
        elif op == "NotIn":
            ok = k not in labels or labels[k] not in vals
        elif op == "Exists":
            ok = k in labels
        else:  # DoesNotExist
            ok = k not in labels
        if not ok:
            return False
    return True


def policy_types(spec):
    """policyTypes, defaulted as the API server does: Ingress, plus Egress when
    there are egress rules (len(spec.egress) > 0)."""
    types = spec.get("policyTypes")
    if types:
        return set(types)
    return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}


class World:
    """Labels and policies as the runner keeps them during one case."""

    def __init__(self):
        self.ns_labels = {ns: {NS_LABEL: ns} for ns in NAMESPACES}
        self.pod_labels = {p: {"pod": p.split("/")[1]} for p in ALL}
        self.policies = {}          # "ns/name" -> policy as written (placeholders)

    def apply_step(self, st, where):
        for key in st.get("delete") or []:
            if key not in self.policies:
                raise GenError(f"{where}: delete {key}: no such policy")
            del self.policies[key]
        for ns, change in (st.get("namespaceLabels") or {}).items():
            _check(ns in self.ns_labels, where, f"no namespace {ns}")
            self._merge(self.ns_labels[ns], change, where)
        for key, change in (st.get("podLabels") or {}).items():
            _check(key in self.pod_labels, where, f"no pod {key}")
            self._merge(self.pod_labels[key], change, where)
        for pol in st.get("apply") or []:
            for ips in IP_LAYOUTS.values():
                try:
                    validate_policy(pol, ips)
                except GenError as e:
                    raise GenError(f"{where}: {e}") from None
            m = pol["metadata"]
            self.policies[f"{m['namespace']}/{m['name']}"] = pol

    @staticmethod
    def _merge(labels, change, where):
        for k, v in change.items():
            _check(LABEL_KEY.match(k) and (v is None or LABEL_VALUE.match(v)), where,
                   f"bad label change {k}={v!r}")
            if v is None:
                labels.pop(k, None)
            else:
                labels[k] = v

    # ---

    def _peer_selects(self, p, pol_ns, pod, ips):
        if "ipBlock" in p:
            ip = ipaddress.ip_address(ips[pod])
            b = p["ipBlock"]
            return (ip in ipaddress.ip_network(b["cidr"]) and
                    not any(ip in ipaddress.ip_network(e) for e in b.get("except") or []))
        ns = pod.split("/")[0]
        if "namespaceSelector" in p:
            if not selector_matches(p["namespaceSelector"], self.ns_labels[ns]):
                return False
        elif ns != pol_ns:
            return False
        if "podSelector" in p:
            return selector_matches(p["podSelector"], self.pod_labels[pod])
        return True

    @staticmethod
    def _ports_match(ports, proto, num):
        """Ports of a rule against a connection to `num`/`proto` of a pod
        (every pod has the same CONTAINER_PORTS)."""
        if not ports:
            return True
        for pp in ports:
            pproto = pp.get("protocol", "TCP")
            if pproto != proto:
                continue
            v = pp.get("port")
            if v is None:
                return True
            if isinstance(v, int):
                if v <= num <= pp.get("endPort", v):
                    return True
            elif any(name == v and cport == num and cproto == pproto
                     for name, cport, cproto in CONTAINER_PORTS):
                return True
        return False

    def _direction_allows(self, direction, subject, other, proto, num, policies, ips):
        """Does `subject`'s `direction` ("Ingress"/"Egress") allow the
        connection with `other` (the client for ingress, the server for
        egress) to port num/proto of the server?"""
        ns = subject.split("/")[0]
        rules_key, peers_key = (("ingress", "from") if direction == "Ingress"
                                else ("egress", "to"))
        selecting = [p for p in policies
                     if p["metadata"]["namespace"] == ns
                     and selector_matches(p["spec"]["podSelector"], self.pod_labels[subject])
                     and direction in policy_types(p["spec"])]
        if not selecting:
            return True                     # not isolated in this direction
        for p in selecting:
            for rule in p["spec"].get(rules_key) or []:
                peers = rule.get(peers_key) or []
                if peers and not any(self._peer_selects(pe, ns, other, ips) for pe in peers):
                    continue
                if self._ports_match(rule.get("ports") or [], proto, num):
                    return True
        return False

    def matrix(self, proto, num, ips):
        policies = [substitute(p, ips) for p in self.policies.values()]
        out = {}
        for c in ALL:
            out[c] = {}
            for s in ALL:
                out[c][s] = c == s or (
                    self._direction_allows("Egress", c, s, proto, num, policies, ips) and
                    self._direction_allows("Ingress", s, c, proto, num, policies, ips))
        return out


def _fmt(v):
    return "allow" if v else "deny"


def verify(cases):
    """Replays every case with the evaluator; raises GenError on the first
    case whose hand-written expectations differ anywhere."""
    for ips in IP_LAYOUTS.values():
        nets = {str(ipaddress.IPv4Network((int(ipaddress.IPv4Address(ip)), 4), strict=False))
                for ip in ips.values()}
        _check(len(nets) == 1 and len(set(ips.values())) == len(ALL), "IP layouts",
               "pods must have distinct IPs in one /4")
    for c in cases:
        world = World()
        for i, st in enumerate(c.steps):
            where = f"case {c.name!r} step {i}"
            world.apply_step(st, where)
            exp = st["expected"]
            _check(set(exp) == set(ALL) and all(set(exp[k]) == set(ALL) for k in ALL),
                   where, "expected must cover all 9x9 pairs")
            _check(st["probes"], where, "no probes")
            for pr in st["probes"]:
                _check(pr["protocol"] in PROTOCOLS and pr["port"] in PORTS, where,
                       f"bad probe {pr}")
                for lname, ips in IP_LAYOUTS.items():
                    got = world.matrix(pr["protocol"], pr["port"], ips)
                    diff = [f"    {cl} -> {sv}: hand-written {_fmt(exp[cl][sv])}, "
                            f"evaluator {_fmt(got[cl][sv])}"
                            for cl in ALL for sv in ALL if cl != sv and exp[cl][sv] != got[cl][sv]]
                    if diff:
                        raise GenError(f"{where} probe {pr['protocol']}/{pr['port']} "
                                       f"(IPs {lname}): {len(diff)} cells differ\n"
                                       + "\n".join(diff))


# ===========================================================================
# Output
# ===========================================================================

def render(cases):
    return json.dumps({"cases": [c.to_json() for c in cases]}, indent=1) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default=DEFAULT_OUT, help="default: %(default)s")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true",
                   help="exit 1 if the output file differs from what would be generated")
    g.add_argument("--list", action="store_true", help="print the case names")
    args = ap.parse_args()
    try:
        cases = build_cases()
        verify(cases)
    except GenError as e:
        print(f"gen_cases: {e}", file=sys.stderr)
        return 2
    if args.list:
        for c in cases:
            print(c.name)
        return 0
    text = render(cases)
    if args.check:
        try:
            with open(args.output) as f:
                current = f.read()
        except OSError as e:
            print(f"gen_cases: {e}", file=sys.stderr)
            return 1
        if current != text:
            print(f"gen_cases: {args.output} is not what {os.path.basename(__file__)} "
                  "generates; run it to regenerate (do not edit the JSON by hand)",
                  file=sys.stderr)
            return 1
        print(f"{args.output}: up to date ({len(cases)} cases)")
        return 0
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.output)
    print(f"wrote {args.output}: {len(cases)} cases, "
          f"{sum(len(c.steps) for c in cases)} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
