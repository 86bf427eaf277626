# shellcheck shell=bash
# The mp_node_* settings and state are cluster-node.sh's, sourced before this file (scripts/cluster).
# shellcheck disable=SC2154
# What the real nodes of the local cluster share, and the commands on them (scripts/cluster up
# --real-node / --real-nodes N, node, status, load-images). One node is scripts/lib/cluster-node.sh;
# source this after it. docs/cluster.md ("A real node", "Several real nodes").
#
# Shared, on the host: the node network's bridge (mp-node0 in the host layout, where its address is the
# node's; mp-nodes in the netns layout, with the host at 10.212.0.1) and the host's route to the Service
# range; the relay to the API server (the kubernetes Service's endpoint, and the nodes' way to the API
# server in the netns layout); CoreDNS for cluster.local (Service kube-dns); the identities of
# kube-proxy, CoreDNS and kube-router; the StorageClass real-node. Started as named steps before the
# nodes, recorded in nodes/steps, undone after them.

mp_nodes_steps=(mp_nodes_host mp_nodes_bridge mp_nodes_objects mp_nodes_relay mp_nodes_dns)
# The relay's port on the host's address, the kubernetes Service's endpoint: the API server's port of
# kubeadm and k3s clusters, so that the chart's egress policies to the API server (operator.apiServer.ports,
# 443 and 6443) hold here as they are. NetworkPolicies see the endpoint's port, after kube-proxy's DNAT.
mp_nodes_relay_port=6443

# mp_nodes_host_ip LAYOUT: the host's address on the node network.
mp_nodes_host_ip() { [[ $1 == host ]] && echo 10.210.0.1 || echo 10.212.0.1; }
# mp_nodes_api_url CLUSTER LAYOUT: where a node's agents reach the API server.
mp_nodes_api_url() {
  if [[ $2 == host ]]; then
    echo "https://127.0.0.1:$(mp_cluster_port "$1" apiserver)"
  else
    echo "https://$(mp_nodes_host_ip netns):$mp_nodes_relay_port"
  fi
}
mp_nodes_names() { [[ -f $1/nodes/list ]] && cut -d' ' -f1 "$1/nodes/list"; }
mp_nodes_layout() { sed -n '1s/.* //p' "$1/nodes/list"; }

# mp_nodes_up CLUSTER ROOT LAYOUT NAME...: the shared parts, then each node; on a failure, what ran is
# undone (the caller's `up` undoes the rest) and it fails.
mp_nodes_up() {
  local cluster=$1 root=$2 layout=$3 i=0 name
  shift 3
  mkdir -p "$cluster/nodes"
  for name in "$@"; do echo "$name $((i++)) $layout"; done >"$cluster/nodes/list"
  mp_nodes_cluster=$cluster mp_nodes_layout=$layout
  mp_steps_up "$cluster/nodes/steps" "${mp_nodes_steps[@]}" || mp_die "the real nodes' shared parts did not come up"
  for name in "$@"; do mp_node_up "$cluster" "$name" "$root"; done
}

# mp_nodes_down CLUSTER: every node undone (the last first), then the shared parts.
mp_nodes_down() {
  local cluster=$1 names=() i
  mapfile -t names < <(mp_nodes_names "$cluster")
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do mp_node_down "$cluster" "${names[i]}"; done
  mp_nodes_cluster=$cluster mp_nodes_layout=$(mp_nodes_layout "$cluster")
  mp_steps_down "$cluster/nodes/steps"
}

# host: what kubelets and kube-proxy will change on the host, recorded; the undo puts it back.
mp_nodes_host_up() { mp_nodes_host_save "$mp_nodes_cluster/nodes/host-state"; }
mp_nodes_host_down() { mp_nodes_host_restore "$mp_nodes_cluster/nodes/host-state"; }

# bridge: the node network. The host's route to the Service range goes to the bridge (host layout:
# kube-proxy runs on the host) or through the first node, whose kube-proxy serves it (netns layout;
# `scripts/cluster host-route NAME` picks another), so that traffic to a ClusterIP never leaves through
# the host's default route.
mp_nodes_bridge_up() {
  local ip bridge=mp-nodes
  ip=$(mp_nodes_host_ip "$mp_nodes_layout")
  [[ $mp_nodes_layout == host ]] && bridge=mp-node0
  mp_log "node network: bridge $bridge $ip/24"
  ip link add "$bridge" type bridge
  ip addr add "$ip/24" dev "$bridge"
  ip link set "$bridge" up
  if [[ $mp_nodes_layout == host ]]; then
    ip route add "$mp_node_service_cidr" dev "$bridge" src "$ip"
  else
    ip route add "$mp_node_service_cidr" via 10.212.0.11 dev "$bridge" onlink
  fi
}
mp_nodes_bridge_down() {
  ip link del mp-node0 2>/dev/null || true
  ip link del mp-nodes 2>/dev/null || true
}

# objects: the shared identities, their roles, the StorageClass (objects and files: no undo).
mp_nodes_objects_up() {
  local c=$mp_nodes_cluster p=$mp_nodes_cluster/pki name
  for name in kube-proxy coredns kube-router; do
    [[ -f $p/$name.crt ]] || mp_cluster_cert "$p" "$name" "/CN=system:$name"
  done
  mp_cluster_kubeconfig "$c/nodes/coredns.kubeconfig" "https://127.0.0.1:$(mp_cluster_port "$c" apiserver)" \
    "$p/ca.crt" coredns "$p/coredns.crt" "$p/coredns.key"
  mp_node_agent_role "$c" coredns \
    '{apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}' \
    '{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}'
  mp_node_agent_role "$c" kube-router \
    '{apiGroups: [""], resources: [namespaces, pods, services, nodes, endpoints], verbs: [get, list, watch]}' \
    '{apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [get, list, watch]}' \
    '{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}'
  kubectl --kubeconfig "$c/kubeconfig" apply -f - >/dev/null <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: real-node}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
}
mp_nodes_objects_down() { :; }

# relay: the API server listens on 127.0.0.1 only, which a pod (or a node's namespace) cannot reach, so
# a relay on the host's address forwards to it and the kubernetes Service's EndpointSlice names it.
mp_nodes_relay_up() {
  local c=$mp_nodes_cluster ip
  ip=$(mp_nodes_host_ip "$mp_nodes_layout")
  mp_cluster_launch "$c" apiserver-relay socat "TCP-LISTEN:$mp_nodes_relay_port,bind=$ip,fork,reuseaddr" \
    "TCP:127.0.0.1:$(mp_cluster_port "$c" apiserver)"
  mp_nodes_endpoints default kubernetes kubernetes-real-node "$ip" "{name: https, port: $mp_nodes_relay_port, protocol: TCP}"
  mp_wait_for 10 "the relay to the API server" curl -sk -o /dev/null "https://$ip:$mp_nodes_relay_port/healthz"
}
mp_nodes_relay_down() { mp_nodes_stop apiserver-relay; }

# dns: CoreDNS on the host's address, the Service kube-dns at mp_node_dns_ip.
mp_nodes_dns_up() {
  local c=$mp_nodes_cluster ip name
  ip=$(mp_nodes_host_ip "$mp_nodes_layout")
  for name in coredns-health coredns-ready coredns-metrics; do
    grep -q "^$name=" "$c/ports" || echo "$name=$(mp_free_port)" >>"$c/ports"
  done
  mp_log "starting CoreDNS on $ip:53 (Service kube-dns $mp_node_dns_ip; cluster.local only)"
  kubectl --kubeconfig "$c/kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $mp_node_dns_ip
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
EOF
  mp_nodes_endpoints kube-system kube-dns kube-dns-real-node "$ip" \
    "{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}"
  mp_nodes_corefile "$ip" >"$c/nodes/Corefile"
  mp_cluster_launch "$c" coredns coredns -conf "$c/nodes/Corefile"
  mp_wait_for 60 CoreDNS curl -fsS "http://127.0.0.1:$(mp_cluster_port "$c" coredns-ready)/ready" ||
    mp_cluster_fail "$c" coredns
}
mp_nodes_dns_down() { mp_nodes_stop coredns; }

mp_nodes_stop() {
  local pid
  pid=$(mp_cluster_pid "$mp_nodes_cluster" "$1") && mp_node_stop_pids "$pid"
  rm -f "$mp_nodes_cluster/run/$1.pid"
}

# mp_nodes_endpoints NAMESPACE SERVICE SLICE ADDRESS PORTS: an EndpointSlice SLICE of SERVICE with one
# ready endpoint ADDRESS and PORTS (flow-style YAML items).
mp_nodes_endpoints() {
  kubectl --kubeconfig "$mp_nodes_cluster/kubeconfig" apply -f - >/dev/null <<EOF
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

# mp_nodes_corefile ADDRESS
mp_nodes_corefile() {
  cat <<EOF
.:53 {
    bind $1
    errors
    health 127.0.0.1:$(mp_cluster_port "$mp_nodes_cluster" coredns-health)
    ready 127.0.0.1:$(mp_cluster_port "$mp_nodes_cluster" coredns-ready)
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $mp_nodes_cluster/nodes/coredns.kubeconfig
        pods insecure
    }
    prometheus 127.0.0.1:$(mp_cluster_port "$mp_nodes_cluster" coredns-metrics)
    cache 30
    loadbalance
}
EOF
}

# mp_nodes_host_save FILE: what kubelets and kube-proxy will change on the host: the sysctls kubelet
# sets (not per network namespace), and the netfilter chains, tables and ipsets there before (the host
# layout's agents change the host's).
mp_nodes_host_save() {
  local s
  {
    for s in "${mp_node_sysctls[@]}"; do echo "sysctl $s=$(sysctl -n "$s")"; done
    { iptables-save; ip6tables-save; } 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/chain \1/p' | sort -u
    nft list tables
    ipset list -n 2>/dev/null | sed 's/^/ipset /'
  } >"$1"
}

# mp_nodes_host_restore FILE: what mp_nodes_host_save recorded, put back: the iptables chains that were
# not there (kubelet's KUBE-FIREWALL, KUBE-KUBELET-CANARY, kube-router's) with the rules that jump to
# them, kube-router's ipsets, the empty tables those chains made, kube-proxy's tables, and the sysctls.
mp_nodes_host_restore() {
  local state=$1 cmd table chain rule
  [[ -f $state ]] || return 0
  nft delete table ip kube-proxy 2>/dev/null || true
  nft delete table ip6 kube-proxy 2>/dev/null || true
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
  mp_nodes_restore_sets_and_tables "$state"
  local line
  while read -r line; do
    [[ $line == sysctl\ * ]] && sysctl -q -w "${line#sysctl }" >/dev/null
  done <"$state"
  return 0
}

# mp_nodes_restore_sets_and_tables FILE: ipsets not in FILE destroyed (no rule names them any more), and
# the tables not in FILE that are empty now (iptables-nft makes a table on first use).
mp_nodes_restore_sets_and_tables() {
  local state=$1 set family name
  while read -r set; do
    grep -qxF "ipset $set" "$state" || ipset destroy "$set" 2>/dev/null || true
  done < <(ipset list -n 2>/dev/null)
  while read -r _ family name; do
    grep -qxF "table $family $name" "$state" && continue
    [[ $(nft list table "$family" "$name" 2>/dev/null | grep -cv '^table \|^}$') == 0 ]] &&
      nft delete table "$family" "$name" 2>/dev/null
  done < <(nft list tables)
  return 0
}

# mp_node_agent_role CLUSTER NAME RULE...: ClusterRole system:NAME with the RULEs (flow-style YAML), bound
# to the user system:NAME (the CN of the agent's certificate, mp_nodes_objects_up).
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

# --- commands on the nodes -----------------------------------------------------------------------

# mp_nodes_load_images CLUSTER ARCHIVE...: the archives imported into every node's containerd, the nodes
# at once (an import is mostly unpacking: 2 min per node for the six images here, one after another).
mp_nodes_load_images() {
  local cluster=$1 name pids=() pid rc=0
  shift
  for name in $(mp_nodes_names "$cluster"); do
    mp_node_load_images "$cluster/nodes/$name" "$@" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  ((rc == 0)) || mp_die "load-images: an import failed (above)"
}

# mp_nodes_recycle_volumes CLUSTER: every Released volume of the nodes emptied and made Available again
# (what a provisioner's Delete would give: a claim deleted with its namespace leaves its volume
# Released, and no new claim binds to it).
mp_nodes_recycle_volumes() {
  local cluster=$1 pv path k
  k=(kubectl --kubeconfig "$cluster/kubeconfig")
  while read -r pv path; do
    [[ $path == "$cluster/nodes/"*/volumes/* ]] || continue
    find "$path" -mindepth 1 -delete
    "${k[@]}" patch pv "$pv" --type=json -p '[{"op":"remove","path":"/spec/claimRef"}]' >/dev/null
  done < <("${k[@]}" get pv -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name} {.spec.local.path}{"\n"}{end}')
}

# mp_nodes_command CLUSTER ROOT NAME ACTION [--wipe]: `scripts/cluster node`.
#   stop      a clean stop: kube-router, kube-proxy, kubelet stopped; every container killed through
#             containerd; containerd stopped (the agents' undos)
#   start     the agents started again (after stop or kill; the same name and address), until Ready
#   kill      a power loss (mp_node_power_off); --wipe also empties its local volumes
#   drain     kubectl drain --ignore-daemonsets --delete-emptydir-data (at most 300 s)
#   uncordon  kubectl uncordon
mp_nodes_command() {
  local cluster=$1 root=$2 name=$3 action=${4:-} wipe=${5:-}
  mp_node_select "$cluster" "$name" "$root"
  case $action in
    stop) mp_steps_down "$mp_node_dir/agents" ;;
    start)
      mp_steps_down "$mp_node_dir/agents"
      if [[ -f $mp_node_dir/powered-off ]]; then
        mp_node_power_on
        rm -f "$mp_node_dir/powered-off"
      fi
      mp_steps_up "$mp_node_dir/agents" "${mp_node_agent_steps[@]}" || mp_die "node $name did not start"
      ;;
    kill)
      [[ -z $wipe || $wipe == --wipe ]] || mp_die "node kill: unknown option '$wipe'"
      mp_node_power_off
      touch "$mp_node_dir/powered-off"
      [[ -z $wipe ]] || { mp_node_wipe_volumes && mp_log "node $name: local volumes wiped"; }
      ;;
    drain) mp_node_k drain "$name" --ignore-daemonsets --delete-emptydir-data --timeout=300s ;;
    uncordon) mp_node_k uncordon "$name" ;;
    *) mp_die "node: unknown action '$action' (stop | start | kill [--wipe] | drain | uncordon)" ;;
  esac
}

# mp_nodes_host_route CLUSTER NAME: the host's route to the Service range through NAME's kube-proxy
# (netns layout): the load balancer in front of the cluster, for clients on the host.
mp_nodes_host_route() {
  mp_node_select "$1" "$2"
  [[ $mp_node_layout == netns ]] || mp_die "host-route: only with --real-nodes"
  ip route replace "$mp_node_service_cidr" via "$mp_node_ip" dev mp-nodes onlink
}

# mp_nodes_status CLUSTER: each node's agents with their pids, then the pods on each node.
mp_nodes_status() {
  local cluster=$1 name agent pid rc=0
  for name in $(mp_nodes_names "$cluster"); do
    mp_node_select "$cluster" "$name"
    printf '%s (%s, %s):' "$name" "$mp_node_ip" "$mp_node_layout"
    [[ -f $mp_node_dir/powered-off ]] && printf ' POWERED OFF'
    for agent in "${mp_node_agents[@]}"; do
      if pid=$(mp_node_pid "$agent"); then printf ' %s=%s' "$agent" "$pid"; else printf ' %s=stopped' "$agent"; rc=3; fi
    done
    echo
    kubectl --kubeconfig "$cluster/kubeconfig" get pods -A --field-selector "spec.nodeName=$name" --no-headers \
      -o custom-columns='NS:.metadata.namespace,POD:.metadata.name,PHASE:.status.phase,IP:.status.podIP' 2>/dev/null |
      sed 's/^/    /'
  done
  return "$rc"
}
