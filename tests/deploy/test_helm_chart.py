"""deploy/helm/unamentis rendered and linted by Helm's own engine (helm-python-sdk bundles Helm 4's
library: no helm binary, no cluster), every manifest validated against the Kubernetes schemas of
pinned versions (kubernetes-validate), and the fields security and WebSockets depend on asserted."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from runtime.route_table import ROUTES

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "unamentis"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
CASES = ["default"] + [path.stem for path in EXAMPLES]
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one.
KUBE_VERSIONS = ("1.27.0", "1.33.0")
RELEASE, NAMESPACE = "unamentis", "school"
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def case_values(case: str) -> dict | None:
    return None if case == "default" else yaml.safe_load((CHART / "examples" / f"{case}.yaml").read_text())


def render(values: dict | None = None, *, upgrade: bool = False) -> dict[str, str]:
    with helm.Chart.load(CHART) as chart:
        return chart.render(values=values, name=RELEASE, namespace=NAMESPACE,
                            is_install=not upgrade, is_upgrade=upgrade)


@lru_cache(maxsize=None)
def _rendered(case: str) -> tuple[str, str]:
    out = render(case_values(case))
    notes = next((text for path, text in out.items() if path.endswith("NOTES.txt")), "")
    docs = [doc for path, text in sorted(out.items()) if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text) if doc]
    return json.dumps(docs), notes


def manifests(case: str) -> list[dict]:
    return json.loads(_rendered(case)[0])


def find(docs: list[dict], kind: str, name: str) -> dict:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name}: {[(d['kind'], d['metadata']['name']) for d in docs]}")


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container.get("env", [])}


# ------------------------------------------------------------------------------- engines
@pytest.mark.parametrize("case", CASES)
def test_helm_lint_is_clean(case: str) -> None:
    report = helm.lint(CHART, case_values(case), strict=True, namespace=NAMESPACE, kube_version="v1.33.0")
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_every_manifest_matches_the_kubernetes_schema(case: str, kube_version: str) -> None:
    docs = manifests(case)
    assert len(docs) >= 10
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{doc['kind']} {doc['metadata']['name']}: {exc.message}") from None


def test_the_engine_reports_the_helm_version() -> None:
    assert helm.helm_sdk_version().startswith("v4.")


# ---------------------------------------------------------------------------- values schema
@pytest.mark.parametrize("bad, where", [
    ({"core": {"replica": 2}}, "replica"),                                   # a typo
    ({"ingres": {"host": "x"}}, "ingres"),
    ({"ingress": {"annotation": {}}}, "annotation"),
    ({"core": {"terminationGracePeriodSeconds": 30}}, "terminationGracePeriodSeconds"),
    ({"core": {"drainSeconds": 200}}, "drainSeconds"),
    ({"image": {"tag": "latest"}}, "tag"),
    ({"postgresql": {"bundled": {"image": "postgres:latest"}}}, "image"),
    ({"gpu": {"ollama": {"image": "ollama/ollama"}}}, "image"),
    ({"containerSecurityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    ({"stateless": {"services": ["voice"]}}, "services"),
    ({"runtime": {"logLevel": "verbose"}}, "logLevel"),
])
def test_the_values_schema_rejects_mistakes(bad: dict, where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        render(bad)
    report = helm.lint(CHART, bad, strict=True)
    assert report["errors"] or any(m["severity"] >= 3 for m in report["messages"])


def test_an_external_database_needs_its_owner_password() -> None:
    with pytest.raises(helm.HelmError, match="ownerPassword"):
        render({"postgresql": {"bundled": {"enabled": False}, "external": {"host": "db.example.org"}}})
    with pytest.raises(helm.HelmError, match="postgresql.external.host"):
        render({"postgresql": {"bundled": {"enabled": False}}, "secrets": {"existingSecret": "s"}})


# ----------------------------------------------------------------------- images and security
@pytest.mark.parametrize("case", CASES)
def test_images_are_pinned(case: str) -> None:
    for doc in manifests(case):
        if doc["kind"] not in WORKLOADS:
            continue
        spec = pod_spec(doc)
        for container in spec["containers"] + spec.get("initContainers", []):
            image = container["image"]
            assert re.fullmatch(r"[^\s:@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]*|@sha256:[a-f0-9]{64})", image), image
            assert not image.endswith(":latest"), image


@pytest.mark.parametrize("case", CASES)
def test_pod_security(case: str) -> None:
    workloads = [doc for doc in manifests(case) if doc["kind"] in WORKLOADS]
    assert workloads
    for doc in workloads:
        spec = pod_spec(doc)
        name = doc["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert "hostNetwork" not in spec and "hostPID" not in spec, name
        writable = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], name
            assert sc.get("privileged") is not True, name
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in writable, f"{name}: /tmp must be an emptyDir on a read-only root"
            assert container["resources"]["limits"]["memory"], name


# --------------------------------------------------------------------------- WebSockets, drain
@pytest.mark.parametrize("case", CASES)
def test_core_is_sized_for_websockets_and_drains(case: str) -> None:
    docs = manifests(case)
    core = find(docs, "Deployment", f"{RELEASE}-core")
    spec = pod_spec(core)
    container = spec["containers"][0]
    env = env_of(container)
    grace = spec["terminationGracePeriodSeconds"]
    drain = int(env["UNAMENTIS_DRAIN_SECONDS"]["value"])
    assert grace >= 120
    assert core["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # preStop: wait for the endpoints to drop the pod, SIGTERM the runtime (PID 1: the image's exec-form
    # ENTRYPOINT) to start its drain, then wait until it has exited — all inside the grace period
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    script = command[2]
    match = re.fullmatch(r"sleep (\d+); kill -TERM 1; i=0; while \[ \$i -lt (\d+) \] && kill -0 1 2>/dev/null; "
                         r"do sleep 1; i=\$\(\(i\+1\)\); done", script)
    assert match, script
    delay, wait = int(match.group(1)), int(match.group(2))
    assert wait >= drain and delay + wait < grace
    # readiness off while draining (/health answers 503 then); liveness must not kill a draining pod
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["failureThreshold"] == 1
    assert "httpGet" not in container["livenessProbe"] and container["livenessProbe"]["tcpSocket"]
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["args"][0] == "serve" and "UNAMENTIS_SERVICES" not in env  # the core serves everything
    if not (case_values(case) or {}).get("ingress", {}).get("enabled", True):
        return  # tunnel mode: cloudflared reaches the core's Service, no Ingress (test_cloudflared_tunnel_mode)
    # the Ingress keeps sockets open (ingress-nginx or ALB timeouts)
    ingress = find(docs, "Ingress", RELEASE)
    annotations = ingress["metadata"].get("annotations", {})
    if ingress["spec"]["ingressClassName"] == "nginx":
        assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
        assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    else:
        assert "idle_timeout.timeout_seconds=3600" in annotations["alb.ingress.kubernetes.io/load-balancer-attributes"]
        assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"


def test_the_drain_script_is_what_the_docker_image_runs() -> None:
    dockerfile = (ROOT / "runtime" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "runtime"]' in dockerfile  # exec form: the runtime is PID 1
    assert "STOPSIGNAL SIGTERM" in dockerfile


@pytest.mark.parametrize("case", CASES)
def test_autoscaling_and_disruption_budgets(case: str) -> None:
    docs = manifests(case)
    values = case_values(case) or {}
    components = ("core", "stateless") if values.get("stateless", {}).get("enabled", True) else ("core",)
    for component in components:
        pdb = find(docs, "PodDisruptionBudget", f"{RELEASE}-{component}")
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
        wants_hpa = values.get(component, {}).get("autoscaling", {}).get("enabled", False)
        hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == f"{RELEASE}-{component}"]
        assert len(hpas) == (1 if wants_hpa else 0)
        deployment = find(docs, "Deployment", f"{RELEASE}-{component}")
        assert ("replicas" in deployment["spec"]) is (not wants_hpa)  # the HPA owns replicas when enabled
        if wants_hpa:
            assert hpas[0]["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-{component}"


# ------------------------------------------------------------------------- routing (two backends)
def _backend(ingress: dict, path: str) -> str:
    best = None
    for item in ingress["spec"]["rules"][0]["http"]["paths"]:
        prefix = item["path"].rstrip("/")
        if path == prefix or path.startswith(prefix + "/") or item["path"] == "/":
            if best is None or len(item["path"]) > len(best["path"]):
                best = item
    assert best is not None, path
    return best["backend"]["service"]["name"]


@pytest.mark.parametrize("case", CASES)
def test_ingress_sends_every_route_to_a_pod_that_serves_it(case: str) -> None:
    if not (case_values(case) or {}).get("ingress", {}).get("enabled", True):
        pytest.skip("no Ingress: in tunnel mode the core serves every route")
    docs = manifests(case)
    ingress = find(docs, "Ingress", RELEASE)
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert paths[-1]["path"] == "/" and paths[-1]["backend"]["service"]["name"] == f"{RELEASE}-core"
    stateless = find(docs, "Deployment", f"{RELEASE}-stateless")
    served = env_of(pod_spec(stateless)["containers"][0])["UNAMENTIS_SERVICES"]["value"].split(",")
    assert "voice" not in served and "admin" not in served
    routed_to_stateless = 0
    for rule in ROUTES:
        sample = rule.pattern.replace("*", "x") + "/y"
        backend = _backend(ingress, sample)
        if backend == f"{RELEASE}-stateless":
            routed_to_stateless += 1
            assert rule.origin == "lambda" and rule.service in served, (rule, sample)
        else:
            assert backend == f"{RELEASE}-core"
    assert routed_to_stateless >= 8
    # ALB evaluates paths in order: a core path inside a stateless family must come before the family
    order = [p["path"] for p in paths]
    assert order.index("/api/kb/audio") < order.index("/api/kb")


def test_stateless_services_select_what_a_pod_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime import cli

    served: dict = {}
    monkeypatch.setattr(cli, "serve_app", lambda app, host, port, settings: served.update(app=app, port=port))
    # The chart sets UNAMENTIS_SERVICES; serve reads it through the settings.
    env = {"DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "UNAMENTIS_SERVICES": "auth,curricula,kb,sessions,telemetry"}
    args = cli.build_parser().parse_args(["serve", "--port", "8766"])
    assert cli.cmd_serve(args, cli.Settings.from_env(env)) == 0
    assert served["app"].state.ctx.services == ("health", "auth", "curricula", "kb", "sessions", "telemetry")
    settings = cli.Settings(database_url="postgresql://u@127.0.0.1:1/x")
    assert cli.cmd_serve(cli.build_parser().parse_args(["serve"]), settings) == 0
    assert "voice" in served["app"].state.ctx.services  # default: every service (the core)
    with pytest.raises(cli.ConfigError, match="unknown service 'kbb'"):  # a typo stops the pod at start
        cli.cmd_serve(cli.build_parser().parse_args(["serve", "--services", "auth,kbb"]), settings)


# -------------------------------------------------------------------------- network policies
@pytest.mark.parametrize("case", CASES)
def test_network_policies(case: str) -> None:
    docs = manifests(case)
    values = case_values(case) or {}
    ingress = find(docs, "NetworkPolicy", f"{RELEASE}-api-ingress")
    assert ingress["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = ingress["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8766, "protocol": "TCP"}]
    peers = rule["from"]
    assert peers[0]["namespaceSelector"]["matchLabels"]  # only the ingress controller's namespace
    assert all("ipBlock" in p or "namespaceSelector" in p for p in peers)
    egress = find(docs, "NetworkPolicy", f"{RELEASE}-egress")
    assert egress["spec"]["policyTypes"] == ["Egress"]
    selected = egress["spec"]["podSelector"]["matchExpressions"][1]["values"]
    assert set(selected) >= {"core", "stateless", "migrate"}
    ports = [port["port"] for e in egress["spec"]["egress"] for port in e["ports"]]
    assert 53 in ports
    bundled_db = values.get("postgresql", {}).get("bundled", {}).get("enabled", True)
    if bundled_db:
        assert 5432 in ports
        db = find(docs, "NetworkPolicy", f"{RELEASE}-postgresql")
        assert db["spec"]["ingress"][0]["ports"] == [{"port": 5432, "protocol": "TCP"}]
    elif values.get("networkPolicy", {}).get("egress", {}).get("databaseCidrs"):
        assert values["postgresql"]["external"].get("port", 5432) in ports
    https = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == f"{RELEASE}-api-egress-https"]
    allow = values.get("networkPolicy", {}).get("egress", {}).get("allowInternetHttps", True)
    assert len(https) == (1 if allow else 0)
    if https:
        (block,) = https[0]["spec"]["egress"]
        assert block["ports"] == [{"port": 443, "protocol": "TCP"}]
        assert "169.254.0.0/16" in block["to"][0]["ipBlock"]["except"]  # no instance metadata


# ------------------------------------------------------------------------ migration and secrets
@pytest.mark.parametrize("case", CASES)
def test_migration_is_a_hook_job_run_as_the_owner(case: str) -> None:
    docs = manifests(case)
    values = case_values(case) or {}
    job = find(docs, "Job", f"{RELEASE}-migrate")
    hook = job["metadata"]["annotations"]["helm.sh/hook"]
    bundled_db = values.get("postgresql", {}).get("bundled", {}).get("enabled", True)
    assert hook == ("post-install,pre-upgrade" if bundled_db else "pre-install,pre-upgrade")
    assert "before-hook-creation" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    container = pod_spec(job)["containers"][0]
    assert container["args"] == ["migrate"]
    env = env_of(container)
    owner = values.get("postgresql", {}).get("ownerUser", "unamentis_owner")
    assert env["UNAMENTIS_DATABASE_ADMIN_URL"]["value"].startswith(f"postgresql://{owner}:$(OWNER_DB_PASSWORD)@")
    assert env["OWNER_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "owner-password"
    assert env["UNAMENTIS_APP_ROLE_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "app-role-password"
    assert "DATABASE_URL" not in env
    # the serving pods connect as the runtime role and never see the owner's password
    serving_pods = ("core", "stateless") if values.get("stateless", {}).get("enabled", True) else ("core",)
    for name in serving_pods:
        serving = env_of(pod_spec(find(docs, "Deployment", f"{RELEASE}-{name}"))["containers"][0])
        assert serving["DATABASE_URL"]["value"].startswith("postgresql://unamentis_app:$(APP_DB_PASSWORD)@")
        keys = {item["valueFrom"]["secretKeyRef"]["key"] for item in serving.values() if "valueFrom" in item}
        assert "owner-password" not in keys and "UNAMENTIS_DATABASE_ADMIN_URL" not in serving
        assert "UNAMENTIS_APP_ROLE_PASSWORD" not in serving
    secret_name = values.get("secrets", {}).get("existingSecret") or f"{RELEASE}-secrets"
    assert env["OWNER_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == secret_name
    secrets = [d for d in docs if d["kind"] == "Secret"]
    if values.get("secrets", {}).get("existingSecret"):
        assert secrets == []
    else:
        (secret,) = secrets
        annotations = secret["metadata"]["annotations"]
        # created before the migration hook reads it, kept on uninstall
        assert "pre-install" in annotations["helm.sh/hook"] and int(annotations["helm.sh/hook-weight"]) < 0
        assert annotations["helm.sh/resource-policy"] == "keep"


def test_generated_secrets_are_strong_and_random() -> None:
    import base64

    def secret_data() -> dict[str, str]:
        docs = [doc for path, text in render().items() if not path.endswith("NOTES.txt")
                for doc in yaml.safe_load_all(text) if doc]
        (secret,) = [d for d in docs if d["kind"] == "Secret"]
        return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}

    first, second = secret_data(), secret_data()
    assert set(first) >= {"owner-password", "app-role-password", "jwt-secret", "s3-access-key-id", "s3-secret-access-key"}
    for key, value in first.items():
        assert value != second[key], key  # fresh on a new install (an upgrade keeps the cluster's, via lookup)
        assert len(value) >= 20, key
    assert len(first["jwt-secret"]) >= 32
    assert len({first["owner-password"], first["app-role-password"]}) == 2


def test_secret_template_keeps_existing_values_on_upgrade() -> None:
    text = (CHART / "templates" / "secret.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $name' in text
    for key in ("owner-password", "app-role-password", "jwt-secret", "s3-access-key-id", "s3-secret-access-key"):
        assert f'(get $old "{key}")' in text, key


# ------------------------------------------------------------------------------- tunnel mode
def test_cloudflared_tunnel_mode() -> None:
    docs = manifests("eks-tunnel")
    deployment = find(docs, "Deployment", f"{RELEASE}-cloudflared")
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    assert container["args"][:2] == ["tunnel", "--no-autoupdate"] and container["args"][-1] == "run"
    token = env_of(container)["TUNNEL_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token == {"name": f"{RELEASE}-secrets", "key": "tunnel-token"}
    assert not [d for d in docs if d["kind"] in ("Ingress", "Service") and "cloudflared" in d["metadata"]["name"]]
    # the connectors admit nothing and reach only DNS, the core and Cloudflare's edge
    policy = find(docs, "NetworkPolicy", f"{RELEASE}-cloudflared")
    assert policy["spec"]["ingress"] == [] and set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ports = {(p["port"], p["protocol"]) for e in policy["spec"]["egress"] for p in e["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (8766, "TCP"), (7844, "TCP"), (7844, "UDP"), (443, "TCP")}
    # the core admits the connectors (same namespace, cloudflared pods only)
    peers = find(docs, "NetworkPolicy", f"{RELEASE}-api-ingress")["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "unamentis", "app.kubernetes.io/instance": RELEASE,
                                            "app.kubernetes.io/component": "cloudflared"}}} in peers
    # Redis egress from the API pods when its subnets are given
    egress = find(docs, "NetworkPolicy", f"{RELEASE}-egress")
    assert any(p["port"] == 6379 for e in egress["spec"]["egress"] for p in e["ports"])
    # off by default, and the token is required when on
    assert not [d for d in manifests("default") if "cloudflared" in d["metadata"]["name"]]
    with pytest.raises(helm.HelmError, match="tunnelToken"):
        render({"cloudflared": {"enabled": True}})


# ------------------------------------------------------------------------------- GPU, storage
def test_gpu_workloads() -> None:
    docs = manifests("gpu")
    env = env_of(pod_spec(find(docs, "Deployment", f"{RELEASE}-core"))["containers"][0])
    assert env["UNAMENTIS_GPU_LLM_URL"]["value"] == f"http://{RELEASE}-ollama:11434"
    assert env["UNAMENTIS_GPU_STT_URL"]["value"] == f"http://{RELEASE}-speaches:8000/v1"
    assert env["UNAMENTIS_GPU_TTS_URL"]["value"] == f"http://{RELEASE}-speaches:8000/v1"
    for name in ("ollama", "speaches"):
        spec = pod_spec(find(docs, "Deployment", f"{RELEASE}-{name}"))
        resources = spec["containers"][0]["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == 1 and resources["requests"]["nvidia.com/gpu"] == 1
        assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    policy = find(docs, "NetworkPolicy", f"{RELEASE}-model-servers")
    assert policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "core"
    assert not [d for d in manifests("default") if d["metadata"]["name"].endswith(("-ollama", "-speaches"))]


@pytest.mark.parametrize("case", CASES)
def test_storage_settings_reach_the_runtime(case: str) -> None:
    from runtime.storage import StorageConfig, open_store

    values = case_values(case) or {}
    storage = values.get("objectStorage", {})
    env = env_of(pod_spec(find(manifests(case), "Deployment", f"{RELEASE}-core"))["containers"][0])
    plain = {k: v["value"] for k, v in env.items() if "value" in v and k.startswith("UNAMENTIS_S")}
    store = open_store(StorageConfig.from_env(plain))
    assert store.bucket == storage.get("bucket", "unamentis") and store.prefix == storage.get("prefix", "")
    assert store.region == storage.get("region", "us-east-1")
    if storage.get("bundledMinio", {}).get("enabled", True):
        assert store.endpoint_url == f"http://{RELEASE}-minio:9000" and store.force_path_style
    else:
        assert store.endpoint_url == (storage.get("endpoint") or None)
        assert store.force_path_style is storage.get("forcePathStyle", True)


# ------------------------------------------------------------------------------ service account
def test_service_account_for_irsa() -> None:
    docs = manifests("eks-alb")
    account = find(docs, "ServiceAccount", RELEASE)
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert account["automountServiceAccountToken"] is False
    for name in ("core", "stateless"):
        assert pod_spec(find(docs, "Deployment", f"{RELEASE}-{name}"))["serviceAccountName"] == RELEASE
    env = env_of(pod_spec(find(docs, "Deployment", f"{RELEASE}-core"))["containers"][0])
    assert "UNAMENTIS_S3_ACCESS_KEY_ID" not in env  # S3 through the role, no static keys


# ------------------------------------------------------------------------------------ NOTES
@pytest.mark.parametrize("case", ["default", "external-db-s3"])
def test_notes_admin_command_is_a_valid_pod(case: str) -> None:
    notes = _rendered(case)[1]
    overrides = re.search(r"--overrides='(\{.*\})'", notes).group(1)
    pod = json.loads(overrides)
    kubernetes_validate.validate(pod, KUBE_VERSIONS[-1], strict=True)
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"  # admitted by the DB policy
    (container,) = pod["spec"]["containers"]
    assert container["args"][:3] == ["admin", "tenant", "create"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
