"""Static checks of the Kubernetes deployment (deploy/), no cluster needed:
every manifest parses and names itself; the DaemonSet, RBAC and ConfigMap in
deploy/xdpath.yaml agree with each other and with the agent (its own config
parser via `xdpathd --check-config`, the API resources it uses via
`xdpathd --api-resources`, granted and nothing more); the CRD; the init
container's deploy/install-cni.sh; the Dockerfile; docs/install.md covers the
config keys the ConfigMap uses."""
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
MANIFEST = os.path.join(DEPLOY, "xdpath.yaml")
CRD = os.path.join(DEPLOY, "crds", "xdpfilter.yaml")
INSTALL_CNI = os.path.join(DEPLOY, "install-cni.sh")
DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
INSTALL_DOC = os.path.join(ROOT, "docs", "install.md")
XDPATHD = os.path.join(ROOT, "build", "bin", "xdpathd")

NS = "xdpath-system"
# Kinds without a namespace; everything else must live in NS.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding",
                  "CustomResourceDefinition", "XdpFilter"}
# The CNI plugin's default socket (agent/xdpathctl.c): `kubectl exec ...
# xdpathctl status` works without --socket only if stateDir matches.
CTL_SOCKET_DIR = "/run/xdpath"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate",
               "bind", "impersonate"}


def manifest_files():
    return sorted(glob.glob(os.path.join(DEPLOY, "*.yaml")) +
                  glob.glob(os.path.join(DEPLOY, "crds", "*.yaml")) +
                  glob.glob(os.path.join(DEPLOY, "examples", "*.yaml")))


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


ALL_DOCS = [(os.path.relpath(p, ROOT), i, d) for p in manifest_files() for i, d in enumerate(load(p))]


def obj(kind, name=None):
    found = [d for d in load(MANIFEST) if d["kind"] == kind and
             (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/xdpath.yaml, got {len(found)}"
    return found[0]


def daemonset():
    return obj("DaemonSet", "xdpath")


def pod_spec():
    return daemonset()["spec"]["template"]["spec"]


def agent_container():
    cs = pod_spec()["containers"]
    assert len(cs) == 1, [c["name"] for c in cs]
    return cs[0]


def init_container():
    cs = pod_spec().get("initContainers") or []
    assert len(cs) == 1, [c["name"] for c in cs]
    return cs[0]


def agent_json_text():
    return obj("ConfigMap", "xdpath-config")["data"]["agent.json"]


def agent_config():
    return json.loads(agent_json_text())


def volumes():
    return {v["name"]: v for v in pod_spec()["volumes"]}


def host_path_of_mount(container, path):
    """(hostPath, mount) of the hostPath volume mounted at or above `path`, the
    deepest one; (None, mount) for another volume type."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    assert best is not None, f"{path} is not under any volumeMount of {container['name']}"
    hp = volumes()[best["name"]].get("hostPath")
    return (hp["path"].rstrip("/") if hp else None), best


def run_xdpathd(*args, env_extra=None, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([XDPATHD, *args], capture_output=True, text=True, env=env, timeout=30)


def check_config(conf, **kw):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(conf if isinstance(conf, str) else json.dumps(conf))
    try:
        r = run_xdpathd("--check-config", f.name, **kw)
    finally:
        os.unlink(f.name)
    # Usage errors also exit 2: make sure the flag itself was understood.
    assert "unrecognized option" not in r.stderr, r.stderr
    return r


# --- every manifest --------------------------------------------------------

def test_manifests_found():
    names = {os.path.relpath(p, ROOT) for p in manifest_files()}
    assert {"deploy/xdpath.yaml", "deploy/crds/xdpfilter.yaml"} <= names, names
    assert any(n.startswith("deploy/examples/") for n in names), names


@pytest.mark.parametrize("path,index,doc", ALL_DOCS, ids=[f"{p}#{i}" for p, i, _ in ALL_DOCS])
def test_document_identity(path, index, doc):
    assert isinstance(doc, dict), (path, index)
    assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], (path, index)
    assert isinstance(doc.get("kind"), str) and doc["kind"], (path, index)
    name = (doc.get("metadata") or {}).get("name")
    assert isinstance(name, str) and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), \
        (path, index, name)
    if doc["kind"] in CLUSTER_SCOPED:
        assert "namespace" not in doc["metadata"], (path, index)
    else:
        assert doc["metadata"].get("namespace") == NS, (path, index, doc["kind"])


def test_manifest_order():
    # Apply order matters for a single `kubectl apply -f`: the namespace and
    # the RBAC exist before the pods that use them.
    kinds = [(d["kind"], d["metadata"]["name"]) for d in load(MANIFEST)]
    assert kinds == [("Namespace", NS), ("ServiceAccount", "xdpath"), ("ClusterRole", "xdpath"),
                     ("ClusterRoleBinding", "xdpath"), ("ConfigMap", "xdpath-config"),
                     ("DaemonSet", "xdpath")], kinds


# --- DaemonSet --------------------------------------------------------------

def test_daemonset_host_network_and_account():
    spec = pod_spec()
    assert spec.get("hostNetwork") is True
    assert spec["serviceAccountName"] == obj("ServiceAccount")["metadata"]["name"]
    assert spec.get("automountServiceAccountToken", True) is True  # inCluster needs the token


def test_daemonset_selector_matches_template():
    ds = daemonset()
    sel = ds["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert sel and all(labels.get(k) == v for k, v in sel.items()), (sel, labels)


def test_daemonset_tolerates_every_taint():
    tols = pod_spec().get("tolerations") or []
    assert any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
               for t in tols), tols


def test_daemonset_rolling_update():
    us = daemonset()["spec"]["updateStrategy"]
    assert us["type"] == "RollingUpdate"
    assert us.get("rollingUpdate", {}).get("maxUnavailable") == 1, us


def test_daemonset_termination_grace():
    g = pod_spec().get("terminationGracePeriodSeconds")
    assert isinstance(g, int) and 0 < g <= 60, g


def test_agent_command_and_image():
    c = agent_container()
    assert c["command"] == ["xdpathd", "--config", "/etc/xdpath/agent.json"], c["command"]
    assert c["image"] == "ghcr.io/xdpath/xdpath:0.3.0"
    assert init_container()["image"] == c["image"]
    # The config file is the ConfigMap's agent.json, mounted where the command reads it.
    hp, m = host_path_of_mount(c, "/etc/xdpath/agent.json")
    assert hp is None and volumes()[m["name"]]["configMap"]["name"] == "xdpath-config"
    items = volumes()[m["name"]]["configMap"].get("items")
    assert items is None or any(i["key"] == "agent.json" and i["path"] == "agent.json" for i in items)


def test_agent_node_name_from_downward_api():
    env = {e["name"]: e for e in agent_container().get("env", [])}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName", env


def test_agent_privileged():
    # Privileged, not a capability list: bpffs needs Bidirectional mount
    # propagation, which Kubernetes allows only in privileged containers.
    sc = agent_container().get("securityContext") or {}
    assert sc.get("privileged") is True, sc


def test_probes_on_metrics_port():
    c = agent_container()
    ports = {p["name"]: p for p in c.get("ports", [])}
    assert "metrics" in ports, ports
    assert ports["metrics"].get("protocol", "TCP") == "TCP"
    ready, live = c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]
    assert (ready["path"], ready["port"]) == ("/readyz", "metrics"), ready
    assert (live["path"], live["port"]) == ("/healthz", "metrics"), live


def test_metrics_port_matches_http_address():
    addr = agent_config()["httpAddress"]
    host, _, port = addr.rpartition(":")
    assert host and port.isdigit(), addr
    ports = {p["name"]: p for p in agent_container()["ports"]}
    assert ports["metrics"]["containerPort"] == int(port), (addr, ports)
    ann = daemonset()["spec"]["template"]["metadata"].get("annotations") or {}
    if "prometheus.io/port" in ann:
        assert ann["prometheus.io/port"] == port, ann
    # Probes come from kubelet to the node's address (hostNetwork): the agent
    # must not listen on loopback only.
    assert host not in ("127.0.0.1", "localhost", "[::1]"), addr


def test_volume_mounts_refer_to_volumes():
    vols = volumes()
    for c in pod_spec()["containers"] + pod_spec().get("initContainers", []):
        for m in c.get("volumeMounts", []):
            assert m["name"] in vols, (c["name"], m["name"], sorted(vols))


def test_host_path_volumes():
    hps = {v["hostPath"]["path"].rstrip("/") for v in volumes().values() if "hostPath" in v}
    state = agent_config().get("stateDir", "/run/xdpath").rstrip("/")
    want = {"/sys/fs/bpf", "/opt/cni/bin", "/etc/cni/net.d", state}
    assert want <= hps, sorted(want - hps)


@pytest.mark.parametrize("key", ["pinRoot", "stateDir", "endpointDir", "cniConf.ipamDir"])
def test_shared_paths_mounted_at_host_path(key):
    # The CNI plugin runs on the host and is handed these paths by the
    # agent-written conflist: they must mean the same thing in both places.
    conf = agent_config()
    path = conf["cniConf"]["ipamDir"] if key == "cniConf.ipamDir" else conf[key]
    hp, m = host_path_of_mount(agent_container(), path)
    assert hp == m["mountPath"].rstrip("/"), (key, path, hp, m)
    assert not m.get("readOnly"), (key, m)


def test_bpffs_mount_propagates():
    # A bpffs the agent mounts must be visible to the host's CNI plugin.
    hp, m = host_path_of_mount(agent_container(), agent_config()["pinRoot"])
    assert hp == "/sys/fs/bpf" and m.get("mountPropagation") == "Bidirectional", m


def test_state_dir_is_xdpathctl_default():
    assert agent_config()["stateDir"].rstrip("/") == CTL_SOCKET_DIR


def test_cni_conf_written_to_host_net_d():
    path = agent_config()["cniConf"]["path"]
    assert path.endswith(".conflist"), path
    hp, m = host_path_of_mount(agent_container(), path)
    assert hp == "/etc/cni/net.d" and not m.get("readOnly"), (path, hp, m)
    assert os.path.dirname(path) == m["mountPath"].rstrip("/"), (path, m)


def test_init_container_installs_plugin():
    c = init_container()
    assert any(a.endswith("install-cni.sh") for a in c.get("command", []) + c.get("args", [])), c
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    bin_dir = env.get("CNI_BIN_DIR", "/host/opt/cni/bin")
    hp, m = host_path_of_mount(c, bin_dir)
    assert hp == "/opt/cni/bin" and m["mountPath"].rstrip("/") == bin_dir.rstrip("/"), (hp, m)
    assert not m.get("readOnly"), m


# --- RBAC -------------------------------------------------------------------

def test_binding_binds_role_to_account():
    b, role, sa = obj("ClusterRoleBinding"), obj("ClusterRole"), obj("ServiceAccount")
    assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role["metadata"]["name"]}, b["roleRef"]
    assert {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
            "namespace": sa["metadata"]["namespace"]} in b["subjects"], b["subjects"]


def api_resources():
    r = run_xdpathd("--api-resources")
    assert r.returncode == 0, f"xdpathd --api-resources: rc={r.returncode} {r.stderr.strip()}"
    res = json.loads(r.stdout)
    assert isinstance(res, list) and res, r.stdout
    return {(x["group"], x["resource"], v) for x in res for v in x["verbs"]}


def granted():
    out = set()
    for rule in obj("ClusterRole")["rules"]:
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule, rule
        for g in rule["apiGroups"]:
            for res in rule["resources"]:
                for v in rule["verbs"]:
                    out.add((g, res, v))
    return out


def test_role_has_no_wildcards_or_secrets():
    for g, res, v in granted():
        assert "*" not in (g, res, v), (g, res, v)
        assert res.split("/")[0] not in ("secrets", "configmaps", "serviceaccounts"), (g, res, v)


def test_role_covers_agent_api_resources():
    missing = api_resources() - granted()
    assert not missing, f"ClusterRole lacks {sorted(missing)}"


def test_role_grants_nothing_else():
    extra = granted() - api_resources()
    assert not extra, f"ClusterRole grants more than the agent uses: {sorted(extra)}"


def test_role_writes_only_events():
    # Read-only on cluster state, whatever the agent's list says.
    writes = {(g, r) for g, r, v in granted() if v in WRITE_VERBS}
    assert writes <= {("", "events"), ("events.k8s.io", "events")}, writes


# --- ConfigMap: the agent's own parser ------------------------------------

def test_agent_json_is_json_object():
    conf = agent_config()
    assert isinstance(conf, dict)
    # Node-specific keys come from NODE_NAME and the Node objects.
    for k in ("nodeName", "nodeIP", "nodeIP6", "podCIDRs", "peers", "policyDir", "filterDir"):
        assert k not in conf, k
    assert conf["kubernetes"] == {"inCluster": True}, conf["kubernetes"]


def test_agent_json_passes_check_config():
    host_existed = os.path.exists("/host")
    r = check_config(agent_json_text(), env_extra={"NODE_NAME": "test-node"})
    assert r.returncode == 0, f"rc={r.returncode} stdout={r.stdout!r} stderr={r.stderr!r}"
    # --check-config writes nothing (the conflist path is under /host).
    assert os.path.exists("/host") == host_existed


def test_check_config_rejects_broken_copy():
    # Proves the check above is not vacuous: the same config with one bad
    # value fails and names the key.
    conf = agent_config()
    conf["mode"] = "bogus"
    r = check_config(conf, env_extra={"NODE_NAME": "test-node"})
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "mode" in r.stdout + r.stderr, (r.stdout, r.stderr)


def test_agent_json_needs_node_name_env():
    # The ConfigMap has no nodeName: the DaemonSet's NODE_NAME is what names the node.
    r = check_config(agent_json_text(), drop=("NODE_NAME",))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "nodeName" in r.stdout + r.stderr or "NODE_NAME" in r.stdout + r.stderr, (r.stdout, r.stderr)


# --- CRD --------------------------------------------------------------------

def test_crd_version():
    crd = load(CRD)
    assert len(crd) == 1 and crd[0]["kind"] == "CustomResourceDefinition"
    spec = crd[0]["spec"]
    assert crd[0]["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
    vs = {v["name"]: v for v in spec["versions"]}
    v = vs["v1alpha1"]
    assert v["served"] is True and v["storage"] is True
    assert sum(1 for x in spec["versions"] if x.get("storage")) == 1
    assert v["schema"]["openAPIV3Schema"]["type"] == "object"
    # The ClusterRole names the same group and plural.
    assert (spec["group"], spec["names"]["plural"], "watch") in granted()


# --- install-cni.sh ---------------------------------------------------------

@pytest.fixture
def cni_dirs():
    """A source binary and an empty target dir, both readable by anyone (the
    unwritable case runs the script as nobody)."""
    d = tempfile.mkdtemp(prefix="xdpath-install-cni-")
    os.chmod(d, 0o755)
    src = os.path.join(d, "xdpath-src")
    with open(src, "wb") as f:
        f.write(b"#!/bin/sh\necho fake xdpath v1\n")
    os.chmod(src, 0o644)
    dst = os.path.join(d, "bin")
    os.mkdir(dst, 0o755)
    yield src, dst
    shutil.rmtree(d, ignore_errors=True)


def install(src, dst, prefix=()):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "XDPATH_CNI_SRC": src, "CNI_BIN_DIR": dst}
    return subprocess.run([*prefix, INSTALL_CNI], capture_output=True, text=True, env=env, timeout=30)


def test_install_cni_installs_and_is_idempotent(cni_dirs):
    src, dst = cni_dirs
    r = install(src, dst)
    assert r.returncode == 0, r.stderr
    out = os.path.join(dst, "xdpath")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    assert open(out, "rb").read() == open(src, "rb").read()
    assert os.listdir(dst) == ["xdpath"], os.listdir(dst)  # no temp file left
    r = install(src, dst)
    assert r.returncode == 0, r.stderr
    assert os.listdir(dst) == ["xdpath"] and stat.S_IMODE(os.stat(out).st_mode) == 0o755


def test_install_cni_replaces_atomically(cni_dirs):
    src, dst = cni_dirs
    out = os.path.join(dst, "xdpath")
    with open(out, "wb") as f:
        f.write(b"old")
    os.chmod(out, 0o700)
    old_ino = os.stat(out).st_ino
    r = install(src, dst)
    assert r.returncode == 0, r.stderr
    # A new inode: renamed over the old file, never rewritten in place.
    assert os.stat(out).st_ino != old_ino
    assert open(out, "rb").read() == open(src, "rb").read()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    assert os.listdir(dst) == ["xdpath"]


def test_install_cni_missing_dir(cni_dirs):
    src, dst = cni_dirs
    missing = os.path.join(dst, "nope")
    r = install(src, missing)
    assert r.returncode != 0
    assert missing in r.stderr and "does not exist" in r.stderr, r.stderr


def test_install_cni_not_a_dir(cni_dirs):
    src, dst = cni_dirs
    r = install(src, src)
    assert r.returncode != 0
    assert "not a directory" in r.stderr, r.stderr


def test_install_cni_missing_source(cni_dirs):
    src, dst = cni_dirs
    r = install(src + ".missing", dst)
    assert r.returncode != 0 and "does not exist" in r.stderr, r.stderr
    assert os.listdir(dst) == []


def test_install_cni_unwritable_dir(cni_dirs):
    src, dst = cni_dirs
    setpriv = shutil.which("setpriv")
    assert os.geteuid() == 0 and setpriv, "needs root and setpriv to run as nobody"
    # root-owned 0755: nobody cannot create the temp file.
    r = install(src, dst, prefix=(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"))
    assert r.returncode != 0
    assert dst in r.stderr and "cannot create" in r.stderr, r.stderr
    assert os.listdir(dst) == []


# --- Dockerfile and docs ----------------------------------------------------

def test_dockerfile_stages_and_files():
    text = open(DOCKERFILE).read()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms == ["debian:bookworm", "debian:bookworm-slim"], froms
    assert re.search(r"make\b.*\ball\b", text), "the build stage runs make all"
    for b in ("xdpath", "xdpathd", "xdpathctl"):
        assert re.search(rf"COPY --from=build .*/build/bin/{b}\b.*/usr/local/bin/", text), b
    assert re.search(r"^COPY deploy/install-cni.sh /usr/local/bin/install-cni.sh$", text, re.M)
    for lib in ("libbpf1", "libjson-c5", "libmnl0", "libyaml-0-2", "libnftables1", "libcurl4",
                "libelf1", "iproute2", "nftables"):
        assert re.search(rf"\s{re.escape(lib)}\s", text), lib
    # The init container runs the script from where the image puts it.
    assert init_container()["command"][0] == "/usr/local/bin/install-cni.sh"


def test_install_doc_covers_config_keys():
    doc = open(INSTALL_DOC).read()
    conf = agent_config()
    keys = list(conf) + [f"{k}.{s}" for k, v in conf.items() if isinstance(v, dict) for s in v]
    missing = [k for k in keys if f"`{k.split('.')[-1]}`" not in doc and f"`{k}`" not in doc]
    assert not missing, f"docs/install.md does not document {missing}"
