#!/usr/bin/env bash
# On the host, after `vagrant up`: installs (or upgrades) the chart on the lab's K3s cluster through
# .lab/kubeconfig with charts/movie-platform/values-lab.yaml, once both nodes are Ready and hold the
# project's images; then waits for the pods and prints where everything answers.
#   scripts/lab/install-platform.sh         (scripts/orchestrator.sh create runs it)
# Needs kubectl and helm on the host. LAB_NAMESPACE (movies) and LAB_RELEASE (movies) move the release.
# For another cluster (tests/cluster/chart runs it on scripts/cluster): LAB_KUBECONFIG, LAB_NODES (the
# nodes that must be Ready, "master agent"), LAB_TIMEOUT (15m), and LAB_IMAGE_CHECK=skip where the nodes
# are simulated and hold no images.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source scripts/lib/common.sh

chart=charts/movie-platform
values=charts/movie-platform/values-lab.yaml
namespace=${LAB_NAMESPACE:-movies}
release=${LAB_RELEASE:-movies}
export KUBECONFIG=${LAB_KUBECONFIG:-$root/.lab/kubeconfig}
read -r -a nodes <<<"${LAB_NODES:-master agent}"
timeout=${LAB_TIMEOUT:-15m}
for tool in kubectl helm; do
  command -v "$tool" >/dev/null || mp_die "$tool is missing on this host (docs/lab.md, prerequisites)"
done
[[ -f $KUBECONFIG ]] || mp_die "no $KUBECONFIG: the master VM writes it when K3s is up (vagrant up master)"

mp_log "waiting for the nodes ${nodes[*]} to be Ready"
mp_wait_for 300 "nodes Ready" kubectl wait --for=condition=Ready "${nodes[@]/#/node/}" --timeout=10s ||
  mp_die "nodes not Ready (kubectl get nodes -o wide; docs/lab.md, troubleshooting)"

# The project's images as the chart names them (pullPolicy Never: they must be on every node already).
mapfile -t images < <(helm template "$release" "$chart" -n "$namespace" -f "$values" |
  sed -n 's/^ *image: *"\{0,1\}\(movie-platform\/[^" ]*\)"\{0,1\}$/\1/p' | sort -u)
((${#images[@]})) || mp_die "helm template names none of the project's images"
if [[ ${LAB_IMAGE_CHECK:-} == skip ]]; then
  mp_log "image check skipped (LAB_IMAGE_CHECK=skip): simulated nodes run no containers and hold no images"
else
  for node in "${nodes[@]}"; do
    present=$(kubectl get node "$node" -o jsonpath='{.status.images[*].names}')
    for image in "${images[@]}"; do
      grep -qF "docker.io/$image" <<<"$present" ||
        mp_die "node $node lacks $image: vagrant provision $node --provision-with images (docs/lab.md)"
    done
  done
  mp_log "nodes ${nodes[*]} hold ${images[*]}"
fi

mp_log "helm upgrade --install $release $chart -n $namespace -f $values (waits up to $timeout)"
helm upgrade --install "$release" "$chart" -n "$namespace" --create-namespace -f "$values" \
  --wait --timeout "$timeout"
kubectl -n "$namespace" get pods -o wide
# The kubeconfig's context defaults to the release's namespace, so `kubectl get all` and
# `kubectl get secrets` answer for the platform as the audits write them (docs/audits.md).
kubectl config set-context --current --namespace "$namespace" >/dev/null

master_ip=$(kubectl get node "${nodes[0]}" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
node_port() { kubectl -n "$namespace" get svc "$1" -o jsonpath='{.spec.ports[0].nodePort}'; }
cat <<EOF2

movie-platform runs on the lab cluster (release $release, namespace $namespace):
  API gateway          http://$master_ip:$(node_port api-gateway)/api/movies
  Grafana              http://$master_ip:$(node_port grafana)   (user admin; password:
                       kubectl -n $namespace get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d)
  RabbitMQ management  http://$master_ip:$(node_port rabbitmq-management)   (user movies; password:
                       kubectl -n $namespace get secret rabbitmq-credentials -o jsonpath='{.data.password}' | base64 -d)
  export KUBECONFIG=$KUBECONFIG
EOF2
