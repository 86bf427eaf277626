# shellcheck shell=bash
# The real node of the local cluster (scripts/cluster up --real-node): containerd with Debian's runc,
# kubelet, kube-proxy (nftables mode), a bridge CNI network and CoreDNS, joined to the control plane
# of scripts/lib/cluster.sh. Source it after cluster.sh; docs/cluster.md ("A real node") says why each
# setting is what it is.
#
# What it adds to the cluster's folder (CLUSTER):
#   node/containerd/   containerd's root, state, socket and config; runc's state
#   node/kubelet/      kubelet's root (pod volumes are mounted below it), its configuration
#   node/pod-logs/     the containers' logs
#   node/cni/          the CNI configuration and host-local's address leases
#   node/host-state    what `up` changed on the host and `down` puts back (sysctls, netfilter before)
#   run/{containerd,kubelet,kube-proxy,coredns,apiserver-relay}.pid
#
# What it changes on the host, all undone by mp_node_down: a bridge (mp_node_bridge) with the node's
# address and a route for the Service range; cgroups under /<mp_node_cgroup> in each v1 hierarchy;
# kube-proxy's nftables tables; kubelet's canary chains; five sysctls kubelet sets. One real node per
# machine: netfilter and the bridge are the host's.

mp_node_name=real-node
mp_node_bridge=mp-node0
mp_node_cidr=10.210.0.0/24
mp_node_ip=10.210.0.1
mp_node_service_cidr=10.0.0.0/24 # kube-apiserver's --service-cluster-ip-range (cluster.sh)
mp_node_dns_ip=10.0.0.10
mp_node_cgroup=mp-real-node
# The node's taint: only pods that tolerate it run there, so that a chart installed for the simulated
# nodes (whose images this node does not hold) stays on them.
mp_node_taint=movie-platform.io/real-node
mp_node_components=(containerd kubelet kube-proxy coredns apiserver-relay)
# kubelet sets these at start (unless protectKernelDefaults, which makes it refuse to start instead).
mp_node_sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes)

mp_node_ctr() { ctr --address "$1/node/containerd/containerd.sock" --namespace k8s.io "${@:2}"; }

# mp_node_check: what the node needs from the host, said before anything starts.
mp_node_check() {
  [[ $(id -u) -eq 0 ]] || mp_die "--real-node needs root (containers, mounts, netfilter)"
  local tool
  for tool in runc nft ip socat; do
    command -v "$tool" >/dev/null || mp_die "--real-node: $tool is missing: run scripts/install-deps"
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] ||
    mp_die "--real-node: the CNI plugins are missing (/usr/lib/cni): run scripts/install-deps"
  command -v gcc >/dev/null || mp_die "--real-node: gcc is missing (the pause program): run scripts/install-deps"
  if ip link show "$mp_node_bridge" >/dev/null 2>&1 || nft list table ip kube-proxy >/dev/null 2>&1; then
    mp_die "--real-node: a real node already runs on this machine (bridge $mp_node_bridge or nftables table kube-proxy exists; one per machine)"
  fi
}

# mp_node_pause_image: a docker-archive of the pods' sandbox image (images/pause/pause.c, static),
# made once per source in the cache; prints its path. Its tag is the source's digest.
mp_node_pause_image() {
  local src=$1 digest dir
  digest=$(sha256sum "$src" | cut -c1-12)
  dir=$MP_CLUSTER_CACHE/pause-$digest
  if [[ ! -f $dir/pause.tar ]]; then
    rm -rf "$dir"
    mkdir -p "$dir/rootfs"
    gcc -static -Os -Wall -Wextra -Werror -o "$dir/rootfs/pause" "$src" || mp_die "could not build $src"
    strip "$dir/rootfs/pause"
    tar --numeric-owner --owner=0 --group=0 -C "$dir/rootfs" -cf "$dir/layer.tar" pause
    local layer config
    layer=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
      "$layer" >"$dir/config.json"
    config=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
    mkdir -p "$dir/archive/$layer"
    mv "$dir/layer.tar" "$dir/archive/$layer/layer.tar"
    mv "$dir/config.json" "$dir/archive/$config.json"
    printf '[{"Config":"%s.json","RepoTags":["docker.io/movie-platform/pause:%s"],"Layers":["%s/layer.tar"]}]' \
      "$config" "$digest" "$layer" >"$dir/archive/manifest.json"
    tar -C "$dir/archive" -cf "$dir/pause.tar.tmp" .
    mv "$dir/pause.tar.tmp" "$dir/pause.tar"
  fi
  echo "$dir/pause.tar docker.io/movie-platform/pause:$digest"
}

# mp_node_certs PKI: the node's identities, from the cluster's CA. The Node authorizer knows kubelet by
# its group system:nodes and user system:node:<name>; kube-proxy's user is bound by the built-in
# system:node-proxier role; CoreDNS gets a role of its own (mp_node_up).
mp_node_certs() {
  local p=$1
  [[ -f $p/kubelet.crt ]] && return 0
  mp_cluster_cert "$p" kubelet "/O=system:nodes/CN=system:node:$mp_node_name" "IP:$mp_node_ip,DNS:$mp_node_name"
  mp_cluster_cert "$p" kube-proxy "/CN=system:kube-proxy"
  mp_cluster_cert "$p" coredns "/CN=system:coredns"
}

# mp_node_host_save CLUSTER: records what kubelet and kube-proxy will change, for mp_node_down.
mp_node_host_save() {
  local f=$1/node/host-state s
  : >"$f"
  for s in "${mp_node_sysctls[@]}"; do echo "sysctl $s=$(sysctl -n "$s")" >>"$f"; done
  { iptables-save; ip6tables-save; } 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/chain \1/p' | sort -u >>"$f"
  nft list tables | sed 's/^table /table /' >>"$f"
}

# mp_node_cgroup_dirs: /<mp_node_cgroup> in every hierarchy mounted under /sys/fs/cgroup (the v1
# controllers and, in this hybrid layout, the v2 one runc also writes to).
mp_node_cgroup_dirs() {
  local d
  for d in /sys/fs/cgroup/*/; do
    [[ -f $d/cgroup.procs ]] && echo "${d%/}/$mp_node_cgroup"
  done
  return 0
}

# mp_node_up CLUSTER ROOT: starts the node's processes and waits until the node is Ready, kube-proxy
# serves and the cluster's DNS answers.
mp_node_up() {
  local cluster=$1 root=$2 n=$1/node p=$1/pki k name
  k=(kubectl --kubeconfig "$cluster/kubeconfig")
  mkdir -p "$n/containerd" "$n/kubelet" "$n/pod-logs" "$n/cni/net.d" "$n/cni/leases"
  for name in kubelet kubelet-healthz kube-proxy-healthz kube-proxy-metrics coredns-health coredns-ready \
    coredns-metrics apiserver-relay; do
    grep -q "^$name=" "$cluster/ports" || echo "$name=$(mp_free_port)" >>"$cluster/ports"
  done
  mp_node_certs "$p"
  local api
  api=https://127.0.0.1:$(mp_cluster_port "$cluster" apiserver)
  mp_cluster_kubeconfig "$n/kubelet.kubeconfig" "$api" "$p/ca.crt" "system:node:$mp_node_name" "$p/kubelet.crt" "$p/kubelet.key"
  mp_cluster_kubeconfig "$n/kube-proxy.kubeconfig" "$api" "$p/ca.crt" kube-proxy "$p/kube-proxy.crt" "$p/kube-proxy.key"
  mp_cluster_kubeconfig "$n/coredns.kubeconfig" "$api" "$p/ca.crt" coredns "$p/coredns.crt" "$p/coredns.key"
  mp_node_host_save "$cluster"

  mp_log "node network: bridge $mp_node_bridge $mp_node_ip/${mp_node_cidr#*/}, Services $mp_node_service_cidr routed to it"
  # The bridge exists before kubelet, so the node's address (kubelet's --node-ip, its serving address)
  # is there from the start; the CNI bridge plugin adopts it. The Service range is routed to the bridge,
  # so traffic to a ClusterIP never leaves through the host's default route.
  ip link add "$mp_node_bridge" type bridge
  ip addr add "$mp_node_ip/${mp_node_cidr#*/}" dev "$mp_node_bridge"
  ip link set "$mp_node_bridge" up
  ip route add "$mp_node_service_cidr" dev "$mp_node_bridge" src "$mp_node_ip"
  local d
  while read -r d; do
    mkdir -p "$d"
    if [[ -f $d/../cpuset.cpus ]]; then # a new cpuset cgroup holds no task until it has cpus and mems
      cat "$d/../cpuset.cpus" >"$d/cpuset.cpus"
      cat "$d/../cpuset.mems" >"$d/cpuset.mems"
    fi
  done < <(mp_node_cgroup_dirs)

  # Pods get a route to the Service range only, no default route: nothing they send leaves the machine.
  cat >"$n/cni/net.d/10-mp-real-node.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "mp-real-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$mp_node_bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$n/cni/leases",
        "ranges": [[{"subnet": "$mp_node_cidr", "gateway": "$mp_node_ip"}]],
        "routes": [{"dst": "$mp_node_service_cidr"}]
      }
    }
  ]
}
EOF

  local pause pause_image
  read -r pause pause_image < <(mp_node_pause_image "$root/images/pause/pause.c")
  # Every path of containerd and runc under the cluster's folder; NRI and the /opt plugin, which use
  # fixed host paths, are off.
  cat >"$n/containerd/config.toml" <<EOF
version = 3
root = "$n/containerd/root"
state = "$n/containerd/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$n/containerd/containerd.sock"
[ttrpc]
  address = "$n/containerd/containerd.sock.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$n/containerd/certs.d"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$pause_image"
[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # The pods' processes may not go below containerd's own oom_score_adj: this machine refuses any
  # process a lower one ("write /proc/self/oom_score_adj: permission denied"), and runc fails a sandbox
  # it cannot give kubelet's -998 ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  # this kernel mounts no hugetlb cgroup controller
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$n/containerd/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$n/cni/net.d"
    max_conf_num = 1
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
  # No image is ever pulled from outside the machine: every registry's address is 127.0.0.1:9, where
  # nothing listens, so a pull fails at once (images come from mp_node_load_images).
  mkdir -p "$n/containerd/certs.d/_default"
  cat >"$n/containerd/certs.d/_default/hosts.toml" <<'EOF'
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
EOF
  mp_log "starting containerd $(containerd --version | awk '{print $3}') (runc $(runc --version | awk 'NR==1{print $3}'))"
  mp_cluster_launch "$cluster" containerd containerd --config "$n/containerd/config.toml" --log-level warn
  mp_wait_for 30 containerd mp_node_ctr "$cluster" version || mp_cluster_fail "$cluster" containerd
  mp_node_ctr "$cluster" images import "$pause" >/dev/null 2>&1 || mp_die "could not import the pause image into containerd"

  # kubelet: cgroup v1 (failCgroupV1: false; this kernel mounts only v1 controllers), cgroupfs, its
  # pods' cgroups under /$mp_node_cgroup, serving on the node's address with a certificate from the
  # cluster's CA, webhook authentication and authorization (the API server asks who may read logs,
  # exec, port-forward). No image garbage collection: the images are imported, never pulled back.
  # Tainted: see mp_node_taint.
  # Pods get only the cluster's DNS: an empty resolv.conf stands for the host's.
  : >"$n/kubelet/resolv.conf"
  cat >"$n/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$mp_node_cgroup
containerRuntimeEndpoint: unix://$n/containerd/containerd.sock
address: $mp_node_ip
port: $(mp_cluster_port "$cluster" kubelet)
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(mp_cluster_port "$cluster" kubelet-healthz)
tlsCertFile: $p/kubelet.crt
tlsPrivateKeyFile: $p/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $p/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$mp_node_dns_ip]
resolvConf: $n/kubelet/resolv.conf
podLogsDir: $n/pod-logs
maxPods: 60
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
staticPodPath: ""
registerWithTaints: [{key: $mp_node_taint, value: "true", effect: NoSchedule}]
EOF
  mp_log "starting kubelet (node $mp_node_name at $mp_node_ip, cgroup v1, cgroupfs)"
  mp_cluster_launch "$cluster" kubelet kubelet --config="$n/kubelet/config.yaml" --kubeconfig="$n/kubelet.kubeconfig" \
    --root-dir="$n/kubelet" --cert-dir="$n/kubelet/pki" --hostname-override="$mp_node_name" --node-ip="$mp_node_ip" \
    --node-labels=movie-platform.io/node=real --v=1
  mp_wait_for 120 "node $mp_node_name Ready" "${k[@]}" wait --for=condition=Ready "node/$mp_node_name" --timeout=2s ||
    mp_cluster_fail "$cluster" kubelet

  cat >"$n/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
hostnameOverride: $mp_node_name
clientConnection: {kubeconfig: $n/kube-proxy.kubeconfig}
clusterCIDR: $mp_node_cidr
bindAddress: $mp_node_ip
healthzBindAddress: 127.0.0.1:$(mp_cluster_port "$cluster" kube-proxy-healthz)
metricsBindAddress: 127.0.0.1:$(mp_cluster_port "$cluster" kube-proxy-metrics)
nodePortAddresses: [$mp_node_ip/32]
conntrack: {maxPerCore: 0, min: 0}
EOF
  mp_log "starting kube-proxy (nftables; NodePorts on $mp_node_ip only)"
  mp_cluster_launch "$cluster" kube-proxy kube-proxy --config="$n/kube-proxy.yaml" --v=1
  mp_wait_for 60 kube-proxy curl -fsS "http://127.0.0.1:$(mp_cluster_port "$cluster" kube-proxy-healthz)/healthz" ||
    mp_cluster_fail "$cluster" kube-proxy

  # The kubernetes Service: the API server listens on 127.0.0.1 only, which a pod cannot reach, so a
  # relay on the node's address forwards to it and the Service's EndpointSlice names the relay.
  local relay_port
  relay_port=$(mp_cluster_port "$cluster" apiserver-relay)
  mp_cluster_launch "$cluster" apiserver-relay socat "TCP-LISTEN:$relay_port,bind=$mp_node_ip,fork,reuseaddr" \
    "TCP:127.0.0.1:$(mp_cluster_port "$cluster" apiserver)"
  "${k[@]}" apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-real-node
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: movie-platform.io-cluster}
addressType: IPv4
ports: [{name: https, port: $relay_port, protocol: TCP}]
endpoints: [{addresses: ["$mp_node_ip"], conditions: {ready: true}}]
EOF

  mp_node_volumes "$cluster"

  mp_log "starting CoreDNS on $mp_node_ip:53 (Service kube-dns $mp_node_dns_ip; cluster.local only)"
  "${k[@]}" apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $mp_node_dns_ip
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-real-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: movie-platform.io-cluster}
addressType: IPv4
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
endpoints: [{addresses: ["$mp_node_ip"], conditions: {ready: true}}]
EOF
  cat >"$n/Corefile" <<EOF
.:53 {
    bind $mp_node_ip
    errors
    health 127.0.0.1:$(mp_cluster_port "$cluster" coredns-health)
    ready 127.0.0.1:$(mp_cluster_port "$cluster" coredns-ready)
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $n/coredns.kubeconfig
        pods insecure
    }
    prometheus 127.0.0.1:$(mp_cluster_port "$cluster" coredns-metrics)
    cache 30
    loadbalance
}
EOF
  mp_cluster_launch "$cluster" coredns coredns -conf "$n/Corefile"
  mp_wait_for 60 CoreDNS curl -fsS "http://127.0.0.1:$(mp_cluster_port "$cluster" coredns-ready)/ready" ||
    mp_cluster_fail "$cluster" coredns
}

# mp_node_volumes CLUSTER: the StorageClass real-node and $mp_node_volume_count local PersistentVolumes on
# the node, folders under node/volumes. A claim binds to one when its first pod is scheduled (so only
# claims of pods on the real node take them) and keeps it: a StatefulSet's pod deleted and made again
# finds its data. Local volumes, not hostPath: kubelet applies a pod's fsGroup to them.
mp_node_volume_count=16
mp_node_volumes() {
  local cluster=$1 i dir
  {
    cat <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: real-node}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
    for ((i = 0; i < mp_node_volume_count; i++)); do
      dir=$cluster/node/volumes/pv-$i
      mkdir -p "$dir"
      cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: real-node-pv-$i}
spec:
  capacity: {storage: 4Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: real-node
  local: {path: "$dir"}
  nodeAffinity:
    required:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [$mp_node_name]}]}]
EOF
    done
  } | kubectl --kubeconfig "$cluster/kubeconfig" apply -f - >/dev/null
}

# mp_node_recycle_volumes CLUSTER: every Released volume of the node emptied and made Available again
# (what a provisioner's Delete would give: a claim deleted with its namespace leaves its volume
# Released, and no new claim binds to it).
mp_node_recycle_volumes() {
  local cluster=$1 pv path k
  k=(kubectl --kubeconfig "$cluster/kubeconfig")
  while read -r pv path; do
    [[ $path == "$cluster/node/volumes/"* ]] || continue
    find "$path" -mindepth 1 -delete
    "${k[@]}" patch pv "$pv" --type=json -p '[{"op":"remove","path":"/spec/claimRef"}]' >/dev/null
  done < <("${k[@]}" get pv -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name} {.spec.local.path}{"\n"}{end}')
}

# mp_node_load_images CLUSTER ARCHIVE...: imports image archives (docker-archive or oci-archive, as
# `scripts/build-images --save` writes them) into the node's containerd, where kubelet finds them.
mp_node_load_images() {
  local cluster=$1 archive
  shift
  for archive in "$@"; do
    mp_node_ctr "$cluster" images import "$archive" >"$cluster/logs/ctr-import.log" 2>&1 ||
      mp_die "could not import $archive: $(tail -n 3 "$cluster/logs/ctr-import.log")"
    mp_log "imported $archive"
  done
}

# mp_node_pids_of_shims CLUSTER: the pids of runc shims serving this node's containerd (found by the
# containerd address on their command line, which is this cluster's own socket).
mp_node_pids_of_shims() {
  local sock=$1/node/containerd/containerd.sock f pid
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -q "containerd-shim-runc-v2 .*-address $sock" && echo "$pid"
  done
  return 0
}

# mp_node_stop_pids PID...: SIGTERM, then SIGKILL after 10 s.
mp_node_stop_pids() {
  local pid
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.2
  done
  kill -KILL "$@" 2>/dev/null || true
}

# mp_node_down CLUSTER: stops the node's processes and containers and undoes what mp_node_up changed on
# the host. Safe to run on a half-started node.
mp_node_down() {
  local cluster=$1 n=$1/node name pid pids=()
  [[ -d $n ]] || return 0
  for name in apiserver-relay coredns kube-proxy kubelet; do
    pid=$(mp_cluster_pid "$cluster" "$name") && pids+=("$pid")
  done
  mp_node_stop_pids "${pids[@]}"
  # Every container of every pod, killed through containerd before containerd stops (its shims would
  # outlive it); then containerd itself, and any shim left.
  if mp_cluster_pid "$cluster" containerd >/dev/null; then
    local id
    for id in $(mp_node_ctr "$cluster" tasks ls -q 2>/dev/null); do
      mp_node_ctr "$cluster" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    for _ in $(seq 1 50); do
      mp_node_ctr "$cluster" tasks ls 2>/dev/null | grep -q RUNNING || break
      sleep 0.2
    done
    for id in $(mp_node_ctr "$cluster" tasks ls -q 2>/dev/null); do
      mp_node_ctr "$cluster" tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(mp_node_ctr "$cluster" containers ls -q 2>/dev/null); do
      mp_node_ctr "$cluster" containers rm "$id" >/dev/null 2>&1 || true
    done
    pid=$(mp_cluster_pid "$cluster" containerd) && mp_node_stop_pids "$pid"
  fi
  # shellcheck disable=SC2046  # one pid per word
  mp_node_stop_pids $(mp_node_pids_of_shims "$cluster")
  for name in "${mp_node_components[@]}"; do rm -f "$cluster/run/$name.pid"; done

  # Mounts below the node's folder (pod volumes, container root filesystems, network namespaces),
  # deepest first.
  local m
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(findmnt -rn -o TARGET | grep -F "$n/" | sort -r)

  nft delete table ip kube-proxy 2>/dev/null || true
  nft delete table ip6 kube-proxy 2>/dev/null || true
  if [[ -f $n/host-state ]]; then
    # Chains that were not there before `up` (kubelet's KUBE-FIREWALL, KUBE-KUBELET-CANARY, ...), in
    # every table: the rules that jump to them, then the chains.
    local cmd table chain rule
    for cmd in iptables ip6tables; do
      for table in filter nat mangle; do
        while read -r chain; do
          grep -qxF "chain $chain" "$n/host-state" && continue
          while read -r rule; do
            read -r -a words <<<"${rule/#-A /-D }"
            "$cmd" -t "$table" "${words[@]}" 2>/dev/null || true
          done < <("$cmd" -t "$table" -S 2>/dev/null | grep -E "^-A .* -j $chain( |\$)")
          "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
          "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
        done < <("$cmd" -t "$table" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p')
      done
    done
    # Tables those chains made (iptables-nft makes a table on first use) and that are empty now.
    local family name
    while read -r _ family name; do
      grep -qxF "table $family $name" "$n/host-state" && continue
      [[ $(nft list table "$family" "$name" 2>/dev/null | grep -cv '^table \|^}$') == 0 ]] &&
        nft delete table "$family" "$name" 2>/dev/null
    done < <(nft list tables)
    local line
    while read -r line; do
      [[ $line == sysctl\ * ]] && sysctl -q -w "${line#sysctl }" >/dev/null
    done <"$n/host-state"
  fi
  ip link del "$mp_node_bridge" 2>/dev/null || true
  local d
  while read -r d; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done < <(mp_node_cgroup_dirs)
  rm -rf /var/lib/cni/results/mp-real-node-* 2>/dev/null || true
}
