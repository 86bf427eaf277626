# shellcheck shell=bash
# The local Kubernetes cluster's processes: certificates, etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok (simulated nodes), metrics-server and kube-state-metrics, all on 127.0.0.1, with
# their state, logs and pids under one folder. Source it after common.sh, cluster-versions.sh and
# cluster-build.sh; scripts/cluster is the command built on it.

# What the cluster's folder holds (CLUSTER is the folder):
#   pki/        the CA and one certificate per identity
#   etcd/       etcd's data
#   logs/       one log per process, and audit.log (the API server's audit log)
#   run/*.pid   the pid of each process that `up` started; `down` stops exactly these
#   ports       NAME=PORT lines, chosen free at `up`
#   kubeconfig  the admin kubeconfig (system:masters): for people and tests, never for the operator

mp_cluster_components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok metrics-server kube-state-metrics)

# --- certificates --------------------------------------------------------------------------------

# mp_cluster_cert DIR NAME SUBJECT [SANS]: a key and a certificate signed by DIR/ca, for client and server use.
mp_cluster_cert() {
  local dir=$1 name=$2 subject=$3 sans=${4:-}
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 365 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

# Each control-plane identity has its own certificate, so RBAC sees who acts: the controller manager
# and the scheduler are bound by the API server's built-in roles; kwok, metrics-server and
# kube-state-metrics stand in for node agents and add-ons and run as cluster admins.
mp_cluster_pki() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -subj "/CN=movie-platform-local-ca" \
    -days 365 -out "$dir/ca.crt" 2>/dev/null
  mp_cluster_cert "$dir" apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:10.0.0.1,IP:10.212.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  mp_cluster_cert "$dir" admin "/O=system:masters/CN=local-admin"
  mp_cluster_cert "$dir" controller-manager "/CN=system:kube-controller-manager"
  mp_cluster_cert "$dir" scheduler "/CN=system:kube-scheduler"
  mp_cluster_cert "$dir" front-proxy-client "/CN=front-proxy-client"
  # The API server's identity towards kubelets (logs, exec, port-forward): kubelet asks the API server
  # whether this user may, and system:masters may.
  mp_cluster_cert "$dir" apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  mp_cluster_cert "$dir" localhost "/CN=localhost" "IP:127.0.0.1,DNS:localhost"
  # The aggregation layer checks metrics-server's certificate against its Service's name.
  mp_cluster_cert "$dir" metrics-server "/CN=metrics-server" "IP:127.0.0.1,DNS:metrics-server.kube-system.svc"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
}

# mp_cluster_kubeconfig FILE SERVER CA NAME CERT KEY
mp_cluster_kubeconfig() {
  local file=$1 server=$2 ca=$3 name=$4 cert=$5 key=$6
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: movie-platform-local
  cluster: {server: "$server", certificate-authority: "$ca"}
users:
- name: $name
  user: {client-certificate: "$cert", client-key: "$key"}
contexts:
- name: movie-platform-local
  context: {cluster: movie-platform-local, user: $name}
current-context: movie-platform-local
EOF
}

# --- processes -----------------------------------------------------------------------------------

# mp_cluster_launch CLUSTER NAME COMMAND...: starts COMMAND detached, its output in logs/NAME.log.
mp_cluster_launch() {
  local cluster=$1 name=$2
  shift 2
  setsid "$@" >>"$cluster/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$cluster/run/$name.pid"
}

mp_cluster_pid() {
  local file=$1/run/$2.pid
  [[ -f $file ]] && kill -0 "$(cat "$file")" 2>/dev/null && cat "$file"
}

# mp_cluster_stop CLUSTER: SIGTERM to every process `up` started (newest first), SIGKILL after 10 s.
mp_cluster_stop() {
  local cluster=$1 name pid i
  local pids=()
  for ((i = ${#mp_cluster_components[@]} - 1; i >= 0; i--)); do
    name=${mp_cluster_components[i]}
    pid=$(mp_cluster_pid "$cluster" "$name") || continue
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$cluster"/run/*.pid
}

# mp_cluster_port CLUSTER NAME: a port chosen at `up`.
mp_cluster_port() { sed -n "s/^$2=//p" "$1/ports"; }

# --- the control plane ---------------------------------------------------------------------------

# The audit policy: who wrote what (metadata of every create, update, patch and delete), so a test can
# show which identity changed Deployments, pods and Leases and when; and the reads (get, list, watch) of
# ServiceAccounts outside kube-system, i.e. of the programs under test such as the operator, so that a
# test can show which read grants they use. The controllers' own reads (kube-system) and Events are not
# logged.
mp_cluster_audit_policy() {
  cat >"$1" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources: [{group: "", resources: [events]}, {group: events.k8s.io, resources: [events]}]
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
  userGroups: ["system:serviceaccounts:kube-system"]
- level: Metadata
  userGroups: ["system:serviceaccounts"]
  verbs: [get, list, watch]
- level: None
EOF
}

# The kwok configuration: the upstream "fast" stages for nodes, pods and volumes (nodes Ready at once,
# pods Running and Ready once scheduled, PVCs of the default StorageClass bound to a simulated
# volume) and the resource-usage emulation that metrics-server reads (a pod's CPU and memory are its
# kwok.x-k8s.io/usage-cpu and usage-memory annotations, 1m / 1Mi without them).
mp_cluster_kwok_config() {
  local out=$1 kwok_src f
  kwok_src=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$MP_KWOK_VERSION/kustomize
  [[ -d $kwok_src ]] || (cd /tmp && go mod download "sigs.k8s.io/kwok@$MP_KWOK_VERSION")
  : >"$out"
  for f in stage/node/fast/node-initialize.yaml stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    stage/pod/fast/pod-ready.yaml stage/pod/fast/pod-complete.yaml stage/pod/fast/pod-delete.yaml \
    stage/volume/fast/pv-bind.yaml stage/volume/fast/pv-delete.yaml stage/volume/fast/pvc-provision.yaml \
    stage/volume/fast/pvc-delete.yaml \
    metrics/resource/metrics-resource.yaml metrics/usage/usage-from-annotation.yaml; do
    cat "$kwok_src/$f" >>"$out"
    printf '\n---\n' >>"$out"
  done
  # The volume stages serve a second class, local-path (K3s's, which values-lab.yaml names), too.
  sed -i "s/self.spec.storageClassName == 'kwok-volume'/self.spec.storageClassName in ['kwok-volume', 'local-path']/" "$out"
}

# mp_cluster_up CLUSTER NODES: starts every component and waits until NODES simulated nodes are Ready.
mp_cluster_up() {
  local cluster=$1 nodes=$2 p k
  mkdir -p "$cluster/logs" "$cluster/run"
  chmod 700 "$cluster"
  if [[ ! -f $cluster/ports ]]; then
    {
      for name in etcd etcd-peer apiserver controller-manager scheduler kwok metrics-server kube-state-metrics kube-state-metrics-telemetry; do
        echo "$name=$(mp_free_port)"
      done
    } >"$cluster/ports"
  fi
  [[ -f $cluster/pki/ca.crt ]] || mp_cluster_pki "$cluster/pki"
  p=$cluster/pki
  local api
  api=https://127.0.0.1:$(mp_cluster_port "$cluster" apiserver)
  mp_cluster_kubeconfig "$cluster/kubeconfig" "$api" "$p/ca.crt" local-admin "$p/admin.crt" "$p/admin.key"
  mp_cluster_kubeconfig "$cluster/controller-manager.kubeconfig" "$api" "$p/ca.crt" controller-manager \
    "$p/controller-manager.crt" "$p/controller-manager.key"
  mp_cluster_kubeconfig "$cluster/scheduler.kubeconfig" "$api" "$p/ca.crt" scheduler "$p/scheduler.crt" "$p/scheduler.key"
  mp_cluster_audit_policy "$cluster/audit-policy.yaml"
  k=(kubectl --kubeconfig "$cluster/kubeconfig")

  local etcd_port peer_port
  etcd_port=$(mp_cluster_port "$cluster" etcd)
  peer_port=$(mp_cluster_port "$cluster" etcd-peer)
  mp_log "starting etcd on 127.0.0.1:$etcd_port"
  mp_cluster_launch "$cluster" etcd etcd --name=local --data-dir="$cluster/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="local=http://127.0.0.1:$peer_port" --listen-metrics-urls="" \
    --auto-compaction-retention=1 --quota-backend-bytes=2147483648 --log-level=warn
  mp_wait_for 30 etcd curl -fsS "http://127.0.0.1:$etcd_port/health" || mp_cluster_fail "$cluster" etcd

  mp_log "starting kube-apiserver on $api (RBAC, default admission plugins, audit log)"
  # --advertise-address: with no default route the API server cannot pick one itself.
  # --endpoint-reconciler-type=none: nothing in the cluster reaches 127.0.0.1 through the kubernetes Service.
  # --kubelet-preferred-address-types: a node's InternalIP first; its name would need a DNS lookup. Every
  # kubelet's (and kwok's) serving certificate is from the cluster's CA.
  mp_cluster_launch "$cluster" kube-apiserver kube-apiserver \
    --etcd-servers="http://127.0.0.1:$etcd_port" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$(mp_cluster_port "$cluster" apiserver)" --endpoint-reconciler-type=none \
    --kubelet-preferred-address-types=InternalIP,Hostname --kubelet-certificate-authority="$p/ca.crt" \
    --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" --kubelet-client-key="$p/apiserver-kubelet-client.key" \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" --client-ca-file="$p/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.key" --service-account-signing-key-file="$p/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --proxy-client-cert-file="$p/front-proxy-client.crt" --proxy-client-key-file="$p/front-proxy-client.key" \
    --requestheader-client-ca-file="$p/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --audit-policy-file="$cluster/audit-policy.yaml" --audit-log-path="$cluster/logs/audit.log" \
    --audit-log-maxsize=200 --audit-log-maxbackup=1
  mp_wait_for 90 "kube-apiserver /readyz" "${k[@]}" get --raw /readyz || mp_cluster_fail "$cluster" kube-apiserver

  mp_log "starting kube-controller-manager and kube-scheduler"
  # Each controller acts with its own ServiceAccount, as in a real cluster. The HPA is quicker than by
  # default, so that a test sees it act both ways in a minute or two: it looks every 5 s, waits 30 s (not
  # 5 min) before scaling down, and counts a new pod's CPU after 10 s (not 5 min).
  mp_cluster_launch "$cluster" kube-controller-manager kube-controller-manager \
    --kubeconfig="$cluster/controller-manager.kubeconfig" --use-service-account-credentials=true \
    --bind-address=127.0.0.1 --secure-port="$(mp_cluster_port "$cluster" controller-manager)" \
    --authentication-kubeconfig="$cluster/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$cluster/controller-manager.kubeconfig" \
    --root-ca-file="$p/ca.crt" --service-account-private-key-file="$p/sa.key" \
    --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
    --controllers='*,-nodeipam' --leader-elect=false \
    --horizontal-pod-autoscaler-sync-period=5s --horizontal-pod-autoscaler-downscale-stabilization=30s \
    --horizontal-pod-autoscaler-cpu-initialization-period=10s --horizontal-pod-autoscaler-initial-readiness-delay=5s
  mp_cluster_launch "$cluster" kube-scheduler kube-scheduler \
    --kubeconfig="$cluster/scheduler.kubeconfig" --leader-elect=false \
    --authentication-kubeconfig="$cluster/scheduler.kubeconfig" --authorization-kubeconfig="$cluster/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$(mp_cluster_port "$cluster" scheduler)"

  mp_log "starting kwok ($nodes simulated nodes)"
  local kwok_port
  kwok_port=$(mp_cluster_port "$cluster" kwok)
  mp_cluster_kwok_config "$cluster/kwok.yaml"
  # kwok plays the kubelet of the nodes annotated kwok.x-k8s.io/node=fake only (those created below), so a
  # real node (scripts/cluster up --real-node) keeps its own kubelet.
  mp_cluster_launch "$cluster" kwok kwok --kubeconfig="$cluster/kubeconfig" --config="$cluster/kwok.yaml" \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --node-name=localhost --node-ip=127.0.0.1 --node-port="$kwok_port" \
    --server-address="127.0.0.1:$kwok_port" --tls-cert-file="$p/localhost.crt" --tls-private-key-file="$p/localhost.key" \
    --node-lease-duration-seconds=40
  local i
  for ((i = 0; i < nodes; i++)); do
    "${k[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
    metrics.k8s.io/resource-metrics-path: /metrics/nodes/kwok-node-$i/metrics/resource
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec: {}
status:
  allocatable: {cpu: "4", memory: 16Gi, ephemeral-storage: 100Gi, pods: "110"}
  capacity: {cpu: "4", memory: 16Gi, ephemeral-storage: 100Gi, pods: "110"}
EOF
  done
  "${k[@]}" wait --for=condition=Ready node -l type=kwok --timeout=120s >/dev/null || mp_cluster_fail "$cluster" kwok
  "${k[@]}" apply -f - >/dev/null <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: kwok-volume
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kwok.x-k8s.io/volume
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local-path}
provisioner: kwok.x-k8s.io/volume
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF

  local ms_port ksm_port
  ms_port=$(mp_cluster_port "$cluster" metrics-server)
  mp_log "starting metrics-server on 127.0.0.1:$ms_port (metrics.k8s.io through the aggregator)"
  # It scrapes each node's kubelet at its InternalIP (a name would need a DNS lookup: this machine's
  # resolver knows no node names): kwok's kubelet-style endpoint at 127.0.0.1 and kwok's port for the
  # simulated nodes, kubelet at the bridge address for the real node.
  mp_cluster_launch "$cluster" metrics-server metrics-server \
    --bind-address=127.0.0.1 --secure-port="$ms_port" --kubeconfig="$cluster/kubeconfig" \
    --authentication-kubeconfig="$cluster/kubeconfig" --authorization-kubeconfig="$cluster/kubeconfig" \
    --tls-cert-file="$p/metrics-server.crt" --tls-private-key-file="$p/metrics-server.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname --kubelet-use-node-status-port --kubelet-insecure-tls \
    --metric-resolution=15s
  "${k[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system}
spec: {type: ExternalName, externalName: 127.0.0.1}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  service: {name: metrics-server, namespace: kube-system, port: $ms_port}
  group: metrics.k8s.io
  version: v1beta1
  caBundle: $(base64 -w0 "$p/ca.crt")
  groupPriorityMinimum: 100
  versionPriority: 100
EOF

  ksm_port=$(mp_cluster_port "$cluster" kube-state-metrics)
  mp_log "starting kube-state-metrics on 127.0.0.1:$ksm_port"
  mp_cluster_launch "$cluster" kube-state-metrics kube-state-metrics --kubeconfig="$cluster/kubeconfig" \
    --host=127.0.0.1 --port="$ksm_port" --telemetry-host=127.0.0.1 \
    --telemetry-port="$(mp_cluster_port "$cluster" kube-state-metrics-telemetry)"

  mp_wait_for 60 "the default ServiceAccount" "${k[@]}" -n default get serviceaccount default ||
    mp_cluster_fail "$cluster" kube-controller-manager
  mp_wait_for 90 "metrics.k8s.io" "${k[@]}" get --raw /apis/metrics.k8s.io/v1beta1/nodes ||
    mp_cluster_fail "$cluster" metrics-server
  mp_wait_for 30 "kube-state-metrics" curl -fsS "http://127.0.0.1:$ksm_port/healthz" ||
    mp_cluster_fail "$cluster" kube-state-metrics
}

# mp_cluster_fail CLUSTER COMPONENT: prints the end of COMPONENT's log and stops.
mp_cluster_fail() {
  mp_log "$2 did not come up; the end of $1/logs/$2.log:"
  tail -n 30 "$1/logs/$2.log" >&2 || true
  mp_die "scripts/cluster up failed at $2 (the cluster's folder $1 is kept; scripts/cluster down removes it)"
}
