"""The test-only Kubernetes API server (test/k8s/apiserver.py), exercised
through the real kubectl and through plain HTTPS. Everything binds to
127.0.0.1 on a free port; the server and its temp dirs go at teardown."""
import http.client
import json
import os
import queue
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "test", "k8s"))
import apiserver  # noqa: E402

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
TOKEN = "xdpath-test-token"


@pytest.fixture(autouse=True, scope="module")
def kubectl_present():
    """Missing kubectl fails these tests; it never skips them."""
    if not os.access(KUBECTL, os.X_OK):
        pytest.fail(f"{KUBECTL} is missing: run scripts/install-deps.sh")


NETPOL = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-deny
  namespace: {ns}
spec:
  podSelector:
    matchLabels: {{app: web}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {{role: {role}}}
"""


class Env:
    def __init__(self, srv, tmp):
        self.srv, self.tmp = srv, tmp
        self.kubeconfig = srv.kubeconfig(os.path.join(tmp, "kubeconfig"))
        self.ctx = ssl.create_default_context(cafile=srv.ca_path)

    def kubectl(self, *args, check=True, kubeconfig=None, stdin=None):
        env = dict(os.environ, KUBECONFIG=kubeconfig or self.kubeconfig, HOME=self.tmp)
        p = subprocess.run([KUBECTL, "--cache-dir", os.path.join(self.tmp, "cache"),
                            "--request-timeout=10s", *args],
                           capture_output=True, text=True, env=env, timeout=30, input=stdin)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def http(self, method, path, body=None, ctype="application/json", token=TOKEN):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.srv.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def watch(self, path):
        """Start a watch in a thread; returns (queue of events, closer).
        None in the queue marks the end of the stream."""
        u = urllib.parse.urlsplit(self.srv.url)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.ctx, timeout=20)
        conn.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Transfer-Encoding") == "chunked"
        q = queue.Queue()

        def pump():
            try:
                for line in iter(resp.readline, b""):
                    if line.strip():
                        q.put(json.loads(line))
            except Exception:  # noqa: BLE001 - the test closes the connection under us
                pass
            q.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return q, Closer(conn)


class Closer:
    """Ends a watch: shuts the socket down first, since closing the response
    while the reader thread holds its buffer lock would block."""

    def __init__(self, conn):
        self.conn, self.sock = conn, conn.sock

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def next_event(q, want=None, timeout=10):
    """The next event (of type `want`, skipping others) or fail."""
    end = time.monotonic() + timeout
    while True:
        ev = q.get(timeout=max(0.01, end - time.monotonic()))
        if ev is None:
            raise AssertionError("watch stream ended")
        if want is None or ev["type"] == want:
            return ev


@pytest.fixture
def k8s():
    tmp = tempfile.mkdtemp(prefix="xdpath-k8s-test-")
    srv = apiserver.ApiServer(token=TOKEN, bookmark_interval=0.5)
    try:
        srv.start()
        yield Env(srv, tmp)
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    assert srv.tmpdir is None


def test_kubectl_version_and_namespaces(k8s):
    out = k8s.kubectl("version", "-o", "json").stdout
    assert json.loads(out)["serverVersion"]["gitVersion"] == apiserver.SERVER_VERSION["gitVersion"]
    assert "default" in k8s.kubectl("get", "ns").stdout
    assert "namespace/team-a created" in k8s.kubectl("create", "namespace", "team-a").stdout
    ns = json.loads(k8s.kubectl("get", "ns", "team-a", "-o", "json").stdout)
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team-a"
    p = k8s.kubectl("create", "namespace", "team-a", check=False)
    assert p.returncode != 0 and "AlreadyExists" in p.stderr

    k8s.kubectl("label", "namespace", "team-a", "team=x")
    assert k8s.srv.get("namespaces", "team-a")["metadata"]["labels"]["team"] == "x"
    p = k8s.kubectl("label", "namespace", "team-a", "team=y", check=False)
    assert p.returncode != 0 and "--overwrite is false" in p.stderr
    k8s.kubectl("label", "namespace", "team-a", "team=y", "--overwrite")
    assert k8s.srv.get("namespaces", "team-a")["metadata"]["labels"]["team"] == "y"
    k8s.kubectl("label", "namespace", "team-a", "team-")
    assert "team" not in k8s.srv.get("namespaces", "team-a")["metadata"]["labels"]


def test_kubectl_apply_networkpolicy(k8s):
    k8s.kubectl("create", "namespace", "np")
    f = os.path.join(k8s.tmp, "np.yaml")
    with open(f, "w") as fh:
        fh.write(NETPOL.format(ns="np", role="frontend"))
    assert "networkpolicy.networking.k8s.io/web-deny created" in k8s.kubectl("apply", "-f", f).stdout
    rv1 = k8s.srv.get("networkpolicies", "web-deny", "np")["metadata"]["resourceVersion"]
    assert "web-deny unchanged" in k8s.kubectl("apply", "-f", f).stdout
    assert k8s.srv.get("networkpolicies", "web-deny", "np")["metadata"]["resourceVersion"] == rv1
    with open(f, "w") as fh:
        fh.write(NETPOL.format(ns="np", role="backend"))
    assert "web-deny configured" in k8s.kubectl("apply", "-f", f).stdout
    got = json.loads(k8s.kubectl("get", "networkpolicy", "-n", "np", "-o", "json").stdout)
    assert len(got["items"]) == 1
    pol = got["items"][0]
    assert pol["kind"] == "NetworkPolicy"
    assert pol["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {"role": "backend"}
    assert pol["metadata"]["generation"] == 2
    assert int(pol["metadata"]["resourceVersion"]) > int(rv1)
    # server-side apply is a replace here
    assert "serverside-applied" in k8s.kubectl("apply", "--server-side", "-f", f).stdout
    assert "web-deny" in k8s.kubectl("get", "netpol", "-A").stdout
    assert 'networkpolicy.networking.k8s.io "web-deny" deleted' in \
        k8s.kubectl("delete", "networkpolicy", "web-deny", "-n", "np").stdout
    assert k8s.srv.find("networkpolicies", "web-deny", "np") is None
    p = k8s.kubectl("get", "networkpolicy", "web-deny", "-n", "np", check=False)
    assert p.returncode != 0 and "NotFound" in p.stderr
    # namespace deletion takes its objects along
    k8s.kubectl("apply", "-f", f)
    k8s.kubectl("delete", "namespace", "np")
    assert k8s.srv.list("networkpolicies") == []


def test_kubectl_apply_xdpfilter(k8s):
    f = os.path.join(ROOT, "deploy", "examples", "xdpfilter-sack-panic.yaml")
    assert "xdpfilter.xdpath.io/sack-panic created" in k8s.kubectl("apply", "-f", f).stdout
    assert "sack-panic" in k8s.kubectl("get", "xdpfilters").stdout
    obj = json.loads(k8s.kubectl("get", "xf", "sack-panic", "-o", "json").stdout)
    assert obj["spec"] == {"catalog": "CVE-2019-11477"}
    assert "namespace" not in obj["metadata"]
    assert "unchanged" in k8s.kubectl("apply", "-f", f).stdout


def test_kubectl_wrong_token(k8s):
    bad = k8s.srv.kubeconfig(os.path.join(k8s.tmp, "bad-kubeconfig"), token="wrong")
    p = k8s.kubectl("get", "ns", check=False, kubeconfig=bad)
    assert p.returncode != 0
    assert "Unauthorized" in p.stderr or "credentials" in p.stderr
    code, st = k8s.http("GET", "/api/v1/namespaces", token=None)
    assert code == 401 and st["reason"] == "Unauthorized" and st["code"] == 401


def test_not_found_status(k8s):
    code, st = k8s.http("GET", "/api/v1/namespaces/default/pods/nope")
    assert code == 404
    assert st == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": 'pods "nope" not found', "reason": "NotFound",
                  "details": {"name": "nope", "group": "", "kind": "pods"}, "code": 404}
    code, st = k8s.http("GET", "/apis/xdpath.io/v1alpha1/xdpfilters/nope")
    assert code == 404 and st["message"] == 'xdpfilters.xdpath.io "nope" not found'
    code, st = k8s.http("GET", "/api/v1/nosuchthings")
    assert code == 404 and st["kind"] == "Status"
    code, st = k8s.http("GET", "/apis")
    assert {g["name"] for g in st["groups"]} == {"networking.k8s.io", "xdpath.io"}
    code, st = k8s.http("GET", "/apis/xdpath.io/v1alpha1")
    assert st["resources"][0]["name"] == "xdpfilters" and st["resources"][0]["namespaced"] is False


def _pod(name, node, **labels):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]}}


def test_list_selectors_and_pagination(k8s):
    for ns in ("s1", "s2"):
        k8s.srv.create("namespaces", {"metadata": {"name": ns}})
    k8s.srv.create("pods", _pod("a", "node1", app="web", tier="fe"), "s1")
    k8s.srv.create("pods", _pod("b", "node2", app="web"), "s1")
    k8s.srv.create("pods", _pod("c", "node1", app="db"), "s2")
    code, st = k8s.http("POST", "/api/v1/namespaces/s2/pods", _pod("d", "node2"))
    assert code == 201 and st["metadata"]["namespace"] == "s2" and st["metadata"]["uid"]

    def names(q, ns=None):
        base = f"/api/v1/namespaces/{ns}/pods" if ns else "/api/v1/pods"
        code, lst = k8s.http("GET", base + "?" + urllib.parse.urlencode(q))
        assert code == 200, lst
        assert lst["kind"] == "PodList"
        return sorted(i["metadata"]["name"] for i in lst["items"])

    assert names({}) == ["a", "b", "c", "d"]
    assert names({}, "s1") == ["a", "b"]
    assert names({"labelSelector": "app=web"}) == ["a", "b"]
    assert names({"labelSelector": "app!=web"}) == ["c", "d"]
    assert names({"labelSelector": "app in (web,db),tier"}) == ["a"]
    assert names({"labelSelector": "app notin (web)"}) == ["c", "d"]
    assert names({"labelSelector": "!tier,app"}) == ["b", "c"]
    assert names({"fieldSelector": "spec.nodeName=node1"}) == ["a", "c"]
    assert names({"fieldSelector": "spec.nodeName=node2,metadata.namespace=s2"}) == ["d"]
    assert names({"fieldSelector": "metadata.name!=a", "labelSelector": "app=web"}) == ["b"]
    code, st = k8s.http("GET", "/api/v1/pods?labelSelector=" + urllib.parse.quote("app in web"))
    assert code == 400 and st["reason"] == "BadRequest"

    seen, cont, pages = [], "", 0
    while True:
        q = {"limit": "3"} if not cont else {"limit": "3", "continue": cont}
        code, lst = k8s.http("GET", "/api/v1/pods?" + urllib.parse.urlencode(q))
        pages += 1
        seen += [i["metadata"]["name"] for i in lst["items"]]
        cont = lst["metadata"].get("continue")
        if not cont:
            break
        assert lst["metadata"]["remainingItemCount"] == 1
    assert pages == 2 and sorted(seen) == ["a", "b", "c", "d"]


def test_update_conflict(k8s):
    code, ns = k8s.http("POST", "/api/v1/namespaces", {"metadata": {"name": "cf"}})
    assert code == 201
    stale = dict(ns, metadata=dict(ns["metadata"], labels={"v": "1"}))
    code, new = k8s.http("PUT", "/api/v1/namespaces/cf", stale)
    assert code == 200 and new["metadata"]["labels"]["v"] == "1"
    assert int(new["metadata"]["resourceVersion"]) > int(ns["metadata"]["resourceVersion"])
    stale["metadata"]["labels"] = {"v": "2"}
    code, st = k8s.http("PUT", "/api/v1/namespaces/cf", stale)
    assert code == 409 and st["reason"] == "Conflict" and st["kind"] == "Status"
    code, st = k8s.http("PATCH", "/api/v1/namespaces/cf", {"metadata": {"labels": {"v": None, "w": "1"}}},
                        ctype="application/merge-patch+json")
    assert code == 200 and st["metadata"]["labels"] == {"kubernetes.io/metadata.name": "cf", "w": "1"}
    code, st = k8s.http("DELETE", "/api/v1/namespaces/cf")
    assert code == 200 and st["metadata"]["name"] == "cf"
    code, st = k8s.http("DELETE", "/api/v1/namespaces/cf")
    assert code == 404


def test_watch_sees_kubectl_changes(k8s):
    code, lst = k8s.http("GET", "/api/v1/namespaces")
    rv = lst["metadata"]["resourceVersion"]
    q, conn = k8s.watch(f"/api/v1/namespaces?watch=1&resourceVersion={rv}&timeoutSeconds=20")
    try:
        k8s.kubectl("create", "namespace", "w1")
        ev = next_event(q)
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "w1"
        k8s.kubectl("label", "namespace", "w1", "team=x")
        ev = next_event(q)
        assert ev["type"] == "MODIFIED" and ev["object"]["metadata"]["labels"]["team"] == "x"
        k8s.kubectl("delete", "namespace", "w1")
        ev = next_event(q)
        assert ev["type"] == "DELETED" and ev["object"]["metadata"]["name"] == "w1"
    finally:
        conn.close()


def test_watch_bookmarks_timeout_and_gone(k8s):
    k8s.srv.create("nodes", {"metadata": {"name": "n1"}})
    # no resourceVersion: synthetic ADDED for what exists, then bookmarks
    t0 = time.monotonic()
    q, conn = k8s.watch("/api/v1/nodes?watch=true&allowWatchBookmarks=true&timeoutSeconds=2")
    try:
        ev = next_event(q)
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "n1"
        bm = next_event(q, "BOOKMARK")
        assert bm["object"]["metadata"] == {"resourceVersion": str(k8s.srv.store.rv)}
        k8s.srv.create("nodes", {"metadata": {"name": "n2"}})
        assert next_event(q)["object"]["metadata"]["name"] == "n2"
        # timeoutSeconds ends the stream cleanly
        while q.get(timeout=10) is not None:
            pass
        assert 1.5 < time.monotonic() - t0 < 6
    finally:
        conn.close()

    old_rv = k8s.srv.get("nodes", "n1")["metadata"]["resourceVersion"]
    k8s.srv.create("nodes", {"metadata": {"name": "n3"}})
    k8s.srv.compact()
    q, conn = k8s.watch(f"/api/v1/nodes?watch=1&resourceVersion={old_rv}")
    try:
        ev = next_event(q)
        assert ev["type"] == "ERROR"
        assert ev["object"]["code"] == 410 and ev["object"]["reason"] == "Expired"
        assert ev["object"]["kind"] == "Status"
        assert q.get(timeout=5) is None
    finally:
        conn.close()

    # a restarted server that lost its history also answers 410
    rv_now = str(k8s.srv.store.rv)
    k8s.srv.restart(keep_state=False)
    assert k8s.srv.find("nodes", "n1") is None
    q, conn = k8s.watch(f"/api/v1/nodes?watch=1&resourceVersion={int(rv_now) - 1}")
    try:
        assert next_event(q)["object"]["code"] == 410
    finally:
        conn.close()
    assert "default" in k8s.kubectl("get", "ns").stdout


def test_restart_keeps_state_and_drops_watches(k8s):
    k8s.kubectl("create", "namespace", "keep")
    code, lst = k8s.http("GET", "/api/v1/namespaces")
    q, conn = k8s.watch(f"/api/v1/namespaces?watch=1&resourceVersion={lst['metadata']['resourceVersion']}")
    try:
        port = k8s.srv.port
        k8s.srv.restart()
        assert q.get(timeout=10) is None       # the stream was cut
        assert k8s.srv.port == port
        assert "keep" in k8s.kubectl("get", "ns").stdout
    finally:
        conn.close()


def test_cli(k8s):
    """The CLI serves until SIGTERM and writes a working kubeconfig."""
    kc = os.path.join(k8s.tmp, "cli-kubeconfig")
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "test", "k8s", "apiserver.py"),
                          "--port", "0", "--token", "cli", "--kubeconfig", kc],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("serving https://127.0.0.1:")
        assert "default" in k8s.kubectl("get", "ns", kubeconfig=kc).stdout
    finally:
        p.terminate()
        assert p.wait(10) == 0
