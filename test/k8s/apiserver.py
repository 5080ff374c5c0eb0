#!/usr/bin/python3
"""A TEST-ONLY Kubernetes API server, Python 3 standard library only (plus
PyYAML when present, for server-side-apply bodies).

It serves the part of the Kubernetes REST API that kubectl and the xdpath
agent use: discovery, namespaces/nodes/pods/events (core v1),
networkpolicies (networking.k8s.io/v1) and xdpfilters (xdpath.io/v1alpha1,
cluster-scoped); create/get/list/update/patch/delete/deletecollection and
watch, over TLS with a CA generated at start-up and bearer-token auth. Errors
are metav1.Status objects with the real API's reasons and codes.

It is a fake: no admission, no defaulting, no validation beyond the object's
identity, no field managers. Strategic merge patches are applied as JSON merge
patches ($-directives dropped; lists replaced), server-side apply replaces the
object (or creates it). /openapi/v2 answers 404; /openapi/v3 serves the
least document that tells kubectl the server validates fields itself
(fieldValidation on each PATCH operation), so plain `kubectl apply` works
(with openapi=False both are 404 and `kubectl apply` needs --validate=false).
Built-in objects that kubectl sends as protobuf (e.g. `kubectl create
namespace`) are decoded for their metadata (and a Namespace's spec) only.

Python use:
    srv = ApiServer(token="t"); srv.start()
    srv.url, srv.ca_path; srv.kubeconfig(path)
    srv.create("pods", obj, namespace="ns"); srv.get(...); srv.delete(...)
    srv.compact(); srv.restart(keep_state=False); srv.stop()
CLI:
    python3 test/k8s/apiserver.py --port N --token T --kubeconfig FILE
"""
import argparse
import base64
import copy
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import yaml  # python3-yaml, only for application/apply-patch+yaml
except ImportError:  # pragma: no cover
    yaml = None

SERVER_VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-xdpath-test",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.4", "compiler": "gc", "platform": "linux/amd64",
}


class Res:
    def __init__(self, group, version, plural, kind, namespaced, short=(), singular=None):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced = namespaced
        self.short = list(short)
        self.singular = singular or kind.lower()

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    def discovery(self):
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        if self.kind == "Namespace":
            verbs.remove("deletecollection")
        d = {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
             "kind": self.kind, "verbs": verbs}
        if self.short:
            d["shortNames"] = self.short
        return d


RESOURCES = [
    Res("", "v1", "namespaces", "Namespace", False, ["ns"]),
    Res("", "v1", "nodes", "Node", False, ["no"]),
    Res("", "v1", "pods", "Pod", True, ["po"]),
    Res("", "v1", "events", "Event", True, ["ev"]),
    Res("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ["netpol"]),
    Res("xdpath.io", "v1alpha1", "xdpfilters", "XdpFilter", False, ["xf"]),
]
BY_GV = {}
for _r in RESOURCES:
    BY_GV.setdefault((_r.group, _r.version), {})[_r.plural] = _r


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            s["details"] = self.details
        return s


def not_found(res, name):
    return ApiError(404, "NotFound", f'{res.plural}{"." + res.group if res.group else ""} "{name}" not found',
                    {"name": name, "group": res.group, "kind": res.plural})


def now_ts():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- selectors

def _split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [t.strip() for t in out if t.strip()]


def parse_label_selector(s):
    """-> list of predicates on a labels dict. Raises ApiError(400)."""
    preds = []
    for term in _split_top(s or ""):
        try:
            if term.startswith("!"):
                k = term[1:].strip()
                preds.append(lambda l, k=k: k not in l)
            elif " notin " in term or " in " in term:
                neg = " notin " in term
                k, vals = term.split(" notin " if neg else " in ", 1)
                vals = vals.strip()
                if not (vals.startswith("(") and vals.endswith(")")):
                    raise ValueError
                vs = {v.strip() for v in vals[1:-1].split(",") if v.strip()}
                k = k.strip()
                if neg:
                    preds.append(lambda l, k=k, vs=vs: l.get(k) not in vs)
                else:
                    preds.append(lambda l, k=k, vs=vs: k in l and l[k] in vs)
            elif "!=" in term:
                k, v = (x.strip() for x in term.split("!=", 1))
                preds.append(lambda l, k=k, v=v: l.get(k) != v)
            elif "=" in term:
                k, v = (x.strip() for x in term.replace("==", "=").split("=", 1))
                preds.append(lambda l, k=k, v=v: l.get(k) == v)
            else:
                k = term.strip()
                if not k or " " in k:
                    raise ValueError
                preds.append(lambda l, k=k: k in l)
        except ValueError:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    return preds


def _field(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    return "" if cur is None else str(cur)


FIELDS = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase",
          "involvedObject.name", "involvedObject.kind", "involvedObject.namespace"}


def parse_field_selector(s):
    preds = []
    for term in _split_top(s or ""):
        neg = "!=" in term
        k, v = (term.split("!=", 1) if neg else term.replace("==", "=").split("=", 1)) \
            if ("=" in term) else (None, None)
        if k is None or k.strip() not in FIELDS:
            raise ApiError(400, "BadRequest",
                           f'"{term}" is not a known field selector: only "metadata.name", '
                           f'"metadata.namespace", "spec.nodeName"')
        k, v = k.strip(), v.strip()
        preds.append((lambda o, k=k, v=v: _field(o, k) != v) if neg
                     else (lambda o, k=k, v=v: _field(o, k) == v))
    return preds


def matches(obj, lpreds, fpreds):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(p(labels) for p in lpreds) and all(p(obj) for p in fpreds)


# ---------------------------------------------------------------- patches

def merge_patch(target, patch, strategic=False):
    """RFC 7386 JSON merge patch; strategic=True drops $-directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if strategic and k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = merge_patch(out.get(k), v, strategic)
        elif strategic and isinstance(v, list):
            out[k] = [merge_patch({}, x, True) if isinstance(x, dict) else x for x in v
                      if not (isinstance(x, dict) and x.get("$patch") == "delete")]
        else:
            out[k] = copy.deepcopy(v)
    return out


# ---------------------------------------------------------------- openapi

def openapi_v3_doc(gvparts):
    """The least OpenAPI v3 group-version document that makes kubectl's
    validation use the server (fieldValidation=Strict): each resource's PATCH
    operation with its group-version-kind and a fieldValidation parameter. No
    schemas: kubectl then computes apply patches from its compiled-in types."""
    if gvparts[:1] == ["api"] and len(gvparts) == 2:
        g, v = "", gvparts[1]
    elif gvparts[:1] == ["apis"] and len(gvparts) == 3:
        g, v = gvparts[1], gvparts[2]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if (g, v) not in BY_GV:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    paths = {}
    base = f"/apis/{g}/{v}" if g else f"/api/{v}"
    for r in BY_GV[(g, v)].values():
        path = base + ("/namespaces/{namespace}" if r.namespaced else "") + f"/{r.plural}/{{name}}"
        gvk = {"group": g, "version": v, "kind": r.kind}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        paths[path] = {m: {"operationId": f"{m}{r.kind}", "x-kubernetes-action": m,
                           "x-kubernetes-group-version-kind": gvk, "parameters": params,
                           "responses": {"200": {"description": "OK"}}}
                       for m in ("get", "put", "patch", "delete")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


# ---------------------------------------------------------------- protobuf

def _pb_fields(buf):
    """Decode one protobuf message into [(field, wiretype, value)]."""
    out, i = [], 0
    def varint():
        nonlocal i
        v = sh = 0
        while True:
            b = buf[i]; i += 1
            v |= (b & 0x7F) << sh; sh += 7
            if not b & 0x80:
                return v
    while i < len(buf):
        key = varint()
        f, wt = key >> 3, key & 7
        if wt == 0:
            out.append((f, wt, varint()))
        elif wt == 2:
            n = varint(); out.append((f, wt, bytes(buf[i:i + n]))); i += n
        elif wt == 1:
            out.append((f, wt, bytes(buf[i:i + 8]))); i += 8
        elif wt == 5:
            out.append((f, wt, bytes(buf[i:i + 4]))); i += 4
        else:
            raise ValueError("bad wire type")
    return out


def _pb_map(raw):
    k = v = ""
    for f, _, val in _pb_fields(raw):
        if f == 1:
            k = val.decode()
        elif f == 2:
            v = val.decode()
    return k, v


def decode_protobuf(raw):
    """kubectl (client-go typed clients) sends built-in objects as
    application/vnd.kubernetes.protobuf. Only what those commands send is
    understood: the runtime.Unknown envelope, ObjectMeta (name, generateName,
    namespace, resourceVersion, labels, annotations, finalizers) and a
    Namespace's spec.finalizers; anything else is refused with 415."""
    if not raw.startswith(b"k8s\x00"):
        raise ValueError("missing k8s protobuf magic")
    api_version = kind = ""
    inner = b""
    for f, _, v in _pb_fields(raw[4:]):
        if f == 1:
            for tf, _, tv in _pb_fields(v):
                if tf == 1:
                    api_version = tv.decode()
                elif tf == 2:
                    kind = tv.decode()
        elif f == 2:
            inner = v
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    md = obj["metadata"]
    names = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion", 5: "uid"}
    for f, wt, v in _pb_fields(inner):
        if f == 1:      # metadata
            for mf, mwt, mv in _pb_fields(v):
                if mf in names:
                    md[names[mf]] = mv.decode()
                elif mf == 11:
                    k, val = _pb_map(mv); md.setdefault("labels", {})[k] = val
                elif mf == 12:
                    k, val = _pb_map(mv); md.setdefault("annotations", {})[k] = val
                elif mf == 14:
                    md.setdefault("finalizers", []).append(mv.decode())
        elif f == 2 and kind == "Namespace":
            spec = obj.setdefault("spec", {})
            for sf, _, sv in _pb_fields(v):
                if sf == 1:
                    spec.setdefault("finalizers", []).append(sv.decode())
        elif f == 2 and v:
            raise ValueError(f"protobuf {kind} bodies are not supported by the test API server; send JSON")
    return obj


# ---------------------------------------------------------------- storage

class Store:
    """Objects keyed (plural, namespace, name) plus a bounded event history
    for watches. All under one condition variable."""

    def __init__(self, history=1000):
        self.cond = threading.Condition()
        self.objects = {}
        self.rv = 0
        self.history = []          # [(rv, type, plural, obj)]
        self.history_max = history
        self.oldest = 0            # watches from rv < oldest get 410 Gone
        self.closed = False

    def _event(self, etype, res, obj):
        self.history.append((self.rv, etype, res.plural, copy.deepcopy(obj)))
        if len(self.history) > self.history_max:
            drop = len(self.history) - self.history_max
            self.oldest = self.history[drop - 1][0] + 1
            del self.history[:drop]
        self.cond.notify_all()

    def compact(self):
        with self.cond:
            self.history.clear()
            self.oldest = self.rv + 1
            # a write is needed for "too old" to be observable with rv == current
            self.cond.notify_all()

    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    def create(self, res, ns, obj):
        with self.cond:
            obj = copy.deepcopy(obj)
            md = obj.setdefault("metadata", {})
            if not md.get("name"):
                if md.get("generateName"):
                    md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
                else:
                    raise ApiError(422, "Invalid",
                                   f"{res.kind} \"\" is invalid: metadata.name: Required value: name or generateName is required")
            if res.namespaced:
                if md.get("namespace") and ns and md["namespace"] != ns:
                    raise ApiError(400, "BadRequest",
                                   "the namespace of the provided object does not match the namespace sent on the request")
                ns = ns or md.get("namespace") or "default"
                if ("namespaces", None, ns) not in self.objects:
                    raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                                   {"name": ns, "kind": "namespaces"})
                md["namespace"] = ns
            else:
                md.pop("namespace", None)
                ns = None
            key = (res.plural, ns, md["name"])
            if key in self.objects:
                raise ApiError(409, "AlreadyExists",
                               f'{res.plural}{"." + res.group if res.group else ""} "{md["name"]}" already exists',
                               {"name": md["name"], "group": res.group, "kind": res.plural})
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_ts()
            md["generation"] = 1
            md.pop("deletionTimestamp", None)
            if res.kind == "Namespace":
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
                obj["status"] = {"phase": "Active"}
                md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
            md["resourceVersion"] = self._next_rv()
            self.objects[key] = obj
            self._event("ADDED", res, obj)
            return copy.deepcopy(obj)

    def _stored(self, res, ns, name):
        """(key, stored object) or 404; call with the lock held."""
        key = (res.plural, ns if res.namespaced else None, name)
        old = self.objects.get(key)
        if old is None:
            raise not_found(res, name)
        return key, old

    def get(self, res, ns, name):
        with self.cond:
            return copy.deepcopy(self._stored(res, ns, name)[1])

    def list(self, res, ns, lpreds=(), fpreds=(), copies=True):
        """copies=False: the stored objects themselves, for serializing only
        (stored objects are replaced, never changed in place); a page of a
        10 000-pod list then costs no deep copy of the other 9 500."""
        with self.cond:
            hits = sorted(((n or "", name), o) for (p, n, name), o in self.objects.items()
                          if p == res.plural and (ns is None or n == ns) and matches(o, lpreds, fpreds))
            items = [copy.deepcopy(o) if copies else o for _, o in hits]
            return items, str(self.rv)

    def update(self, res, ns, name, obj, check_rv=True):
        with self.cond:
            ns = ns if res.namespaced else None
            key, old = self._stored(res, ns, name)
            obj = copy.deepcopy(obj)
            md = obj.setdefault("metadata", {})
            if md.get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
            want = md.get("resourceVersion")
            if check_rv and want and want != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {res.plural}{"." + res.group if res.group else ""} '
                               f'"{name}": the object has been modified; please apply your changes to the '
                               f'latest version and try again',
                               {"name": name, "group": res.group, "kind": res.plural})
            om = old["metadata"]
            md["name"] = name
            if ns:
                md["namespace"] = ns
            else:
                md.pop("namespace", None)
            for k in ("uid", "creationTimestamp"):
                md[k] = om[k]
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            if res.kind == "Namespace":
                obj["status"] = old.get("status", {"phase": "Active"})
                md.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status")}
            md["generation"] = om.get("generation", 1) + (strip(obj) != strip(old))
            md["resourceVersion"] = om["resourceVersion"]
            if obj == old:
                return copy.deepcopy(old)   # no-op writes do not bump resourceVersion
            md["resourceVersion"] = self._next_rv()
            self.objects[key] = obj
            self._event("MODIFIED", res, obj)
            return copy.deepcopy(obj)

    def delete(self, res, ns, name, precond_rv=None, precond_uid=None):
        with self.cond:
            ns = ns if res.namespaced else None
            key, old = self._stored(res, ns, name)
            if (precond_rv and precond_rv != old["metadata"]["resourceVersion"]) or \
                    (precond_uid and precond_uid != old["metadata"]["uid"]):
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {res.plural} "{name}": precondition failed',
                               {"name": name, "group": res.group, "kind": res.plural})
            if res.kind == "Namespace":
                for k in [k for k in self.objects if k[1] == name]:
                    r = next(r for r in RESOURCES if r.plural == k[0])
                    self._delete_key(r, k)
            return self._delete_key(res, key)

    def _delete_key(self, res, key):
        obj = self.objects.pop(key)
        obj["metadata"]["deletionTimestamp"] = now_ts()
        obj["metadata"]["resourceVersion"] = self._next_rv()
        if res.kind == "Namespace":
            obj["status"] = {"phase": "Terminating"}
        self._event("DELETED", res, obj)
        return copy.deepcopy(obj)


# ---------------------------------------------------------------- HTTP

class _in_netns:
    """Within the block, this thread is in the named network namespace (a
    socket made there stays there); None: no change."""
    CLONE_NEWNET = 0x40000000

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        if self.name is None:
            return self
        import ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if self.libc.setns(fd, self.CLONE_NEWNET):
                raise OSError(ctypes.get_errno(), f"setns {self.name}")
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        if self.name is None:
            return False
        try:
            if self.libc.setns(self.home, self.CLONE_NEWNET):
                raise OSError("setns back to the original network namespace failed")
        finally:
            os.close(self.home)
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, api):
        self.api = api
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock = self.api._ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.conns_lock:
            self.conns.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # clients hanging up (kubectl, killed watches) are routine


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xdpath-test-apiserver"

    def log_message(self, fmt, *args):
        if self.server.api.verbose:
            sys.stderr.write("apiserver: " + (fmt % args) + "\n")

    def setup(self):
        try:
            self.request.settimeout(30)
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.request.close()
            raise
        super().setup()

    # -- plumbing
    def _send_json(self, code, body, ctype="application/json"):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, e):
        self._send_json(e.code, e.status())

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return raw

    def _json_body(self, raw=None):
        raw = self._body() if raw is None else raw
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return decode_protobuf(raw)
            except (ValueError, IndexError, UnicodeDecodeError) as e:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {e}")
        try:
            return json.loads(raw or b"{}")
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"the body of the request was in an unknown format: {e}")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        api = self.server.api
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        try:
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {api.token}":
                self._body()
                raise ApiError(401, "Unauthorized", "Unauthorized")
            parts = [p for p in u.path.split("/") if p]
            if method == "GET" and self._discovery(parts):
                return
            self._resource(method, parts, q)
        except ApiError as e:
            self._error(e)
        except (BrokenPipeError, ConnectionError, ssl.SSLError, socket.timeout):
            self.close_connection = True

    # -- discovery
    def _discovery(self, parts):
        p = "/" + "/".join(parts)
        if p == "/version":
            self._send_json(200, SERVER_VERSION)
        elif p == "/api":
            self._send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                  "serverAddressByClientCIDRs": [
                                      {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        elif p == "/apis":
            groups = []
            for g, v in BY_GV:
                if g:
                    gv = {"groupVersion": f"{g}/{v}", "version": v}
                    groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
            self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        elif len(parts) == 2 and parts[0] == "apis":
            g = parts[1]
            vs = [v for (gg, v) in BY_GV if gg == g]
            if not vs:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            gv = {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}
            self._send_json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": g,
                                  "versions": [gv], "preferredVersion": gv})
        elif p == "/api/v1" or (len(parts) == 3 and parts[0] == "apis"):
            g, v = ("", "v1") if p == "/api/v1" else (parts[1], parts[2])
            if (g, v) not in BY_GV:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            self._send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                  "groupVersion": f"{g}/{v}" if g else v,
                                  "resources": [r.discovery() for r in BY_GV[(g, v)].values()]})
        elif p == "/openapi/v3" and self.server.api.openapi:
            self._send_json(200, {"paths": {
                ("api/" if not g else f"apis/{g}/") + v: {
                    "serverRelativeURL": f"/openapi/v3/{'api/' if not g else f'apis/{g}/'}{v}?hash=0"}
                for g, v in BY_GV}})
        elif parts[:2] == ["openapi", "v3"] and self.server.api.openapi:
            self._send_json(200, openapi_v3_doc(parts[2:]))
        elif p in ("/healthz", "/readyz", "/livez"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(data)
        else:
            return False   # /openapi/v2, /openapi/v3 and everything else: 404 below
        return True

    # -- resources
    def _resource(self, method, parts, q):
        api = self.server.api
        if parts[:2] == ["api", "v1"]:
            g, v, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            g, v, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        table = BY_GV.get((g, v))
        if table is None or not rest:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        res = table.get(rest[0])
        if res is None or (ns is not None and not res.namespaced) or len(rest) > 2:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else None
        st = api.store
        if name is None:
            if method == "GET":
                if q.get("watch") in ("1", "true"):
                    return self._watch(res, ns, q)
                return self._list(res, ns, q)
            if method == "POST":
                if res.namespaced and ns is None:
                    raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
                obj = self._json_body()
                self._check_kind(res, obj)
                if q.get("dryRun"):
                    return self._send_json(201, obj)
                return self._send_json(201, st.create(res, ns, obj))
            if method == "DELETE":
                self._body()
                items, _ = st.list(res, ns, parse_label_selector(q.get("labelSelector")),
                                   parse_field_selector(q.get("fieldSelector")))
                out = []
                for it in items:
                    try:
                        out.append(st.delete(res, it["metadata"].get("namespace"), it["metadata"]["name"]))
                    except ApiError:
                        pass
                return self._send_json(200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                                             "metadata": {"resourceVersion": str(st.rv)}, "items": out})
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if res.namespaced and ns is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            if q.get("watch") in ("1", "true"):
                q = dict(q, fieldSelector=",".join(filter(None, [q.get("fieldSelector"), f"metadata.name={name}"])))
                return self._watch(res, ns, q)
            return self._send_json(200, st.get(res, ns, name))
        if method == "PUT":
            obj = self._json_body()
            self._check_kind(res, obj)
            if q.get("dryRun"):
                return self._send_json(200, obj)
            return self._send_json(200, st.update(res, ns, name, obj))
        if method == "PATCH":
            return self._patch(res, ns, name, q)
        if method == "DELETE":
            raw = self._body()
            opts = self._json_body(raw) if raw else {}
            pre = opts.get("preconditions") or {}
            if q.get("dryRun") or opts.get("dryRun"):
                return self._send_json(200, st.get(res, ns, name))
            return self._send_json(200, st.delete(res, ns, name, pre.get("resourceVersion"), pre.get("uid")))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _check_kind(self, res, obj):
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        if obj.get("kind") and obj["kind"] != res.kind:
            raise ApiError(400, "BadRequest",
                           f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                           f"API version ({res.api_version})" if obj.get("apiVersion") != res.api_version
                           else f"kind {obj['kind']} does not match {res.kind}")

    def _patch(self, res, ns, name, q):
        st = self.server.api.store
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        raw = self._body()
        if ctype == "application/apply-patch+yaml":
            try:
                obj = yaml.safe_load(raw) if yaml else json.loads(raw)
            except Exception as e:
                raise ApiError(400, "BadRequest", f"error decoding YAML: {e}")
            self._check_kind(res, obj)
            obj.setdefault("metadata", {})["name"] = name
            with st.cond:
                try:
                    old = st.get(res, ns, name)
                except ApiError:
                    old = None
                if old is None:
                    if q.get("dryRun"):
                        return self._send_json(201, obj)
                    return self._send_json(201, st.create(res, ns, obj))
                md = obj["metadata"]
                md["resourceVersion"] = md.get("resourceVersion") or old["metadata"]["resourceVersion"]
                if "status" not in obj and "status" in old:
                    obj["status"] = old["status"]
                if q.get("dryRun"):
                    return self._send_json(200, obj)
                return self._send_json(200, st.update(res, ns, name, obj))
        if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if ctype == "application/json-patch+json":
                raise ApiError(415, "UnsupportedMediaType",
                               "the test API server does not implement JSON patch (RFC 6902)")
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")
        patch = self._json_body(raw)
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "the patch is not a JSON object")
        with st.cond:
            old = st.get(res, ns, name)
            new = merge_patch(old, patch, strategic=ctype.startswith("application/strategic"))
            md = new.setdefault("metadata", {})
            if "resourceVersion" not in (patch.get("metadata") or {}):
                md["resourceVersion"] = old["metadata"]["resourceVersion"]
            if q.get("dryRun"):
                return self._send_json(200, new)
            return self._send_json(200, st.update(res, ns, name, new))

    def _list(self, res, ns, q):
        st = self.server.api.store
        items, rv = st.list(res, ns, parse_label_selector(q.get("labelSelector")),
                            parse_field_selector(q.get("fieldSelector")), copies=False)
        cont = q.get("continue")
        if cont:
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont.encode()))
                start = tuple(tok["start"])
            except Exception:
                raise ApiError(400, "BadRequest", "continue key is not valid")
            if int(tok["rv"]) < st.oldest:
                raise ApiError(410, "Expired",
                               "The provided continue parameter is too old to display a consistent list result. "
                               "You can start a new list without the continue parameter.")
            rv = tok["rv"]
            items = [o for o in items if (o["metadata"].get("namespace") or "", o["metadata"]["name"]) > start]
        md = {"resourceVersion": rv}
        limit = int(q.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            md["remainingItemCount"] = len(items) - limit
            md["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"rv": rv, "start": [last.get("namespace") or "", last["name"]]}).encode()).decode()
            items = items[:limit]
        self._send_json(200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                              "metadata": md, "items": items})

    def _chunk(self, ev):
        data = json.dumps(ev).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _watch(self, res, ns, q):
        api = self.server.api
        st = api.store
        lpreds = parse_label_selector(q.get("labelSelector"))
        fpreds = parse_field_selector(q.get("fieldSelector"))
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        timeout = float(q.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        rv_s = q.get("resourceVersion") or ""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = False

        def want(plural, obj):
            if plural != res.plural:
                return False
            if ns is not None and obj["metadata"].get("namespace") != ns:
                return False
            return matches(obj, lpreds, fpreds)

        with st.cond:
            initial = []
            if rv_s in ("", "0"):
                initial, _ = st.list(res, ns, lpreds, fpreds)
                pos = st.rv
            else:
                try:
                    pos = int(rv_s)
                except ValueError:
                    pos = -1
                if pos < 0 or pos + 1 < st.oldest or pos > st.rv:
                    gone = ApiError(410, "Expired", f"too old resource version: {rv_s} ({st.oldest})")
                    initial = None
            store_gen = api._gen
        if initial is None:
            self._chunk({"type": "ERROR", "object": gone.status()})
            self._end_chunks()
            return
        for o in initial:
            self._chunk({"type": "ADDED", "object": o})
        last_bm = time.monotonic()
        while True:
            with st.cond:
                evs = [e for e in st.history if e[0] > pos]
                if not evs and not api._stopping and api._gen == store_gen:
                    wait = min(deadline - time.monotonic(),
                               (last_bm + api.bookmark_interval - time.monotonic()) if bookmarks else 3600)
                    if wait > 0:
                        st.cond.wait(max(wait, 0.01))
                    evs = [e for e in st.history if e[0] > pos]
                if evs and evs[0][0] > pos + 1 and pos + 1 < st.oldest:
                    evs = None   # compacted under us
                cur = st.rv
            if api._stopping or api._gen != store_gen:
                self.close_connection = True
                return          # server going away: drop the stream like a dying apiserver
            if evs is None:
                self._chunk({"type": "ERROR", "object": ApiError(
                    410, "Expired", f"too old resource version: {pos} ({st.oldest})").status()})
                break
            for rv, etype, plural, obj in evs:
                pos = rv
                if want(plural, obj):
                    self._chunk({"type": etype, "object": obj})
            if time.monotonic() >= deadline:
                break
            if bookmarks and time.monotonic() - last_bm >= api.bookmark_interval:
                pos = max(pos, cur) if not evs else pos
                self._chunk({"type": "BOOKMARK", "object": {
                    "kind": res.kind, "apiVersion": res.api_version,
                    "metadata": {"resourceVersion": str(pos)}}})
                last_bm = time.monotonic()
        self._end_chunks()

    def _end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


# ---------------------------------------------------------------- public API

class ApiServer:
    def __init__(self, token="test-token", port=0, host="127.0.0.1", history=1000,
                 bookmark_interval=1.0, verbose=False, openapi=True, netns=None):
        """netns: listen inside this named network namespace (e.g. a sandbox
        cluster's external host, so that agents in node namespaces reach it
        over the underlay); the server still runs in this process."""
        self.openapi = openapi
        self.netns = netns
        self.token, self.host, self.port = token, host, port
        self.bookmark_interval = bookmark_interval
        self.verbose = verbose
        self.history_max = history
        self.store = Store(history)
        self.tmpdir = None
        self._httpd = None
        self._thread = None
        self._stopping = False
        self._gen = 0
        self._ssl_ctx = None
        self.ensure_default_namespaces()

    def ensure_default_namespaces(self):
        for n in ("default", "kube-system", "kube-public", "kube-node-lease"):
            try:
                self.create("namespaces", {"metadata": {"name": n}})
            except ApiError:
                pass

    # -- TLS
    def _make_certs(self):
        d = self.tmpdir = tempfile.mkdtemp(prefix="xdpath-apiserver-")
        def run(*a):
            subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=xdpath-test-ca",
            "-keyout", "ca.key", "-out", "ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver",
            "-keyout", "server.key", "-out", "server.csr")
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            san = "IP:127.0.0.1,DNS:localhost" + ("" if self.host == "127.0.0.1" else f",IP:{self.host}")
            f.write(f"subjectAltName={san}\n"
                    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
        self.ca_path = os.path.join(d, "ca.crt")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
        ctx.set_alpn_protocols(["http/1.1"])
        self._ssl_ctx = ctx

    def start(self):
        if self._ssl_ctx is None:
            self._make_certs()
        self._stopping = False
        with _in_netns(self.netns):
            self._httpd = _Server((self.host, self.port), Handler, self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def url(self):
        return f"https://{self.host}:{self.port}"

    def stop(self, cleanup=True):
        if self._httpd is not None:
            self._stopping = True
            with self.store.cond:
                self._gen += 1
                self.store.cond.notify_all()
            self._httpd.shutdown()
            self._httpd.server_close()
            with self._httpd.conns_lock:
                conns = list(self._httpd.conns)
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._thread.join(5)
            self._httpd = None
        if cleanup and self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
            self._ssl_ctx = None

    def restart(self, keep_state=True):
        """Stop and start on the same port with the same CA. keep_state=False
        drops objects and history; the resourceVersion counter keeps going up
        but history starts after it, so any older resourceVersion is 410 Gone."""
        self.stop(cleanup=False)
        if not keep_state:
            rv = self.store.rv
            self.store = Store(self.history_max)
            self.store.rv = rv
            self.ensure_default_namespaces()
            self.store.compact()
        for _ in range(50):
            try:
                return self.start()
            except OSError:
                time.sleep(0.1)
        return self.start()

    def compact(self):
        """Forget the watch history: watches/continues from any resourceVersion
        up to now get 410 Gone."""
        self.store.compact()

    def kubeconfig(self, path, token=None):
        cfg = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "xdpath-test", "cluster": {"server": self.url,
                                                             "certificate-authority": self.ca_path}}],
            "users": [{"name": "xdpath-test", "user": {"token": token or self.token}}],
            "contexts": [{"name": "xdpath-test", "context": {"cluster": "xdpath-test",
                                                             "user": "xdpath-test"}}],
            "current-context": "xdpath-test",
        }
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)   # JSON is YAML
        return path

    # -- direct access for tests
    @staticmethod
    def _res(plural):
        for r in RESOURCES:
            if r.plural == plural or r.kind == plural:
                return r
        raise KeyError(plural)

    def create(self, plural, obj, namespace=None):
        return self.store.create(self._res(plural), namespace, obj)

    def get(self, plural, name, namespace=None):
        return self.store.get(self._res(plural), namespace, name)

    def find(self, plural, name, namespace=None):
        try:
            return self.get(plural, name, namespace)
        except ApiError:
            return None

    def list(self, plural, namespace=None, label_selector=None, field_selector=None):
        return self.store.list(self._res(plural), namespace, parse_label_selector(label_selector),
                               parse_field_selector(field_selector))[0]

    def update(self, plural, obj, namespace=None):
        return self.store.update(self._res(plural), namespace or obj["metadata"].get("namespace"),
                                 obj["metadata"]["name"], obj)

    def delete(self, plural, name, namespace=None):
        return self.store.delete(self._res(plural), namespace, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="test-token")
    ap.add_argument("--kubeconfig", help="write a kubeconfig for this server here")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    srv = ApiServer(token=a.token, port=a.port, verbose=a.verbose).start()
    if a.kubeconfig:
        srv.kubeconfig(a.kubeconfig)
    print(f"serving {srv.url} (CA {srv.ca_path})", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    srv.stop()


if __name__ == "__main__":
    main()
