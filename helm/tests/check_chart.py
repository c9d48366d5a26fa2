#!/usr/bin/env python3
"""Checks the aftersales Helm chart with a real Helm and the Kubernetes API schemas.

Run by scripts/check-chart.sh (which provides `helm` and the Python packages); CI runs that.
For every values file under helm/aftersales/ci/ it runs `helm lint --strict`, renders the
chart with `helm template` and `helm install --dry-run=client` (which also renders
NOTES.txt), validates every manifest against the Kubernetes OpenAPI schemas in strict mode
(unknown fields fail) for the oldest Kubernetes the chart supports and a recent one, and
asserts what the deployment relies on: gRPC probes on the health service, the derived grace
period, the preStop wait, the security context, secrets only by reference, the migration
hook, selectors that do not catch the migration pod, and environment variable names the
binary actually reads. Then it checks that the configurations the chart must refuse
(SQLite with more than one replica, no database URL, misspelt keys, ...) are refused with a
message saying why. Prints one line per check and `N passed, N failed` at the end.
"""

import base64
import json
import os
import re
import subprocess
import sys

import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "helm", "aftersales")
HELM = os.environ.get("HELM", "helm")
# The chart's floor (Chart.yaml kubeVersion) and a recent release.
KUBE_VERSIONS = ["1.27.0", "1.35.0"]
RELEASE = "t"
NAMESPACE = "aftersales"
FULLNAME = "t-aftersales"

results = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        fn()
    except AssertionError as e:
        results["failed"] += 1
        print(f"FAIL - {name}: {e}")
        return
    except Exception as e:  # a crash in a check is a failure too, with its type
        results["failed"] += 1
        print(f"FAIL - {name}: {type(e).__name__}: {e}")
        return
    results["passed"] += 1
    print(f"ok - {name}")


def helm(*args, expect_ok=True):
    p = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120)
    if expect_ok and p.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{p.stdout}{p.stderr}")
    return p


def render(values_args, kube_version="1.35.0"):
    p = helm("template", RELEASE, CHART, "--namespace", NAMESPACE,
             "--kube-version", kube_version, *values_args)
    return p.stdout, [d for d in yaml.safe_load_all(p.stdout) if d]


def only(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kinds(docs):
    return sorted(f'{d["kind"]}/{d["metadata"]["name"]}' for d in docs)


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


# ---------------------------------------------------------------------------------------------
# What the binary reads: every AFTERSALES_* variable named in crates/server/src/main.rs.

def binary_env_names():
    src = open(os.path.join(ROOT, "crates", "server", "src", "main.rs"), encoding="utf-8").read()
    names = set(re.findall(r'env\s*=\s*"(AFTERSALES_[A-Z0-9_]+)"', src))
    assert len(names) >= 10, f"found only {sorted(names)} in main.rs; has its form changed?"
    return names


BINARY_ENV = binary_env_names()


def assert_env_names_known(names, where):
    for n in names:
        if n.startswith("AFTERSALES_"):
            assert n in BINARY_ENV, f"{where} sets {n}, which the aftersales binary does not read"


# ---------------------------------------------------------------------------------------------
# Static checks of the chart's sources.

def load_values():
    with open(os.path.join(CHART, "values.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def check_value_references():
    """Every .Values.a.b in a template names a key that values.yaml has."""
    values = load_values()
    tdir = os.path.join(CHART, "templates")
    missing = []
    for fname in sorted(os.listdir(tdir)):
        text = open(os.path.join(tdir, fname), encoding="utf-8").read()
        for m in re.finditer(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            node = values
            for part in m.group(1).strip(".").split("."):
                if not isinstance(node, dict) or part not in node:
                    missing.append(f"{fname}: .Values{m.group(1)}")
                    break
                node = node[part]
    assert not missing, "templates reference values that values.yaml lacks: " + ", ".join(sorted(set(missing)))


def check_values_documented():
    """Every key in values.yaml has a comment right above it, or sits under a key that has."""
    lines = open(os.path.join(CHART, "values.yaml"), encoding="utf-8").read().splitlines()
    documented_at = []  # stack of (indent, documented)
    undocumented = []
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z_][A-Za-z0-9_]*):", line)
        if not m:
            continue
        indent = len(m.group(1))
        while documented_at and documented_at[-1][0] >= indent:
            documented_at.pop()
        j = i - 1
        has_comment = j >= 0 and lines[j].strip().startswith("#")
        parent_documented = bool(documented_at) and documented_at[-1][1]
        is_leaf = not line.rstrip().endswith(":")
        if is_leaf and not has_comment and not parent_documented:
            undocumented.append(f"line {i + 1}: {m.group(2)}")
        documented_at.append((indent, has_comment or parent_documented))
    assert not undocumented, "values without a comment: " + ", ".join(undocumented)


def check_schema_is_json():
    with open(os.path.join(CHART, "values.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    assert schema.get("additionalProperties") is False, "the schema should refuse unknown top-level keys"
    top = set(load_values())
    assert top <= set(schema["properties"]), f"values.yaml keys missing from the schema: {top - set(schema['properties'])}"


# ---------------------------------------------------------------------------------------------
# Rendered cases.

def validate_schemas(docs, versions):
    for v in versions:
        for d in docs:
            try:
                kubernetes_validate.validate(d, v, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise AssertionError(f'{d["kind"]}/{d["metadata"]["name"]} is invalid for Kubernetes {v}: {e.message}')


def common_deployment_checks(docs, values):
    dep = only(docs, "Deployment", FULLNAME)
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    (c,) = spec["containers"]
    port = values.get("server", {}).get("port", 50051)
    drain = values.get("server", {}).get("drainSeconds", 25)
    lifecycle = values.get("lifecycle", {})
    pre_stop_mode = lifecycle.get("preStopMode", "exec")
    pre_stop = lifecycle.get("preStopSleepSeconds", 5) if pre_stop_mode != "none" else 0

    # Selector and labels.
    assert selects(dep["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"]), "selector does not match the pod template"

    # Probes: gRPC, on the listening port, health service names.
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports.get("grpc") == port, f"container port {ports} != server.port {port}"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert "grpc" in c[probe], f"{probe} is not a gRPC probe"
        assert c[probe]["grpc"]["port"] == port, f"{probe} checks port {c[probe]['grpc']['port']}, the server listens on {port}"
    assert c["readinessProbe"]["grpc"].get("service") == "aftersales.v1.AftersalesService", "readiness must follow the API service (NOT_SERVING on drain)"
    assert not c["livenessProbe"]["grpc"].get("service"), "liveness must check overall health, or a draining pod is restarted"

    # Drain: grace period covers the preStop wait and the drain.
    grace = spec["terminationGracePeriodSeconds"]
    assert grace > pre_stop + drain, f"terminationGracePeriodSeconds {grace} <= preStop {pre_stop} + drain {drain}"
    if pre_stop_mode == "exec":
        assert c["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sleep", str(pre_stop)]
    elif pre_stop_mode == "sleepAction":
        assert c["lifecycle"]["preStop"]["sleep"]["seconds"] == pre_stop
    else:
        assert "lifecycle" not in c

    # Security.
    psc, csc = spec["securityContext"], c["securityContext"]
    assert psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 0, "pod must run as a non-root numeric user"
    assert csc.get("readOnlyRootFilesystem") is True, "root filesystem must be read-only"
    assert csc.get("allowPrivilegeEscalation") is False
    assert csc.get("capabilities", {}).get("drop") == ["ALL"], "every capability must be dropped"
    assert spec.get("automountServiceAccountToken") is False
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert "/tmp" in mounts, "/tmp must be a writable volume under a read-only root"

    # Resources.
    for part in ("requests", "limits"):
        assert c["resources"].get(part), f"resources.{part} missing"

    # Environment: a ConfigMap, secrets by reference, names the binary knows.
    cm_name = c["envFrom"][0]["configMapRef"]["name"]
    cm = only(docs, "ConfigMap", cm_name)
    assert cm["data"]["AFTERSALES_LISTEN"] == f"0.0.0.0:{port}", "must listen on every interface in a container"
    assert cm["data"]["AFTERSALES_DRAIN_SECONDS"] == str(drain)
    assert all(isinstance(v, str) for v in cm["data"].values()), "ConfigMap values must be strings"
    assert_env_names_known(cm["data"], "the ConfigMap")
    env = env_of(c)
    assert_env_names_known(env, "the container env")
    tok = env["AFTERSALES_PAGE_TOKEN_SECRET"]
    assert "secretKeyRef" in tok.get("valueFrom", {}), "the page-token key must come from a Secret"
    db = env["AFTERSALES_DATABASE_URL"]
    if values.get("database", {}).get("engine", "postgres") == "postgres":
        assert "secretKeyRef" in db.get("valueFrom", {}), "the PostgreSQL URL must come from a Secret"
    for e in c.get("env", []):
        assert "postgres://" not in str(e.get("value", "")), f"{e['name']} carries a database URL in plain text"

    # Every selector that should reach the server pods does, and none reaches the migration pod.
    for svc in [d for d in docs if d["kind"] == "Service"]:
        assert selects(svc["spec"]["selector"], pod["metadata"]["labels"]), f"Service {svc['metadata']['name']} misses the pods"
        (p,) = svc["spec"]["ports"]
        assert p["appProtocol"] == "grpc" and p["targetPort"] == "grpc"
    for pdb in [d for d in docs if d["kind"] == "PodDisruptionBudget"]:
        assert selects(pdb["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
    for job in [d for d in docs if d["kind"] == "Job"]:
        jl = job["spec"]["template"]["metadata"]["labels"]
        assert not selects(dep["spec"]["selector"]["matchLabels"], jl), "the Deployment selector catches the migration pod"
        for svc in [d for d in docs if d["kind"] == "Service"]:
            assert not selects(svc["spec"]["selector"], jl), f"Service {svc['metadata']['name']} would route calls to the migration pod"
    return dep, c, env


def check_migration_job(docs, expect_secret):
    job = only(docs, "Job", f"{FULLNAME}-migrate")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    env = env_of(c)
    assert_env_names_known(env, "the migration job")
    ref = env["AFTERSALES_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == expect_secret, f"the job reads {ref['name']}, expected {expect_secret}"
    # A hook must not depend on what the release creates (it runs first).
    assert "envFrom" not in c, "the hook job must not read the release's ConfigMap (not there yet at pre-install)"
    return job, ann


def case_production():
    values_file = os.path.join(CHART, "ci", "postgres-existing-secret-values.yaml")
    values = yaml.safe_load(open(values_file, encoding="utf-8"))
    text, docs = render(["-f", values_file])
    validate_schemas(docs, KUBE_VERSIONS)
    assert kinds(docs) == sorted([
        f"ConfigMap/{FULLNAME}", f"Deployment/{FULLNAME}", f"Job/{FULLNAME}-migrate",
        f"PodDisruptionBudget/{FULLNAME}", f"Service/{FULLNAME}", f"Service/{FULLNAME}-headless",
        f"ServiceAccount/{FULLNAME}"]), kinds(docs)
    dep, c, env = common_deployment_checks(docs, values)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 35
    assert c["image"] == "registry.example.com/aftersales:0.1.0"
    assert env["AFTERSALES_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "aftersales-db", "key": "database-url"}
    assert env["AFTERSALES_PAGE_TOKEN_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "aftersales-page-token"
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    check_migration_job(docs, "aftersales-db")
    cm = only(docs, "ConfigMap")
    assert cm["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4317"
    assert cm["data"]["OTEL_METRIC_EXPORT_INTERVAL"] == "15000"
    assert cm["data"]["AFTERSALES_GAUGE_INTERVAL_MS"] == "15000"
    # writers left at 0: the binary's own default, so the variable is not set at all.
    assert "AFTERSALES_PG_WRITERS" not in cm["data"]
    assert only(docs, "Service", f"{FULLNAME}-headless")["spec"]["clusterIP"] == "None"
    # The private CA volume reaches the pods and the migration job (both connect).
    job = only(docs, "Job", f"{FULLNAME}-migrate")
    for what, pod in [("deployment", dep["spec"]["template"]["spec"]), ("migration job", job["spec"]["template"]["spec"])]:
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes.get("pg-ca", {}).get("secret") == {"secretName": "aftersales-pg-ca"}, f"{what}: {volumes}"
        (container,) = pod["containers"]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts.get("pg-ca") == {"name": "pg-ca", "mountPath": "/etc/aftersales/pg-ca", "readOnly": True}, f"{what}: {mounts}"
        assert "tmp" in volumes and "tmp" in mounts, f"{what}: the chart's own volume is kept"


def case_inline_url():
    values_file = os.path.join(CHART, "ci", "postgres-inline-values.yaml")
    values = yaml.safe_load(open(values_file, encoding="utf-8"))
    text, docs = render(["-f", values_file])
    # The native sleep action exists from Kubernetes 1.29 on (beta, on by default, in 1.30).
    validate_schemas(docs, ["1.30.0", "1.35.0"])
    assert "s3cret" not in text, "the password appears in plain text in the rendered manifests"
    dep, c, env = common_deployment_checks(docs, values)
    secret = only(docs, "Secret", FULLNAME)
    assert base64.b64decode(secret["data"]["database-url"]).decode() == values["database"]["url"]
    assert len(base64.b64decode(secret["data"]["page-token-secret"])) >= 32, "generated page-token key too short"
    assert env["AFTERSALES_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": FULLNAME, "key": "database-url"}
    # The job runs before the release Secret exists: it reads a hook Secret created just before it.
    hook_secret = only(docs, "Secret", f"{FULLNAME}-migration")
    job, ann = check_migration_job(docs, f"{FULLNAME}-migration")
    hs_ann = hook_secret["metadata"]["annotations"]
    assert hs_ann["helm.sh/hook"] == ann["helm.sh/hook"]
    assert int(hs_ann["helm.sh/hook-weight"]) < int(ann["helm.sh/hook-weight"]), "the hook Secret must be created before the job"
    assert "hook-succeeded" in hs_ann["helm.sh/hook-delete-policy"]
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]
    pdb = only(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": 1, "selector": pdb["spec"]["selector"]}
    assert "ServiceAccount" not in {d["kind"] for d in docs}
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "default"
    assert env["EXTRA_FROM_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "other"
    assert only(docs, "ConfigMap")["data"]["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment=staging"
    assert only(docs, "ConfigMap")["data"]["AFTERSALES_PG_WRITERS"] == "2"
    # No endpoint: no export settings (the binary reads the gauges only when it exports).
    assert "OTEL_METRIC_EXPORT_INTERVAL" not in only(docs, "ConfigMap")["data"]


def case_hpa():
    values_file = os.path.join(CHART, "ci", "hpa-values.yaml")
    values = yaml.safe_load(open(values_file, encoding="utf-8"))
    text, docs = render(["-f", values_file])
    validate_schemas(docs, KUBE_VERSIONS)
    dep, c, env = common_deployment_checks(docs, values)
    assert "replicas" not in dep["spec"], "with an HPA the Deployment must not set replicas (each upgrade would reset them)"
    hpa = only(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["averageUtilization"] == 70
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert "Job" not in {d["kind"] for d in docs}, "migration.enabled=false must not render the job"


def case_sqlite():
    values_file = os.path.join(CHART, "ci", "sqlite-values.yaml")
    values = yaml.safe_load(open(values_file, encoding="utf-8"))
    text, docs = render(["-f", values_file])
    validate_schemas(docs, KUBE_VERSIONS)
    dep, c, env = common_deployment_checks(docs, values)
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}, "two pods must never open one SQLite file"
    assert env["AFTERSALES_DATABASE_URL"]["value"] == "sqlite:///var/lib/aftersales/aftersales.db"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts.get("/var/lib/aftersales") == "data"
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    pvc = only(docs, "PersistentVolumeClaim")
    assert vols["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not {"Job", "HorizontalPodAutoscaler"} & {d["kind"] for d in docs}


def case_defaults_plus_secret():
    """values.yaml as shipped, with only the database Secret named: the minimal install."""
    text, docs = render(["--set", "database.existingSecret=db"], kube_version="1.27.0")
    validate_schemas(docs, KUBE_VERSIONS)
    dep, c, env = common_deployment_checks(docs, load_values())
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 35
    assert c["image"] == "aftersales:" + yaml.safe_load(open(os.path.join(CHART, "Chart.yaml")))["appVersion"]
    check_migration_job(docs, "db")


def lint_and_notes(values_file):
    def run():
        helm("lint", CHART, "--strict", "-f", values_file)
        p = helm("install", RELEASE, CHART, "--dry-run=client", "--namespace", NAMESPACE, "-f", values_file)
        assert "NOTES:" in p.stdout and FULLNAME in p.stdout.split("NOTES:", 1)[1], "NOTES.txt did not render"
    return run


def refused(args, message):
    def run():
        p = helm("template", RELEASE, CHART, *args, expect_ok=False)
        assert p.returncode != 0, f"helm template {' '.join(args)} was accepted"
        assert message in p.stderr, f"refused, but not with {message!r}: {p.stderr.strip()}"
    return run


def kube_version_floor():
    p = helm("template", RELEASE, CHART, "--set", "database.existingSecret=db", "--kube-version", "1.26.0", expect_ok=False)
    assert p.returncode != 0 and "kubeVersion" in p.stderr + p.stdout, "Kubernetes 1.26 (no GA gRPC probes) must be refused"


def main():
    v = helm("version", "--short").stdout.strip()
    print(f"# helm {v}; Kubernetes schemas {', '.join(KUBE_VERSIONS)} (strict)")
    check("templates reference only values that exist", check_value_references)
    check("every value in values.yaml is documented", check_values_documented)
    check("values.schema.json covers values.yaml and refuses unknown keys", check_schema_is_json)
    for f in sorted(os.listdir(os.path.join(CHART, "ci"))):
        check(f"lint --strict and NOTES render: ci/{f}", lint_and_notes(os.path.join(CHART, "ci", f)))
    check("production shape (existing Secrets, 3 replicas)", case_production)
    check("URL in plain values: chart Secret, hook Secret for the migration job", case_inline_url)
    check("autoscaled on CPU", case_hpa)
    check("SQLite trial: one pod, Recreate, volume, no migration job", case_sqlite)
    check("shipped defaults plus a database Secret", case_defaults_plus_secret)
    check("Kubernetes below the floor is refused", kube_version_floor)
    refusals = [
        ([], "PostgreSQL needs its URL"),
        (["--set", "database.engine=sqlite"], "cannot be shared between pods"),
        (["--set", "database.engine=sqlite,replicaCount=1,autoscaling.enabled=true"], "cannot be shared between pods"),
        (["--set", "database.url=sqlite:///data/a.db,replicaCount=3"], "cannot be shared between pods"),
        (["--set", "database.engine=sqlite,replicaCount=1,database.url=postgres://u@h/d"], "set database.engine=postgres"),
        (["--set", "database.url=mysql://u@h/d"], "must start with postgres://"),
        (["--set", "database.url=postgres://u@h/d,database.existingSecret=db"], "not both"),
        (["--set", "database.existingSecret=db,pageTokenSecret.value=x,pageTokenSecret.existingSecret=y"], "not both"),
        (["--set", "database.existingSecret=db,podDisruptionBudget.minAvailable=1"], "not both"),
        (["--set", "database.existingSecret=db,replicas=3"], "additional properties 'replicas' not allowed"),
        (["--set", "database.existingSecret=db,lifecycle.preStopMode=never"], "preStopMode"),
        (["--set", "database.existingSecret=db,database.maxConnections=4,database.writers=5"], "must not exceed database.maxConnections"),
        (["--set", "database.existingSecret=db,database.writers=-1"], "writers"),
    ]
    for args, message in refusals:
        check(f"refused: {' '.join(args) or '(no database)'}", refused(args, message))
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
