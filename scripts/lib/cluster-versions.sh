# shellcheck shell=bash
# Every version of the local Kubernetes cluster (scripts/cluster), in one place. Each tool is built
# from its Go module; the cache key is made of these lines and the Go version, so changing one rebuilds
# what depends on it and nothing else.
# shellcheck disable=SC2034  # read by scripts/lib/cluster-build.sh and scripts/cluster
MP_K8S_VERSION=v1.36.3                 # k8s.io/kubernetes: kube-apiserver, -controller-manager, -scheduler, kubectl
MP_ETCD_VERSION=v3.6.16                # go.etcd.io/etcd/server/v3 (Debian's 3.4 is too old for 1.36)
MP_KWOK_VERSION=v0.8.0                 # sigs.k8s.io/kwok: simulated nodes
MP_METRICS_SERVER_VERSION=v0.8.0       # sigs.k8s.io/metrics-server: metrics.k8s.io for the HPA
MP_KSM_VERSION=v2.15.0                 # k8s.io/kube-state-metrics/v2: the dashboards' kube_* series (v2.16.0: no sum.golang.org entry)
MP_HELM_VERSION=v3.22.0                # helm.sh/helm/v3
# The real node (scripts/cluster up --real-node); kubelet and kube-proxy are k8s.io/kubernetes at MP_K8S_VERSION
MP_CONTAINERD_VERSION=v2.2.9           # github.com/containerd/containerd/v2: containerd, ctr, containerd-shim-runc-v2 (runc: Debian's)
MP_COREDNS_VERSION=v1.13.2             # github.com/coredns/coredns: the cluster's DNS, with the plugins a cluster uses
