# shellcheck shell=bash
# The real nodes of the local cluster (scripts/cluster up --real-node, --real-nodes N): containerd with
# Debian's runc, kubelet, kube-proxy (nftables mode), a bridge CNI network and kube-router's NetworkPolicy
# controller per node, joined to the control plane of scripts/lib/cluster.sh. This file is one node;
# scripts/lib/cluster-nodes.sh is what the nodes share (the node network, the relay to the API server,
# CoreDNS) and the commands on them. Source it after cluster.sh and steps.sh; docs/cluster.md ("A real
# node", "Several real nodes") says why each setting is what it is.
#
# Two layouts:
#   host   --real-node: one node, real-node, in the host's network namespace, its address on the bridge
#          mp-node0 (10.210.0.1), its pods on that bridge (10.210.0.0/24); kube-proxy's and kubelet's
#          netfilter changes are the host's (recorded at up, undone at down).
#   netns  --real-nodes N: each node a network namespace of its own (mp-NAME) on one host bridge mp-nodes
#          through a veth, at 10.212.0.(11+i), its pods on its own bridge in that namespace
#          (10.211.i.0/24), routes to the other nodes' pod ranges; its netfilter tables are its own.
# Either way each node has its own folder nodes/NAME (containerd's root, state, socket and runc's state;
# kubelet's root; pod logs; CNI configuration and leases; local volumes), cgroup root /mp-NAME and
# processes run/NAME.{containerd,kubelet,kube-proxy,kube-router}.pid. The list of nodes is nodes/list
# ("NAME INDEX LAYOUT" lines).

mp_node_name=real-node # the node of --real-node (tests/cluster/real-node reads it)
mp_node_service_cidr=10.0.0.0/24 # kube-apiserver's --service-cluster-ip-range (cluster.sh)
mp_node_dns_ip=10.0.0.10
mp_node_pod_supernet=10.211.0.0/16 # the netns layout's pods, node i's 10.211.i.0/24
# The node's taint: only pods that tolerate it run there, so that a chart installed for the simulated
# nodes (whose images this node does not hold) stays on them.
mp_node_taint=movie-platform.io/real-node
mp_node_agents=(containerd kubelet kube-proxy kube-router)
# kubelet sets these at start (unless protectKernelDefaults, which makes it refuse to start instead).
# shellcheck disable=SC2034 # read by cluster-nodes.sh
mp_node_sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes)

# mp_node_ctr NODE_DIR ARG...: ctr against the node's containerd.
mp_node_ctr() { ctr --address "$1/containerd/containerd.sock" --namespace k8s.io "${@:2}"; }

# mp_node_check: what the nodes need from the host, said before anything starts.
mp_node_check() {
  [[ $(id -u) -eq 0 ]] || mp_die "real nodes need root (containers, mounts, netfilter)"
  local tool
  for tool in runc nft ip socat ipset iptables nsenter; do
    command -v "$tool" >/dev/null || mp_die "real nodes: $tool is missing: run scripts/install-deps"
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] ||
    mp_die "real nodes: the CNI plugins are missing (/usr/lib/cni): run scripts/install-deps"
  command -v gcc >/dev/null || mp_die "real nodes: gcc is missing (the pause program): run scripts/install-deps"
  if ip link show mp-node0 >/dev/null 2>&1 || ip link show mp-nodes >/dev/null 2>&1 ||
    nft list table ip kube-proxy >/dev/null 2>&1; then
    mp_die "real nodes already run on this machine (bridge mp-node0 or mp-nodes, or nftables table kube-proxy, exists; one cluster with real nodes per machine)"
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


# mp_node_certs: the node's identities, from the cluster's CA. The Node authorizer knows kubelet by its
# group system:nodes and user system:node:<name>; its serving certificate names the node's address.
# kube-proxy, CoreDNS and kube-router are one identity each for all nodes (mp_nodes_certs).
mp_node_certs() {
  local p=$mp_node_dir/pki
  mkdir -p "$p"
  cp "$mp_node_cluster/pki/ca.crt" "$mp_node_cluster/pki/ca.key" "$p/"
  [[ -f $p/kubelet.crt ]] || mp_cluster_cert "$p" kubelet "/O=system:nodes/CN=system:node:$mp_node_name" \
    "IP:$mp_node_ip,DNS:$mp_node_name"
  rm -f "$p/ca.key" "$p/ca.srl"
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

# --- one node: its context -----------------------------------------------------------------------

# mp_node_select CLUSTER NAME [ROOT]: the node the steps and commands work on, from nodes/list: sets
# mp_node_{cluster,root,name,index,layout,dir,ip,cidr,gateway,bridge,netns,veth,cgroup} and mp_node_exec
# (the command prefix that runs a program in the node's network namespace; empty in the host layout).
mp_node_select() {
  local line
  line=$(grep "^$2 " "$1/nodes/list") || mp_die "no real node '$2' in $1 (scripts/cluster status)"
  mp_node_cluster=$1
  mp_node_root=${3:-}
  read -r mp_node_name mp_node_index mp_node_layout <<<"$line"
  mp_node_dir=$1/nodes/$mp_node_name
  mp_node_cgroup=mp-$mp_node_name
  mp_node_netns=mp-$mp_node_name
  mp_node_veth=mpv$mp_node_index
  if [[ $mp_node_layout == host ]]; then
    mp_node_ip=10.210.0.1
    mp_node_cidr=10.210.0.0/24
    mp_node_gateway=$mp_node_ip
    mp_node_bridge=mp-node0
    mp_node_exec=()
  else
    mp_node_ip=10.212.0.$((11 + mp_node_index))
    mp_node_cidr=10.211.$mp_node_index.0/24
    mp_node_gateway=10.211.$mp_node_index.1
    mp_node_bridge=cni0
    mp_node_exec=(nsenter "--net=/run/netns/$mp_node_netns")
  fi
}

mp_node_k() { kubectl --kubeconfig "$mp_node_cluster/kubeconfig" "$@"; }
mp_node_port() { mp_cluster_port "$mp_node_cluster" "$mp_node_name.$1"; }
# mp_node_launch AGENT COMMAND...: COMMAND started detached in the node's network namespace, as
# run/NAME.AGENT.pid with its output in logs/NAME.AGENT.log.
mp_node_launch() { mp_cluster_launch "$mp_node_cluster" "$mp_node_name.$1" "${mp_node_exec[@]}" "${@:2}"; }
mp_node_pid() { mp_cluster_pid "$mp_node_cluster" "$mp_node_name.$1"; }
# mp_node_wait SECONDS WHAT AGENT COMMAND...: mp_wait_for, or the end of AGENT's log and a failure.
mp_node_wait() {
  mp_wait_for "$1" "$2" "${@:4}" && return 0
  mp_log "$3 of $mp_node_name did not come up; the end of $mp_node_cluster/logs/$mp_node_name.$3.log:"
  tail -n 30 "$mp_node_cluster/logs/$mp_node_name.$3.log" >&2 || true
  return 1
}
# mp_node_stop AGENT...: the node's AGENTs, stopped by pid (mp_node_stop_pids).
mp_node_stop() {
  local name pid pids=()
  for name in "$@"; do
    pid=$(mp_node_pid "$name") && pids+=("$pid")
    rm -f "$mp_node_cluster/run/$mp_node_name.$name.pid"
  done
  mp_node_stop_pids "${pids[@]}"
}

# --- one node: named steps, each with its undo (scripts/lib/steps.sh) -----------------------------
# The machine (its folders, network, cgroups, volumes), recorded in nodes/NAME/steps, and the agents
# on it (containerd, kubelet, kube-proxy, kube-router), recorded in nodes/NAME/agents: `node NAME stop`
# undoes the agents only and `start` runs them again; `down` undoes both, agents first.
mp_node_machine_steps=(mp_node_files mp_node_network mp_node_cgroups mp_node_volumes)
mp_node_agent_steps=(mp_node_containerd mp_node_kubelet mp_node_proxy mp_node_netpol)

# mp_node_up CLUSTER NAME ROOT: the node's machine and agents, up until it is Ready; when a step fails,
# what this node's steps did is undone and it fails.
mp_node_up() {
  mp_node_select "$1" "$2" "$3"
  mkdir -p "$mp_node_dir"
  mp_steps_up "$mp_node_dir/steps" "${mp_node_machine_steps[@]}" || mp_die "node $2 did not come up"
  mp_steps_up "$mp_node_dir/agents" "${mp_node_agent_steps[@]}" || {
    mp_steps_down "$mp_node_dir/steps"
    mp_die "node $2 did not come up (logs in $1/logs/$2.*.log)"
  }
}

# mp_node_down CLUSTER NAME: every step of the node undone, the agents first. Safe on a half-started node.
mp_node_down() {
  mp_node_select "$1" "$2"
  mp_steps_down "$mp_node_dir/agents"
  mp_steps_down "$mp_node_dir/steps"
}

# files: the node's folders, ports, identity and kubeconfigs (files only: nothing to undo on the host).
# The agents reach the API server at 127.0.0.1 in the host layout, through the relay on the node
# network's host address in the netns layout (cluster-nodes.sh).
mp_node_files_up() {
  local n=$mp_node_dir p=$mp_node_cluster/pki name api
  mkdir -p "$n/containerd" "$n/kubelet" "$n/pod-logs" "$n/cni/net.d" "$n/cni/leases"
  for name in kubelet kubelet-healthz kube-proxy-healthz kube-proxy-metrics kube-router-health; do
    grep -q "^$mp_node_name.$name=" "$mp_node_cluster/ports" ||
      echo "$mp_node_name.$name=$(mp_free_port)" >>"$mp_node_cluster/ports"
  done
  mp_node_certs
  api=$(mp_nodes_api_url "$mp_node_cluster" "$mp_node_layout")
  for name in kube-proxy kube-router; do
    mp_cluster_kubeconfig "$n/$name.kubeconfig" "$api" "$p/ca.crt" "$name" "$p/$name.crt" "$p/$name.key"
  done
  mp_cluster_kubeconfig "$n/kubelet.kubeconfig" "$api" "$p/ca.crt" "system:node:$mp_node_name" \
    "$n/pki/kubelet.crt" "$n/pki/kubelet.key"
}
mp_node_files_down() { :; }

# network: the node's address. Host layout: the node network's bridge mp-node0, whose address is the
# node's (mp_nodes_bridge), so nothing here. Netns layout: mp_node_netns_up.
mp_node_network_up() {
  [[ $mp_node_layout == host ]] || mp_node_netns_up
}
mp_node_network_down() {
  [[ $mp_node_layout == netns ]] || return 0
  ip route del "$mp_node_cidr" 2>/dev/null || true
  ip netns del "$mp_node_netns" 2>/dev/null || true # takes the veth pair with it
  ip link del "$mp_node_veth" 2>/dev/null || true
}

# mp_node_netns_up: the network namespace mp-NAME, "a machine" on the node network: a veth from the host
# bridge mp-nodes (its end in the namespace named eth0) with the node's address; in the namespace, the
# Service range on eth0 and a route to each other node's pod range through that node; on the host, a
# route to this node's pod range through it. No default route anywhere: nothing leaves the machine.
mp_node_netns_up() {
  local ex=(ip netns exec "$mp_node_netns")
  mp_log "node $mp_node_name: network namespace $mp_node_netns, $mp_node_ip on mp-nodes, pods $mp_node_cidr"
  ip netns add "$mp_node_netns"
  ip link add "$mp_node_veth" type veth peer name "$mp_node_veth-n"
  ip link set "$mp_node_veth-n" netns "$mp_node_netns"
  ip link set "$mp_node_veth" master mp-nodes up
  "${ex[@]}" ip link set "$mp_node_veth-n" name eth0
  "${ex[@]}" ip link set lo up
  "${ex[@]}" ip addr add "$mp_node_ip/24" dev eth0
  "${ex[@]}" ip link set eth0 up
  mp_node_netns_routes
  ip route add "$mp_node_cidr" via "$mp_node_ip" dev mp-nodes
}

# mp_node_netns_routes: in the node's namespace, the Service range on eth0 and each other node's pod
# range through that node (again after eth0 was down: its routes went with it).
mp_node_netns_routes() {
  local ex=(ip netns exec "$mp_node_netns") other index
  "${ex[@]}" ip route replace "$mp_node_service_cidr" dev eth0 src "$mp_node_ip"
  while read -r other index _; do
    [[ $other == "$mp_node_name" ]] && continue
    "${ex[@]}" ip route replace "10.211.$index.0/24" via "10.212.0.$((11 + index))"
  done <"$mp_node_cluster/nodes/list"
}

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

# volumes: mp_node_volume_count local PersistentVolumes of the StorageClass real-node on this node,
# folders under nodes/NAME/volumes. A claim binds to one when its first pod is scheduled (so only claims
# of pods on this node take them) and keeps it: a StatefulSet's pod deleted and made again finds its
# data. Local volumes, not hostPath: kubelet applies a pod's fsGroup to them. The undo deletes the
# objects (a PersistentVolume whose claim still exists waits for it: no wait here).
mp_node_volume_count=16
mp_node_volumes_up() {
  local i
  for ((i = 0; i < mp_node_volume_count; i++)); do
    mkdir -p "$mp_node_dir/volumes/pv-$i"
    cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: $mp_node_name-pv-$i, labels: {movie-platform.io/node: $mp_node_name}}
spec:
  capacity: {storage: 4Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: real-node
  local: {path: "$mp_node_dir/volumes/pv-$i"}
  nodeAffinity:
    required:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [$mp_node_name]}]}]
EOF
  done | mp_node_k apply -f - >/dev/null
}
mp_node_volumes_down() { :; } # PersistentVolume objects only: they go with the control plane

# containerd: its configuration (mp_node_containerd_config), started, with the pause and Prometheus
# images imported. The undo stops every container, containerd and its shims, unmounts what they
# mounted, and empties containerd's and runc's state (a tmpfs on a real machine).
mp_node_containerd_up() {
  local pause pause_image
  read -r pause pause_image < <(mp_node_pause_image "$mp_node_root/images/pause/pause.c")
  mp_node_cni_config >"$mp_node_dir/cni/net.d/10-$mp_node_netns.conflist"
  mp_node_containerd_config "$pause_image"
  mp_log "node $mp_node_name: starting containerd $(containerd --version | awk '{print $3}') (runc $(runc --version | awk 'NR==1{print $3}'))"
  mp_node_launch containerd containerd --config "$mp_node_dir/containerd/config.toml" --log-level warn
  mp_node_wait 30 containerd containerd mp_node_ctr "$mp_node_dir" version
  mp_node_ctr "$mp_node_dir" images import "$pause" >/dev/null 2>&1 || mp_die "could not import the pause image into containerd"
  mp_node_ctr "$mp_node_dir" images import "$(mp_node_prometheus_image)" >/dev/null 2>&1 ||
    mp_die "could not import the Prometheus image into containerd"
}
mp_node_containerd_down() {
  mp_node_kill_containers
  mp_node_stop containerd
  # shellcheck disable=SC2046  # one pid per word
  mp_node_stop_pids $(mp_node_pids_of_shims "$mp_node_dir")
  mp_node_unmount
  rm -rf "$mp_node_dir/containerd/state" "$mp_node_dir/containerd/runc" "/var/lib/cni/results/$mp_node_netns-"*
}

# kubelet: started and the Node Ready.
mp_node_kubelet_up() {
  mp_node_kubelet_config >"$mp_node_dir/kubelet/config.yaml"
  : >"$mp_node_dir/kubelet/resolv.conf" # pods get only the cluster's DNS: an empty file stands for the host's
  mp_log "node $mp_node_name: starting kubelet (at $mp_node_ip, cgroup v1, cgroupfs)"
  mp_node_launch kubelet kubelet --config="$mp_node_dir/kubelet/config.yaml" \
    --kubeconfig="$mp_node_dir/kubelet.kubeconfig" --root-dir="$mp_node_dir/kubelet" --cert-dir="$mp_node_dir/kubelet/pki" \
    --hostname-override="$mp_node_name" --node-ip="$mp_node_ip" --node-labels=movie-platform.io/node=real --v=1
  mp_node_wait 120 "node $mp_node_name Ready" kubelet mp_node_k wait --for=condition=Ready "node/$mp_node_name" --timeout=2s
}
mp_node_kubelet_down() { mp_node_stop kubelet; }

# proxy: kube-proxy in nftables mode; the undo deletes its tables (in the host layout, the host's).
mp_node_proxy_up() {
  mp_node_proxy_config >"$mp_node_dir/kube-proxy.yaml"
  mp_log "node $mp_node_name: starting kube-proxy (nftables; NodePorts on $mp_node_ip only)"
  mp_node_launch kube-proxy kube-proxy --config="$mp_node_dir/kube-proxy.yaml" --v=1
  mp_node_wait 60 kube-proxy kube-proxy "${mp_node_exec[@]}" curl -fsS "http://127.0.0.1:$(mp_node_port kube-proxy-healthz)/healthz"
}
mp_node_proxy_down() {
  mp_node_stop kube-proxy
  [[ $mp_node_layout == host ]] || return 0
  nft delete table ip kube-proxy 2>/dev/null || true
  nft delete table ip6 kube-proxy 2>/dev/null || true
}

# netpol: NetworkPolicies enforced for the node's pods by kube-router's NetworkPolicy controller alone
# (no routing, no service proxy: kube-proxy does that), beside the node's other agents. It keeps
# iptables chains (KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*) and ipsets in step with the policies;
# traffic from the node itself (kubelet's probes) stays allowed, as Kubernetes expects. Why not
# kube-network-policies: docs/cluster.md ("NetworkPolicies").
mp_node_netpol_up() {
  local port
  port=$(mp_node_port kube-router-health)
  mp_log "node $mp_node_name: starting kube-router $MP_KUBE_ROUTER_VERSION, its NetworkPolicy controller only"
  mp_node_launch kube-router kube-router --run-firewall=true --run-router=false \
    --run-service-proxy=false --enable-cni=false --kubeconfig="$mp_node_dir/kube-router.kubeconfig" \
    --hostname-override="$mp_node_name" --service-cluster-ip-range="$mp_node_service_cidr" \
    --health-port="$port" --v=1
  mp_node_wait 60 kube-router kube-router "${mp_node_exec[@]}" curl -fsS "http://127.0.0.1:$port/healthz"
}
mp_node_netpol_down() { mp_node_stop kube-router; }

# --- one node: its configuration files -----------------------------------------------------------

# mp_node_cni_config: pods get routes to the Service range and (netns layout) the other nodes' pods and
# the node network (the host: the API server's connections, CoreDNS), no default route: nothing they
# send leaves the machine.
mp_node_cni_config() {
  local routes='{"dst": "'$mp_node_service_cidr'"}'
  [[ $mp_node_layout == host ]] || routes+=', {"dst": "'$mp_node_pod_supernet'"}, {"dst": "10.212.0.0/24"}'
  cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$mp_node_netns",
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
        "ranges": [[{"subnet": "$mp_node_cidr", "gateway": "$mp_node_gateway"}]],
        "routes": [$routes]
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
  local n=$mp_node_dir p=$mp_node_dir/pki
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
clusterCIDR: $([[ $mp_node_layout == host ]] && echo "$mp_node_cidr" || echo "$mp_node_pod_supernet")
bindAddress: $mp_node_ip
healthzBindAddress: 127.0.0.1:$(mp_node_port kube-proxy-healthz)
metricsBindAddress: 127.0.0.1:$(mp_node_port kube-proxy-metrics)
nodePortAddresses: [$mp_node_ip/32]
conntrack: {maxPerCore: 0, min: 0}
EOF
}


# --- one node: stopping and killing it -----------------------------------------------------------

# mp_node_pids_of_shims NODE_DIR: the pids of runc shims serving the node's containerd (found by the
# containerd address on their command line, which is the node's own socket).
mp_node_pids_of_shims() {
  local sock=$1/containerd/containerd.sock f pid
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
  local d=$mp_node_dir id
  mp_node_pid containerd >/dev/null || return 0
  for id in $(mp_node_ctr "$d" tasks ls -q 2>/dev/null); do
    mp_node_ctr "$d" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 50); do
    mp_node_ctr "$d" tasks ls 2>/dev/null | grep -q RUNNING || break
    sleep 0.2
  done
  for id in $(mp_node_ctr "$d" tasks ls -q 2>/dev/null); do
    mp_node_ctr "$d" tasks delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(mp_node_ctr "$d" containers ls -q 2>/dev/null); do
    mp_node_ctr "$d" containers rm "$id" >/dev/null 2>&1 || true
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

# mp_node_power_off: a power loss. Every process of the node (its agents, containerd's shims, every
# process in its cgroups) SIGKILLed in one call, and its network cut: the veth's both ends down. What
# a reboot would clear (mounts, containerd's and runc's state) goes when the agents are undone
# (`node NAME start` first undoes them, then starts them).
mp_node_power_off() {
  local pids=() agent pid d
  for agent in "${mp_node_agents[@]}"; do
    pid=$(mp_node_pid "$agent") && pids+=("$pid")
  done
  mapfile -t -O "${#pids[@]}" pids < <(mp_node_pids_of_shims "$mp_node_dir")
  while read -r d; do
    [[ -d $d ]] && mapfile -t -O "${#pids[@]}" pids < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
  done < <(mp_node_cgroup_dirs | grep -m1 /memory/)
  ((${#pids[@]})) && kill -KILL "${pids[@]}" 2>/dev/null
  if [[ $mp_node_layout == netns ]]; then
    ip link set "$mp_node_veth" down
    ip netns exec "$mp_node_netns" ip link set eth0 down
  else
    ip link set "$mp_node_bridge" down
  fi
  mp_log "node $mp_node_name: ${#pids[@]} processes SIGKILLed, network cut"
}

# mp_node_power_on: the network back (after mp_node_power_off).
mp_node_power_on() {
  if [[ $mp_node_layout == netns ]]; then
    ip netns exec "$mp_node_netns" ip link set eth0 up
    ip link set "$mp_node_veth" up
    # the routes through eth0 went with its link
    mp_node_netns_routes
  else
    ip link set "$mp_node_bridge" up
  fi
}

# --- images and volumes --------------------------------------------------------------------------

# mp_node_load_images NODE_DIR ARCHIVE...: imports image archives (docker-archive or oci-archive, as
# `scripts/build-images --save` writes them) into the node's containerd, where kubelet finds them.
mp_node_load_images() {
  local dir=$1 archive log id stamp
  shift
  log=$dir/ctr-import.log
  mkdir -p "$dir/imported"
  for archive in "$@"; do
    # The image's id (its config's digest, named in the archive's manifest.json): an archive whose image
    # this node imported already is skipped (a reused cluster; an import is mostly unpacking, ~20 s).
    id=$(tar -xOf "$archive" manifest.json 2>/dev/null | sed -n 's/.*"Config":"\([^"]*\)".*/\1/p')
    stamp=$dir/imported/$(basename "$archive").id
    if [[ -n $id && -f $stamp && $(<"$stamp") == "$id" ]]; then
      mp_log "${dir##*/} holds $archive's image already"
      continue
    fi
    mp_node_ctr "$dir" images import "$archive" >"$log" 2>&1 ||
      mp_die "could not import $archive into $dir: $(tail -n 3 "$log")"
    [[ -z $id ]] || echo "$id" >"$stamp"
    mp_log "imported $archive into ${dir##*/}"
  done
}

# mp_node_wipe_volumes: the node's local volumes emptied, as a dead disk would leave them.
mp_node_wipe_volumes() { find "$mp_node_dir/volumes" -mindepth 2 -delete 2>/dev/null || true; }
