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
mp_node_components=(containerd kubelet kube-proxy coredns apiserver-relay kube-router)
# The relay's port on the node's address, the kubernetes Service's endpoint: the API server's port of
# kubeadm and k3s clusters, so that the chart's egress policies to the API server (operator.apiServer.ports,
# 443 and 6443) hold here as they are. NetworkPolicies see the endpoint's port, after kube-proxy's DNAT.
mp_node_relay_port=6443
# kubelet sets these at start (unless protectKernelDefaults, which makes it refuse to start instead).
mp_node_sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes)

mp_node_ctr() { ctr --address "$1/node/containerd/containerd.sock" --namespace k8s.io "${@:2}"; }

# mp_node_check: what the node needs from the host, said before anything starts.
mp_node_check() {
  [[ $(id -u) -eq 0 ]] || mp_die "--real-node needs root (containers, mounts, netfilter)"
  local tool
  for tool in runc nft ip socat ipset iptables; do
    command -v "$tool" >/dev/null || mp_die "--real-node: $tool is missing: run scripts/install-deps"
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] ||
    mp_die "--real-node: the CNI plugins are missing (/usr/lib/cni): run scripts/install-deps"
  command -v gcc >/dev/null || mp_die "--real-node: gcc is missing (the pause program): run scripts/install-deps"
  if ip link show "$mp_node_bridge" >/dev/null 2>&1 || nft list table ip kube-proxy >/dev/null 2>&1; then
    mp_die "--real-node: a real node already runs on this machine (bridge $mp_node_bridge or nftables table kube-proxy exists; one per machine)"
  fi
}

# mp_node_image DIR REF CONFIG: DIR/image.tar, a docker-archive of one layer made of DIR/rootfs (every
# file owned by root), named REF, with CONFIG the image's "config" object (JSON). For the images the
# node itself provides, built without buildah: each holds one program and nothing else.
mp_node_image() {
  local dir=$1 ref=$2 config_object=$3 layer config
  rm -rf "$dir/archive"
  tar --numeric-owner --owner=0 --group=0 -C "$dir/rootfs" -cf "$dir/layer.tar" .
  layer=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$config_object" "$layer" >"$dir/config.json"
  config=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
  mkdir -p "$dir/archive/$layer"
  mv "$dir/layer.tar" "$dir/archive/$layer/layer.tar"
  mv "$dir/config.json" "$dir/archive/$config.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config" "$ref" "$layer" \
    >"$dir/archive/manifest.json"
  tar -C "$dir/archive" -cf "$dir/image.tar.tmp" .
  mv "$dir/image.tar.tmp" "$dir/image.tar"
  rm -rf "$dir/archive"
}

# mp_node_pause_image SOURCE: the pods' sandbox image (images/pause/pause.c, static), made once per
# source in the cache; prints the archive's path and the image's name. Its tag is the source's digest.
mp_node_pause_image() {
  local src=$1 digest dir
  digest=$(sha256sum "$src" | cut -c1-12)
  dir=$MP_CLUSTER_CACHE/pause-$digest
  if [[ ! -f $dir/pause.tar ]]; then
    rm -rf "$dir"
    mkdir -p "$dir/rootfs"
    gcc -static -Os -Wall -Wextra -Werror -o "$dir/rootfs/pause" "$src" || mp_die "could not build $src"
    strip "$dir/rootfs/pause"
    mp_node_image "$dir" "docker.io/movie-platform/pause:$digest" '{"Entrypoint":["/pause"],"User":"65535:65535"}'
    mv "$dir/image.tar" "$dir/pause.tar"
  fi
  echo "$dir/pause.tar docker.io/movie-platform/pause:$digest"
}

# mp_node_prometheus_image: the image the real node runs the chart's Prometheus from
# (mp_node_prometheus_ref): the prometheus program built from its Go module at the chart's version
# (mp_build_prometheus), laid out as prom/prometheus has it: /bin/prometheus, user nobody, working in
# /prometheus (the chart mounts its data there, its configuration in /etc/prometheus). Made once per
# build; prints the archive's path.
mp_node_prometheus_ref=docker.io/movie-platform/prometheus:$MP_PROMETHEUS_VERSION
mp_node_prometheus_image() {
  local tool dir
  tool=$(mp_tool_dir prometheus "v0.${MP_PROMETHEUS_VERSION#v2.}")
  dir=$tool/image
  if [[ ! -f $dir/image.tar || $dir/image.tar -ot $tool/bin/prometheus ]]; then
    rm -rf "$dir"
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/prometheus" "$dir/rootfs/etc/prometheus"
    cp "$tool/bin/prometheus" "$dir/rootfs/bin/prometheus"
    mp_node_image "$dir" "$mp_node_prometheus_ref" \
      '{"Entrypoint":["/bin/prometheus"],"User":"65534:65534","WorkingDir":"/prometheus","ExposedPorts":{"9090/tcp":{}}}'
  fi
  echo "$dir/image.tar"
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
  mp_cluster_cert "$p" kube-router "/CN=system:kube-router"
}

# mp_node_host_save CLUSTER: records what kubelet and kube-proxy will change, for mp_node_down.
mp_node_host_save() {
  local f=$1/node/host-state s
  {
    for s in "${mp_node_sysctls[@]}"; do echo "sysctl $s=$(sysctl -n "$s")"; done
    { iptables-save; ip6tables-save; } 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/chain \1/p' | sort -u
    nft list tables | sed 's/^table /table /'
    ipset list -n 2>/dev/null | sed 's/^/ipset /'
  } >"$f"
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

# --- starting the node: named steps, each with its undo (scripts/lib/steps.sh) --------------------
# mp_node_up CLUSTER ROOT runs them in this order and, when one fails, undoes those that ran, newest
# first; mp_node_down runs the same undos for a node that came up. Each step works on the node's
# folder (mp_node_dir) and reads the cluster's folder and the work tree from mp_node_cluster and
# mp_node_root.
mp_node_steps=(mp_node_files mp_node_host mp_node_bridge mp_node_cgroups mp_node_containerd mp_node_kubelet
  mp_node_proxy mp_node_relay mp_node_volumes mp_node_dns mp_node_netpol)

# mp_node_select CLUSTER [ROOT]: the node the steps work on.
mp_node_select() {
  mp_node_cluster=$1
  mp_node_root=${2:-}
  mp_node_dir=$1/node
}

# mp_node_up CLUSTER ROOT: starts the node's processes and waits until the node is Ready, kube-proxy
# serves and the cluster's DNS answers; when a step fails, the host is left as it was and it fails.
mp_node_up() {
  mp_node_select "$1" "$2"
  mkdir -p "$mp_node_dir"
  mp_steps_up "$mp_node_dir/steps" "${mp_node_steps[@]}" || mp_die "the real node did not come up (logs in $1/logs)"
}

# mp_node_down CLUSTER: undoes every step that ran, newest first. Safe on a half-started node.
mp_node_down() {
  mp_node_select "$1"
  mp_steps_down "$mp_node_dir/steps"
}

mp_node_k() { kubectl --kubeconfig "$mp_node_cluster/kubeconfig" "$@"; }
mp_node_port() { mp_cluster_port "$mp_node_cluster" "$1"; }
# mp_node_wait SECONDS WHAT COMPONENT COMMAND...: mp_wait_for, then the end of COMPONENT's log and a failure.
mp_node_wait() {
  mp_wait_for "$1" "$2" "${@:4}" && return 0
  mp_log "$3 did not come up; the end of $mp_node_cluster/logs/$3.log:"
  tail -n 30 "$mp_node_cluster/logs/$3.log" >&2 || true
  return 1
}
# mp_node_stop NAME...: the processes NAME... that a step started, stopped by pid (mp_node_stop_pids).
mp_node_stop() {
  local name pid pids=()
  for name in "$@"; do
    pid=$(mp_cluster_pid "$mp_node_cluster" "$name") && pids+=("$pid")
    rm -f "$mp_node_cluster/run/$name.pid"
  done
  mp_node_stop_pids "${pids[@]}"
}

# files: the node's folders, ports, identities and kubeconfigs (files only: nothing to undo on the host).
mp_node_files_up() {
  local n=$mp_node_dir p=$mp_node_cluster/pki name api
  mkdir -p "$n/containerd" "$n/kubelet" "$n/pod-logs" "$n/cni/net.d" "$n/cni/leases"
  for name in kubelet kubelet-healthz kube-proxy-healthz kube-proxy-metrics coredns-health coredns-ready \
    coredns-metrics kube-router-health; do
    grep -q "^$name=" "$mp_node_cluster/ports" || echo "$name=$(mp_free_port)" >>"$mp_node_cluster/ports"
  done
  grep -q "^apiserver-relay=" "$mp_node_cluster/ports" || echo "apiserver-relay=$mp_node_relay_port" >>"$mp_node_cluster/ports"
  mp_node_certs "$p"
  api=https://127.0.0.1:$(mp_node_port apiserver)
  for name in kube-proxy coredns kube-router; do
    mp_cluster_kubeconfig "$n/$name.kubeconfig" "$api" "$p/ca.crt" "$name" "$p/$name.crt" "$p/$name.key"
  done
  mp_cluster_kubeconfig "$n/kubelet.kubeconfig" "$api" "$p/ca.crt" "system:node:$mp_node_name" "$p/kubelet.crt" "$p/kubelet.key"
}
mp_node_files_down() { :; }

# host: what kubelet and kube-proxy will change on the host, recorded (mp_node_host_save); the undo puts
# it back.
mp_node_host_up() { mp_node_host_save "$mp_node_cluster"; }
mp_node_host_down() { mp_node_host_restore "$mp_node_dir/host-state"; }

# bridge: the node's address on a bridge before kubelet starts, so that kubelet's --node-ip and serving
# address exist from the start (the CNI bridge plugin adopts the bridge); the Service range routed to
# it, so that traffic to a ClusterIP never leaves through the host's default route.
mp_node_bridge_up() {
  mp_log "node network: bridge $mp_node_bridge $mp_node_ip/${mp_node_cidr#*/}, Services $mp_node_service_cidr routed to it"
  ip link add "$mp_node_bridge" type bridge
  ip addr add "$mp_node_ip/${mp_node_cidr#*/}" dev "$mp_node_bridge"
  ip link set "$mp_node_bridge" up
  ip route add "$mp_node_service_cidr" dev "$mp_node_bridge" src "$mp_node_ip"
}
mp_node_bridge_down() { ip link del "$mp_node_bridge" 2>/dev/null || true; }

# cgroups: /<mp_node_cgroup> in every hierarchy, kubelet's cgroupRoot.
mp_node_cgroups_up() {
  local d
  while read -r d; do
    mkdir -p "$d"
    if [[ -f $d/../cpuset.cpus ]]; then # a new cpuset cgroup holds no task until it has cpus and mems
      cat "$d/../cpuset.cpus" >"$d/cpuset.cpus"
      cat "$d/../cpuset.mems" >"$d/cpuset.mems"
    fi
  done < <(mp_node_cgroup_dirs)
}
mp_node_cgroups_down() {
  local d
  while read -r d; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done < <(mp_node_cgroup_dirs)
  return 0
}

# containerd: its configuration (mp_node_containerd_config), started, with the pause and Prometheus
# images imported. The undo stops every container, containerd and its shims, and unmounts what they
# mounted.
mp_node_containerd_up() {
  local pause pause_image
  read -r pause pause_image < <(mp_node_pause_image "$mp_node_root/images/pause/pause.c")
  mp_node_cni_config >"$mp_node_dir/cni/net.d/10-mp-real-node.conflist"
  mp_node_containerd_config "$pause_image"
  mp_log "starting containerd $(containerd --version | awk '{print $3}') (runc $(runc --version | awk 'NR==1{print $3}'))"
  mp_cluster_launch "$mp_node_cluster" containerd containerd --config "$mp_node_dir/containerd/config.toml" --log-level warn
  mp_node_wait 30 containerd containerd mp_node_ctr "$mp_node_cluster" version
  mp_node_ctr "$mp_node_cluster" images import "$pause" >/dev/null 2>&1 || mp_die "could not import the pause image into containerd"
  mp_node_ctr "$mp_node_cluster" images import "$(mp_node_prometheus_image)" >/dev/null 2>&1 ||
    mp_die "could not import the Prometheus image into containerd"
}
mp_node_containerd_down() {
  mp_node_kill_containers
  mp_node_stop containerd
  # shellcheck disable=SC2046  # one pid per word
  mp_node_stop_pids $(mp_node_pids_of_shims "$mp_node_cluster")
  mp_node_unmount
  rm -rf /var/lib/cni/results/mp-real-node-* 2>/dev/null || true
}

# kubelet: started and the Node Ready.
mp_node_kubelet_up() {
  mp_node_kubelet_config >"$mp_node_dir/kubelet/config.yaml"
  : >"$mp_node_dir/kubelet/resolv.conf" # pods get only the cluster's DNS: an empty file stands for the host's
  mp_log "starting kubelet (node $mp_node_name at $mp_node_ip, cgroup v1, cgroupfs)"
  mp_cluster_launch "$mp_node_cluster" kubelet kubelet --config="$mp_node_dir/kubelet/config.yaml" \
    --kubeconfig="$mp_node_dir/kubelet.kubeconfig" --root-dir="$mp_node_dir/kubelet" --cert-dir="$mp_node_dir/kubelet/pki" \
    --hostname-override="$mp_node_name" --node-ip="$mp_node_ip" --node-labels=movie-platform.io/node=real --v=1
  mp_node_wait 120 "node $mp_node_name Ready" kubelet mp_node_k wait --for=condition=Ready "node/$mp_node_name" --timeout=2s
}
mp_node_kubelet_down() { mp_node_stop kubelet; }

# proxy: kube-proxy in nftables mode; the undo deletes its tables.
mp_node_proxy_up() {
  mp_node_proxy_config >"$mp_node_dir/kube-proxy.yaml"
  mp_log "starting kube-proxy (nftables; NodePorts on $mp_node_ip only)"
  mp_cluster_launch "$mp_node_cluster" kube-proxy kube-proxy --config="$mp_node_dir/kube-proxy.yaml" --v=1
  mp_node_wait 60 kube-proxy kube-proxy curl -fsS "http://127.0.0.1:$(mp_node_port kube-proxy-healthz)/healthz"
}
mp_node_proxy_down() {
  mp_node_stop kube-proxy
  nft delete table ip kube-proxy 2>/dev/null || true
  nft delete table ip6 kube-proxy 2>/dev/null || true
}

# relay: the kubernetes Service. The API server listens on 127.0.0.1 only, which a pod cannot reach, so
# a relay on the node's address forwards to it and the Service's EndpointSlice names the relay.
mp_node_relay_up() {
  local relay_port
  relay_port=$(mp_node_port apiserver-relay)
  mp_cluster_launch "$mp_node_cluster" apiserver-relay socat "TCP-LISTEN:$relay_port,bind=$mp_node_ip,fork,reuseaddr" \
    "TCP:127.0.0.1:$(mp_node_port apiserver)"
  mp_node_endpoints default kubernetes kubernetes-real-node "$mp_node_ip" "{name: https, port: $relay_port, protocol: TCP}"
}
mp_node_relay_down() { mp_node_stop apiserver-relay; }

mp_node_volumes_up() { mp_node_volumes "$mp_node_cluster"; }
mp_node_volumes_down() { :; } # PersistentVolume objects only: they go with the control plane

# dns: CoreDNS on the node's address, the Service kube-dns at mp_node_dns_ip.
mp_node_dns_up() {
  mp_log "starting CoreDNS on $mp_node_ip:53 (Service kube-dns $mp_node_dns_ip; cluster.local only)"
  mp_node_agent_role "$mp_node_cluster" coredns \
    '{apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}' \
    '{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}'
  mp_node_k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $mp_node_dns_ip
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
EOF
  mp_node_endpoints kube-system kube-dns kube-dns-real-node "$mp_node_ip" \
    "{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}"
  mp_node_corefile >"$mp_node_dir/Corefile"
  mp_cluster_launch "$mp_node_cluster" coredns coredns -conf "$mp_node_dir/Corefile"
  mp_node_wait 60 CoreDNS coredns curl -fsS "http://127.0.0.1:$(mp_node_port coredns-ready)/ready"
}
mp_node_dns_down() { mp_node_stop coredns; }

mp_node_netpol_down() { mp_node_stop kube-router; }

# mp_node_endpoints NAMESPACE SERVICE SLICE ADDRESS PORTS: an EndpointSlice SLICE of SERVICE with one
# ready endpoint ADDRESS and PORTS (flow-style YAML items).
mp_node_endpoints() {
  mp_node_k apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $3
  namespace: $1
  labels: {kubernetes.io/service-name: $2, endpointslice.kubernetes.io/managed-by: movie-platform.io-cluster}
addressType: IPv4
ports: [$5]
endpoints: [{addresses: ["$4"], conditions: {ready: true}}]
EOF
}

# --- the node's configuration files ---------------------------------------------------------------

# mp_node_cni_config: pods get a route to the Service range only, no default route: nothing they send
# leaves the machine.
mp_node_cni_config() {
  cat <<EOF
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
        "dataDir": "$mp_node_dir/cni/leases",
        "ranges": [[{"subnet": "$mp_node_cidr", "gateway": "$mp_node_ip"}]],
        "routes": [{"dst": "$mp_node_service_cidr"}]
      }
    }
  ]
}
EOF
}

# mp_node_containerd_config PAUSE_IMAGE: every path of containerd and runc under the node's folder; NRI
# and the /opt plugin, which use fixed host paths, are off. No image is ever pulled from outside the
# machine: every registry's address is 127.0.0.1:9, where nothing listens, so a pull fails at once
# (images come from mp_node_load_images).
mp_node_containerd_config() {
  local n=$mp_node_dir/containerd
  cat >"$n/config.toml" <<EOF
version = 3
root = "$n/root"
state = "$n/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$n/containerd.sock"
[ttrpc]
  address = "$n/containerd.sock.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$n/certs.d"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$1"
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
        Root = "$n/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$mp_node_dir/cni/net.d"
    max_conf_num = 1
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
  mkdir -p "$n/certs.d/_default"
  cat >"$n/certs.d/_default/hosts.toml" <<'EOF'
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
EOF
}

# mp_node_kubelet_config: cgroup v1 (failCgroupV1: false; this kernel mounts only v1 controllers),
# cgroupfs, its pods' cgroups under /$mp_node_cgroup, serving on the node's address with a certificate
# from the cluster's CA, webhook authentication and authorization (the API server asks who may read
# logs, exec, port-forward). No image garbage collection: the images are imported, never pulled back.
# Tainted: see mp_node_taint.
mp_node_kubelet_config() {
  local n=$mp_node_dir p=$mp_node_cluster/pki
  cat <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$mp_node_cgroup
containerRuntimeEndpoint: unix://$n/containerd/containerd.sock
address: $mp_node_ip
port: $(mp_node_port kubelet)
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(mp_node_port kubelet-healthz)
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
}

mp_node_proxy_config() {
  cat <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
hostnameOverride: $mp_node_name
clientConnection: {kubeconfig: $mp_node_dir/kube-proxy.kubeconfig}
clusterCIDR: $mp_node_cidr
bindAddress: $mp_node_ip
healthzBindAddress: 127.0.0.1:$(mp_node_port kube-proxy-healthz)
metricsBindAddress: 127.0.0.1:$(mp_node_port kube-proxy-metrics)
nodePortAddresses: [$mp_node_ip/32]
conntrack: {maxPerCore: 0, min: 0}
EOF
}

mp_node_corefile() {
  cat <<EOF
.:53 {
    bind $mp_node_ip
    errors
    health 127.0.0.1:$(mp_node_port coredns-health)
    ready 127.0.0.1:$(mp_node_port coredns-ready)
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $mp_node_dir/coredns.kubeconfig
        pods insecure
    }
    prometheus 127.0.0.1:$(mp_node_port coredns-metrics)
    cache 30
    loadbalance
}
EOF
}

# mp_node_agent_role CLUSTER NAME RULE...: ClusterRole system:NAME with the RULEs (flow-style YAML), bound
# to the user system:NAME (the CN of the agent's certificate, mp_node_certs).
mp_node_agent_role() {
  local cluster=$1 name=system:$2 rule
  shift 2
  {
    printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: "%s"}\nrules:\n' "$name"
    for rule in "$@"; do echo "- $rule"; done
    cat <<EOF
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "$name"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "$name"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "$name"}]
EOF
  } | kubectl --kubeconfig "$cluster/kubeconfig" apply -f - >/dev/null
}

# mp_node_netpol_up CLUSTER: NetworkPolicies enforced for the node's pods by kube-router's NetworkPolicy
# controller alone (no routing, no service proxy: kube-proxy does that), on the host as the node's other
# agents are. It keeps iptables chains (KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*) and ipsets in step
# with the policies; traffic from the node itself (kubelet's probes) stays allowed, as Kubernetes
# expects. Why not kube-network-policies: docs/cluster.md ("NetworkPolicies").
mp_node_netpol_up() {
  local c=$mp_node_cluster port
  mp_node_agent_role "$c" kube-router \
    '{apiGroups: [""], resources: [namespaces, pods, services, nodes, endpoints], verbs: [get, list, watch]}' \
    '{apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [get, list, watch]}' \
    '{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}'
  port=$(mp_node_port kube-router-health)
  mp_log "starting kube-router $MP_KUBE_ROUTER_VERSION, its NetworkPolicy controller only (iptables, ipset)"
  mp_cluster_launch "$c" kube-router kube-router --run-firewall=true --run-router=false \
    --run-service-proxy=false --enable-cni=false --kubeconfig="$mp_node_dir/kube-router.kubeconfig" \
    --hostname-override="$mp_node_name" --service-cluster-ip-range="$mp_node_service_cidr" \
    --health-port="$port" --v=1
  mp_node_wait 60 kube-router kube-router curl -fsS "http://127.0.0.1:$port/healthz"
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

# mp_node_kill_containers: every container of every pod, killed through containerd before containerd
# stops (its shims would outlive it).
mp_node_kill_containers() {
  local c=$mp_node_cluster id
  mp_cluster_pid "$c" containerd >/dev/null || return 0
  for id in $(mp_node_ctr "$c" tasks ls -q 2>/dev/null); do
    mp_node_ctr "$c" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 50); do
    mp_node_ctr "$c" tasks ls 2>/dev/null | grep -q RUNNING || break
    sleep 0.2
  done
  for id in $(mp_node_ctr "$c" tasks ls -q 2>/dev/null); do
    mp_node_ctr "$c" tasks delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(mp_node_ctr "$c" containers ls -q 2>/dev/null); do
    mp_node_ctr "$c" containers rm "$id" >/dev/null 2>&1 || true
  done
}

# mp_node_unmount: mounts below the node's folder (pod volumes, container root filesystems, network
# namespaces), deepest first.
mp_node_unmount() {
  local m
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(findmnt -rn -o TARGET | grep -F "$mp_node_dir/" | sort -r)
}

# mp_node_host_restore STATE: what mp_node_host_save recorded, put back: the iptables chains that were
# not there (kubelet's KUBE-FIREWALL, KUBE-KUBELET-CANARY, kube-router's) with the rules that jump to
# them, kube-router's ipsets, the empty tables those chains made, and the sysctls.
mp_node_host_restore() {
  local state=$1 cmd table chain rule
  [[ -f $state ]] || return 0
  for cmd in iptables ip6tables; do
    for table in filter nat mangle; do
      while read -r chain; do
        grep -qxF "chain $chain" "$state" && continue
        while read -r rule; do
          # xargs splits the rule as iptables quotes it (kube-router's comments hold spaces)
          xargs "$cmd" -t "$table" <<<"${rule/#-A /-D }" 2>/dev/null || true
        done < <("$cmd" -t "$table" -S 2>/dev/null | grep -E "^-A .* -j $chain( |\$)")
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
        "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
      done < <("$cmd" -t "$table" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p')
    done
  done
  local set
  while read -r set; do
    grep -qxF "ipset $set" "$state" || ipset destroy "$set" 2>/dev/null || true
  done < <(ipset list -n 2>/dev/null)
  # Tables those chains made (iptables-nft makes a table on first use) and that are empty now.
  local family name
  while read -r _ family name; do
    grep -qxF "table $family $name" "$state" && continue
    [[ $(nft list table "$family" "$name" 2>/dev/null | grep -cv '^table \|^}$') == 0 ]] &&
      nft delete table "$family" "$name" 2>/dev/null
  done < <(nft list tables)
  local line
  while read -r line; do
    [[ $line == sysctl\ * ]] && sysctl -q -w "${line#sysctl }" >/dev/null
  done <"$state"
  return 0
}
