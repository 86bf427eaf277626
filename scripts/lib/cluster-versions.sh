# shellcheck shell=bash
# Every version of the local Kubernetes cluster (scripts/cluster), in one place. Each tool is built
# from its Go module; the cache key is made of these lines and the Go version, so changing one rebuilds
# what depends on it and nothing else. The control plane's programs (up to helm) share one module, and
# so one set of dependencies: each is at a version built on the Kubernetes libraries k8s.io/* v0.36.x,
# as kubernetes v1.36 is, so that those are compiled once (scripts/lib/cluster-build.sh).
# shellcheck disable=SC2034  # read by scripts/lib/cluster-build.sh and scripts/cluster
MP_K8S_VERSION=v1.36.3                 # k8s.io/kubernetes: kube-apiserver, -controller-manager, -scheduler, kubectl
MP_ETCD_VERSION=v3.6.16                # go.etcd.io/etcd/server/v3 (Debian's 3.4 is too old for 1.36)
MP_KWOK_VERSION=v0.8.0                 # sigs.k8s.io/kwok: simulated nodes (k8s.io v0.36.1)
MP_METRICS_SERVER_VERSION=v0.9.0       # sigs.k8s.io/metrics-server: metrics.k8s.io for the HPA (k8s.io v0.36.2)
MP_KSM_VERSION=v2.20.0                 # k8s.io/kube-state-metrics/v2: the dashboards' kube_* series (k8s.io v0.36.3)
MP_HELM_VERSION=v3.21.4                # helm.sh/helm/v3 (k8s.io v0.36.2; v3.22.0 is on v0.37)
# The real node (scripts/cluster up --real-node); kubelet and kube-proxy are k8s.io/kubernetes at MP_K8S_VERSION
MP_CONTAINERD_VERSION=v2.2.9           # github.com/containerd/containerd/v2: containerd, ctr, containerd-shim-runc-v2 (runc: Debian's)
MP_COREDNS_VERSION=v1.13.2             # github.com/coredns/coredns: the cluster's DNS, with the plugins a cluster uses
MP_KUBE_ROUTER_VERSION=v2.1.0          # github.com/cloudnativelabs/kube-router/v2: its NetworkPolicy controller alone (iptables, ipset; docs/cluster.md: why not kube-network-policies)
MP_PROMETHEUS_VERSION=v2.53.4          # github.com/prometheus/prometheus (module v0.53.4): the chart's prometheus.image.tag, as an image for the real node
