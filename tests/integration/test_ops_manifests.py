"""Kubernetes manifests, the Dockerfile and the sidecar configuration, checked by the real tools:
``kubectl kustomize``, ``kubernetes-validate --strict`` (1.29 and the newest bundled version),
``promtool check rules`` on each PrometheusRule's spec, CRD field schemas, ``hadolint``, and
taxmeter's own configuration loader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops_fixtures.crd_schemas import SCHEMAS
from ops_fixtures.tools import REPO_ROOT, require_tool

DEPLOY = REPO_ROOT / "deploy"
OVERLAYS = ["overlays/cpu", "overlays/judge-pool", "examples/istio"]
BUILTIN_KINDS = {
    "ConfigMap",
    "Deployment",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "ServiceAccount",
}


def _newest_bundled_version() -> str:
    from kubernetes_validate.utils import latest_version

    return str(latest_version()) + ".0"


KUBE_VERSIONS = ["1.29.0", "newest"]


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / overlay)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def test_overlay_renders_with_native_sidecar_and_hardened_security(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    overlay, docs = rendered
    app = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "chat-app")
    pod = app["spec"]["template"]["spec"]
    sidecar = next(c for c in pod["initContainers"] if c["name"] == "taxmeter")
    assert sidecar["restartPolicy"] == "Always"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert sidecar[probe]["grpc"]["port"] == 50051
    assert {p["containerPort"] for p in sidecar["ports"]} == {50051, 8080, 9464}
    security = sidecar["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {"requests", "limits"} <= set(sidecar["resources"])
    env = {e["name"]: e for e in sidecar["env"]}
    assert "secretKeyRef" in env["TAXMETER_GUARDED_API_KEY"]["valueFrom"]
    kinds = {d["kind"] for d in docs}
    assert {"PodMonitor", "PrometheusRule", "NetworkPolicy", "Service", "ConfigMap"} <= kinds
    if overlay == "overlays/judge-pool":
        pool = next(
            d
            for d in docs
            if d["metadata"]["name"] == "taxmeter-judges" and d["kind"] == "Deployment"
        )
        limits = pool["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == 1
        assert "nvidia.com/gpu" not in str(pod)
        assert pool["spec"]["template"]["spec"]["initContainers"][0]["image"].endswith("-cuda")


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_kubernetes_validate_strict_accepts_builtin_kinds_and_every_kind_is_checked(
    rendered: tuple[str, list[dict[str, Any]]], version: str, tmp_path: Path
) -> None:
    validator = require_tool("kubernetes-validate")
    if version == "newest":
        version = _newest_bundled_version()
    overlay, docs = rendered
    files = []
    for index, doc in enumerate(docs):
        path = tmp_path / f"{index:02d}-{doc['kind']}.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        files.append(path)
    result = subprocess.run(
        [validator, "--strict", "-k", version, *map(str, files)], capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    unchecked = {
        doc["kind"]
        for doc, path in zip(docs, files, strict=True)
        if f"{path} Couldn't find schema" in output
    }
    checked_by_validator = {d["kind"] for d in docs} - unchecked
    assert checked_by_validator <= BUILTIN_KINDS
    assert checked_by_validator == {d["kind"] for d in docs if d["kind"] in BUILTIN_KINDS}
    # every kind the validator could not check has a schema of ours (next test)
    missing = {(d["apiVersion"], d["kind"]) for d in docs if d["kind"] in unchecked} - set(SCHEMAS)
    assert not missing, f"{overlay}: no check for {missing}"


def test_custom_resources_match_the_fields_they_use(
    rendered: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, docs = rendered
    promtool = require_tool("promtool")
    for doc in docs:
        if doc["kind"] in BUILTIN_KINDS:
            continue
        schema = SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        assert schema is not None, f"no schema for {doc['apiVersion']} {doc['kind']}"
        jsonschema.validate(doc, schema)
        if doc["kind"] == "PrometheusRule":
            spec = tmp_path / f"{doc['metadata']['name']}.rules.yml"
            spec.write_text(yaml.safe_dump(doc["spec"]), encoding="utf-8")
            result = subprocess.run(
                [promtool, "check", "rules", str(spec)], capture_output=True, text=True
            )
            assert result.returncode == 0, result.stdout + result.stderr


def test_crd_schemas_reject_a_misspelt_field() -> None:
    docs = render("examples/istio")
    service = next(d for d in docs if d["kind"] == "VirtualService")
    service["spec"]["http"][0]["mirror_percent"] = 100
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(service, SCHEMAS[(service["apiVersion"], "VirtualService")])


def test_kubernetes_validate_strict_rejects_an_unknown_field(tmp_path: Path) -> None:
    validator = require_tool("kubernetes-validate")
    docs = render("overlays/cpu")
    app = next(d for d in docs if d["kind"] == "Deployment")
    app["spec"]["template"]["spec"]["initContainers"][0]["restartPolicyy"] = "Always"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(app), encoding="utf-8")
    result = subprocess.run(
        [validator, "--strict", "-k", "1.29.0", str(path)], capture_output=True, text=True
    )
    assert result.returncode != 0


@pytest.mark.parametrize(
    "config", ["deploy/base/taxmeter.yaml", "deploy/overlays/judge-pool/taxmeter.yaml"]
)
def test_sidecar_configuration_loads_with_taxmeter_config_loader(config: str) -> None:
    from taxmeter.config import load_config

    loaded = load_config(REPO_ROOT / config, env={})
    assert str(loaded.judges.repository) == "/opt/taxmeter/judges"
    assert loaded.telemetry.metrics_port == 9464


def test_hadolint_accepts_the_dockerfile() -> None:
    hadolint = require_tool("hadolint")
    result = subprocess.run(
        [hadolint, "--config", str(REPO_ROOT / ".hadolint.yaml"), str(REPO_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_has_cpu_and_cuda_targets_non_root_and_healthcheck() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG CPU_BASE_IMAGE=" in text and "ARG CUDA_BASE_IMAGE=" in text
    assert " AS cpu\n" in text and " AS cuda\n" in text
    assert text.count("USER 10001:10001") == 2
    assert text.count("HEALTHCHECK") == 2
    assert "deploy/docker/install.sh" in text
