# shellcheck shell=bash disable=SC2016  # the bash -c scripts take their values as arguments
# Builds the local cluster's programs from their Go modules, each into a cache folder outside the work
# tree keyed by its version and the Go version, and reuses a finished folder. Nothing is downloaded but Go
# modules. Source it after common.sh and cluster-versions.sh.
#
# Why wrapper modules: kubernetes and etcd keep `replace` lines in their go.mod, so `go install pkg@v`
# refuses them. A module of our own that requires them (and, for kubernetes, replaces each staging
# module's v0.0.0 with its real version) builds their main packages as ordinary dependencies.
#
# The control plane's seven programs come from ONE wrapper module. Their versions (cluster-versions.sh)
# are chosen so that all of them use the Kubernetes libraries of one minor release, k8s.io/* v0.36.x,
# which the wrapper pins at kubernetes' own v0.36.N: Go then compiles client-go, apimachinery, apiserver
# and the rest once for all seven instead of once per program (docs/cluster.md, "Cold build").

MP_CLUSTER_CACHE=${MP_CLUSTER_CACHE:-/var/cache/movie-platform/cluster}

MP_GO_MINIMUM=1.26
MP_GO_TOOLCHAIN=go1.26.8

# mp_go_env: a Go of at least $MP_GO_MINIMUM on PATH, and the build settings. A machine without one (a
# fresh Debian bookworm has Go 1.19) gets Debian's golang-go and, through it, the Go toolchain module
# golang.org/toolchain from the module proxy: what `GOTOOLCHAIN=go1.26.8` does in newer Go versions.
mp_go_env() {
  if ! command -v go >/dev/null || ! mp_go_recent_enough; then
    # The module's files carry no execute bits: the go command sets them when it switches toolchains.
    local dir=$MP_CLUSTER_CACHE/$MP_GO_TOOLCHAIN module
    if [[ ! -x $dir/bin/go ]]; then
      command -v go >/dev/null || apt-get install -y -qq --no-install-recommends golang-go >/dev/null ||
        mp_die "no Go on PATH and apt-get install golang-go failed"
      mp_log "fetching the Go toolchain $MP_GO_TOOLCHAIN (module golang.org/toolchain) from the module proxy"
      module=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "golang.org/toolchain@v0.0.1-$MP_GO_TOOLCHAIN.linux-amd64" |
        sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
      [[ -f $module/bin/go ]] || mp_die "could not fetch the Go toolchain $MP_GO_TOOLCHAIN"
      rm -rf "$dir"
      mkdir -p "$MP_CLUSTER_CACHE"
      cp -r "$module" "$dir"
      chmod -R u+w "$dir"
      chmod a+x "$dir"/bin/* "$dir"/pkg/tool/*/*
    fi
    PATH=$dir/bin:$PATH
    export PATH
  fi
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  # keep the machine's GOPROXY; the module and build caches are outside the work tree already
  MP_GO_VERSION=$(go env GOVERSION)
}

mp_go_recent_enough() {
  local v
  v=$(go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [[ $(printf '%s\n%s\n' "$MP_GO_MINIMUM" "$v" | sort -V | head -1) == "$MP_GO_MINIMUM" ]]
}

# mp_tool_dir NAME VERSION: the cache folder of one tool build.
mp_tool_dir() { echo "$MP_CLUSTER_CACHE/$1-$2-$MP_GO_VERSION"; }

# mp_with_progress WHAT LOG COMMAND...: runs COMMAND with its output in LOG, printing every 30 s what is
# being built and for how long; on failure prints the end of LOG.
mp_with_progress() {
  local what=$1 log=$2 start=$SECONDS ticker rc=0
  shift 2
  mp_log "building $what (log: $log)"
  (
    while sleep 30; do mp_log "  still building $what: $(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s so far"; done
  ) &
  ticker=$!
  "$@" >"$log" 2>&1 || rc=$?
  kill "$ticker" 2>/dev/null
  wait "$ticker" 2>/dev/null || true
  if ((rc != 0)); then
    tail -n 40 "$log" >&2
    mp_die "building $what failed (exit $rc); full log in $log"
  fi
  mp_log "built $what in $((SECONDS - start))s"
}

# mp_build_begin DIR: 1 when DIR holds a finished build (its .done), else 0 holding the machine's one
# build lock: two builds never run at once (the second waits, then finds the first one's .done), and
# an `up` with everything built takes no lock, so it never waits on another clone's longer build.
# mp_build_end releases the lock; a build that fails holds it until its process exits.
mp_build_begin() {
  [[ -f $1/.done ]] && return 1
  exec {mp_build_lock}>"$MP_CLUSTER_CACHE/.build.lock"
  flock "$mp_build_lock"
  [[ -f $1/.done ]] || return 0
  mp_build_end
  return 1
}
mp_build_end() { exec {mp_build_lock}>&-; }

# mp_wrapper_module DIR MODULE@VERSION [go mod edit args...]: a wrapper module in DIR requiring MODULE.
mp_wrapper_module() {
  local dir=$1 req=$2
  shift 2
  rm -rf "$dir"
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    go mod init local.invalid/mp-cluster-build >/dev/null 2>&1
    go mod edit -go=1.26.0 "$@"
    go mod edit -require="$req"
  )
}

# mp_control_plane_dir: the cache folder of the control plane's programs. Its name holds a digest of
# every version that goes into their one module, since a change to any of them can move the
# dependencies of all, and Go's version.
mp_control_plane_dir() {
  local key
  key=$(printf '%s\n' "$MP_K8S_VERSION" "$MP_ETCD_VERSION" "$MP_KWOK_VERSION" "$MP_METRICS_SERVER_VERSION" \
    "$MP_KSM_VERSION" "$MP_HELM_VERSION" | sha256sum | cut -c1-10)
  echo "$MP_CLUSTER_CACHE/control-plane-$MP_K8S_VERSION-$key-$MP_GO_VERSION"
}

# The flags of every build from the control plane's module. One set of tags for all, so that a package
# shared by two programs is one compile (tags choose files); no DWARF, which -ldflags=-w would strip at
# the link anyway.
mp_go_build_flags=(-trimpath "-tags=selinux,notest" -gcflags=all=-dwarf=false)

# mp_control_plane_module DIR: the wrapper module in DIR: it requires kubernetes, etcd, kwok,
# metrics-server, kube-state-metrics and helm, and replaces each staging module of kubernetes (the
# `k8s.io/...  => ./staging/...` lines of its go.mod, as the proxy serves it) with its real version.
mp_control_plane_module() {
  local src=$1 v=$MP_K8S_VERSION gomod mods m edits=()
  gomod=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f $gomod ]] || mp_die "could not read k8s.io/kubernetes@$v's go.mod from the module proxy"
  mods=$(sed -n 's|^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*|\1|p' "$gomod")
  for m in $mods; do edits+=("-replace=$m=$m@v0.${v#v1.}"); done
  mp_wrapper_module "$src" "k8s.io/kubernetes@$v" "${edits[@]}"
  # `go get` of the main packages, not only of their modules, records the checksums of every module
  # they import. The real node's kubelet and kube-proxy are resolved too, so that building them later
  # changes nothing in the module.
  local cmds=() cmd
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
    cmds+=("k8s.io/kubernetes/cmd/$cmd@$v")
  done
  (
    cd "$src" &&
      go get "${cmds[@]}" "go.etcd.io/etcd/server/v3@$MP_ETCD_VERSION" \
        "sigs.k8s.io/kwok/cmd/kwok@$MP_KWOK_VERSION" \
        "sigs.k8s.io/metrics-server/cmd/metrics-server@$MP_METRICS_SERVER_VERSION" \
        "k8s.io/kube-state-metrics/v2@$MP_KSM_VERSION" "helm.sh/helm/v3/cmd/helm@$MP_HELM_VERSION"
  )
}

# mp_go_build SRC OUT LDFLAGS PACKAGE...: go build of the main packages into the folder OUT/ (or the file
# OUT for one package), in the module SRC.
mp_go_build() {
  local src=$1 out=$2 ldf=$3
  shift 3
  (cd "$src" && go build "${mp_go_build_flags[@]}" -ldflags="-s -w $ldf" -o "$out" "$@")
}

# mp_kubernetes_minor: the minor release of MP_K8S_VERSION (v1.36.2 -> 36).
mp_kubernetes_minor() {
  local minor=${MP_K8S_VERSION#v1.}
  echo "${minor%%.*}"
}

# mp_kubernetes_ldflags: the ldflags that set the version the kubernetes programs report (/version; Helm
# compares kubeVersion with it), as upstream's hack/lib/version.sh does; without them they say
# v0.0.0-master.
mp_kubernetes_ldflags() {
  local v=$MP_K8S_VERSION m ldf="" minor
  minor=$(mp_kubernetes_minor)
  for m in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $m.gitVersion=$v -X $m.gitMajor=1 -X $m.gitMinor=$minor -X $m.gitTreeState=clean"
    ldf+=" -X $m.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ldf"
}

# mp_build_control_plane: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok,
# metrics-server, kube-state-metrics and helm, one progress line each.
mp_build_control_plane() {
  local dir src log minor k8s=k8s.io/kubernetes/cmd helm_ldf p
  minor=$(mp_kubernetes_minor)
  dir=$(mp_control_plane_dir)
  mp_build_begin "$dir" || return 0
  src=$dir/src log=$MP_CLUSTER_CACHE/control-plane
  mkdir -p "$dir/bin"
  mp_with_progress "the control plane's module (go get of its six modules)" "$log-module.log" \
    mp_control_plane_module "$src"
  mp_with_progress "kubernetes $MP_K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl; cold: 15-25 min)" \
    "$log-kubernetes.log" mp_go_build "$src" "$dir/bin/" "$(mp_kubernetes_ldflags)" \
    "$k8s/kube-apiserver" "$k8s/kube-controller-manager" "$k8s/kube-scheduler" "$k8s/kubectl"
  mp_with_progress "etcd $MP_ETCD_VERSION" "$log-etcd.log" mp_go_build "$src" "$dir/bin/etcd" "" go.etcd.io/etcd/server/v3
  mp_with_progress "kwok $MP_KWOK_VERSION" "$log-kwok.log" mp_go_build "$src" "$dir/bin/kwok" "" sigs.k8s.io/kwok/cmd/kwok
  mp_with_progress "metrics-server $MP_METRICS_SERVER_VERSION" "$log-metrics-server.log" mp_go_build "$src" \
    "$dir/bin/metrics-server" "-X k8s.io/client-go/pkg/version.gitVersion=$MP_METRICS_SERVER_VERSION" \
    sigs.k8s.io/metrics-server/cmd/metrics-server
  mp_with_progress "kube-state-metrics $MP_KSM_VERSION" "$log-kube-state-metrics.log" mp_go_build "$src" \
    "$dir/bin/kube-state-metrics" "-X github.com/prometheus/common/version.Version=${MP_KSM_VERSION#v}" \
    k8s.io/kube-state-metrics/v2
  # As helm's own Makefile does: the Kubernetes version that `helm template` and `helm lint` assume
  # without a cluster is that of the client-go it is built with (else v1.20, and charts with a
  # kubeVersion refuse to render).
  helm_ldf="-X helm.sh/helm/v3/internal/version.version=$MP_HELM_VERSION"
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    helm_ldf+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
  done
  mp_with_progress "helm $MP_HELM_VERSION" "$log-helm.log" mp_go_build "$src" "$dir/bin/helm" "$helm_ldf" \
    helm.sh/helm/v3/cmd/helm
  touch "$dir/.done"
  mp_build_end
}

# mp_kubernetes_node_dir: the cache folder of the real node's kubelet and kube-proxy, named after the
# control plane's (whose module they are built from).
mp_kubernetes_node_dir() {
  local cp
  cp=$(mp_control_plane_dir)
  echo "$MP_CLUSTER_CACHE/kubernetes-node-${cp#"$MP_CLUSTER_CACHE"/control-plane-}"
}

# mp_build_kubernetes_node: kubelet and kube-proxy, for the real node (scripts/cluster up --real-node),
# from the control plane's module (so that Go's build cache shares its packages), into a folder of their
# own so that the control plane's does not change.
mp_build_kubernetes_node() {
  local dir cp k8s=k8s.io/kubernetes/cmd
  cp=$(mp_control_plane_dir)
  dir=$(mp_kubernetes_node_dir)
  mp_build_begin "$dir" || return 0
  mkdir -p "$dir/bin"
  mp_with_progress "kubelet and kube-proxy $MP_K8S_VERSION (cold: 3-6 min after the control plane's)" \
    "$MP_CLUSTER_CACHE/kubernetes-node-build.log" mp_go_build "$cp/src" "$dir/bin/" "$(mp_kubernetes_ldflags)" \
    "$k8s/kubelet" "$k8s/kube-proxy"
  touch "$dir/.done"
  mp_build_end
}

# mp_build_go_tool NAME VERSION MODULE PACKAGE BINARY [LDFLAGS [GO-MOD-EDIT-ARGS...]]: one main package
# of MODULE@VERSION built into NAME's cache folder as bin/BINARY; the wrapper module gets the go mod edit
# arguments (the replace lines of MODULE's own go.mod that its code needs).
mp_build_go_tool() {
  local name=$1 v=$2 module=$3 pkg=$4 binary=$5 ldf=${6:-} dir
  shift $(($# < 6 ? $# : 6))
  dir=$(mp_tool_dir "$name" "$v")
  mp_build_begin "$dir" || return 0
  mp_wrapper_module "$dir/src" "$module@$v" "$@"
  mp_with_progress "$name $v" "$MP_CLUSTER_CACHE/$name-build.log" bash -c '
    cd "$1" && go get "$7@$3" && go build -trimpath -ldflags="-s -w $4" -o "$5/bin/$6" "$7"' \
    _ "$dir/src" "$module" "$v" "$ldf" "$dir" "$binary" "$pkg"
  touch "$dir/.done"
  mp_build_end
}

# mp_build_containerd: containerd with its runc shim and ctr. Without cgo, so the btrfs snapshotter (a
# cgo library) is left out; overlayfs is what the node uses.
mp_build_containerd() {
  local v=$MP_CONTAINERD_VERSION dir m=github.com/containerd/containerd/v2
  dir=$(mp_tool_dir containerd "$v")
  mp_build_begin "$dir" || return 0
  mp_wrapper_module "$dir/src" "$m@$v"
  mp_with_progress "containerd $v (containerd, containerd-shim-runc-v2, ctr; cold: 5-10 min)" \
    "$MP_CLUSTER_CACHE/containerd-build.log" bash -c '
      cd "$1" && go get "$2/cmd/containerd@$3" "$2/cmd/ctr@$3" "$2/cmd/containerd-shim-runc-v2@$3" &&
      go build -trimpath -tags=no_btrfs -ldflags="-s -w -X $2/version.Version=$3" -o "$4/bin/" \
        "$2/cmd/containerd" "$2/cmd/ctr" "$2/cmd/containerd-shim-runc-v2"' _ "$dir/src" "$m" "$v" "$dir"
  touch "$dir/.done"
  mp_build_end
}

# mp_build_coredns: CoreDNS with the plugins a cluster's DNS uses (what kubeadm's Corefile names, and
# metrics, the prometheus directive), not its hundred others: the cloud providers' plugins alone would double
# the build. A main of our own, importing CoreDNS's coremain and those plugins, as CoreDNS's docs
# describe for custom builds. No forward plugin: the cluster's DNS answers for cluster.local only and never
# sends a query off the machine.
mp_coredns_plugins=(bind errors health ready kubernetes metrics cache reload loadbalance log)
mp_build_coredns() {
  local v=$MP_COREDNS_VERSION dir m=github.com/coredns/coredns p
  dir=$(mp_tool_dir coredns "$v")
  mp_build_begin "$dir" || return 0
  mp_wrapper_module "$dir/src" "$m@$v"
  {
    echo '// A CoreDNS with only the plugins the local cluster uses (scripts/lib/cluster-build.sh).'
    echo 'package main'
    echo
    echo 'import ('
    echo "	\"$m/coremain\""
    for p in "${mp_coredns_plugins[@]}"; do echo "	_ \"$m/plugin/$p\""; done
    echo ')'
    echo
    echo 'func main() { coremain.Run() }'
  } >"$dir/src/main.go"
  mp_with_progress "coredns $v (${#mp_coredns_plugins[@]} plugins; cold: 3-8 min)" "$MP_CLUSTER_CACHE/coredns-build.log" bash -c '
    cd "$1" && go get "$2@$3" && go mod tidy &&
    go build -trimpath -ldflags="-s -w" -o "$4/bin/coredns" .' _ "$dir/src" "$m" "$v" "$dir"
  touch "$dir/.done"
  mp_build_end
}

# mp_cluster_build_node: the real node's programs (scripts/cluster up --real-node), beside the control
# plane's; runc and the CNI plugins are Debian's (scripts/install-deps).
mp_cluster_build_node() {
  mp_go_env
  mkdir -p "$MP_CLUSTER_CACHE"
  mp_build_kubernetes_node
  mp_build_containerd
  mp_build_coredns
  mp_build_go_tool kube-router "$MP_KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2 \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router kube-router \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$MP_KUBE_ROUTER_VERSION"
  mp_build_prometheus
}

# mp_build_prometheus: Prometheus at the chart's version, for the real node's image of it (Debian's 2.42
# has no kubernetes_sd_configs, which the chart's configuration uses). Prometheus's own go.mod replaces
# klog with a go-kit logger whose functions cmd/prometheus calls, so the wrapper keeps those two lines.
# Without the builtinassets tag: the web UI's files are not in the binary (the API and /metrics are).
mp_build_prometheus() {
  local v=$MP_PROMETHEUS_VERSION m=github.com/prometheus/prometheus c=github.com/prometheus/common/version
  # the module's versions are v0.MINOR.PATCH for the release v2.MINOR.PATCH
  mp_build_go_tool prometheus "v0.${v#v2.}" "$m" "$m/cmd/prometheus" prometheus "-X $c.Version=${v#v} -X $c.Branch=release" \
    -replace=k8s.io/klog=github.com/simonpasquier/klog-gokit@v0.3.0 \
    -replace=k8s.io/klog/v2=github.com/simonpasquier/klog-gokit/v3@v3.3.0
}

# mp_cluster_node_path: the PATH entries of the real node's programs.
mp_cluster_node_path() {
  echo "$(mp_kubernetes_node_dir)/bin:$(mp_tool_dir containerd "$MP_CONTAINERD_VERSION")/bin:$(mp_tool_dir coredns "$MP_COREDNS_VERSION")/bin:$(mp_tool_dir kube-router "$MP_KUBE_ROUTER_VERSION")/bin"
}

# mp_cluster_build: every program of the cluster; prints nothing for what the cache already has.
mp_cluster_build() {
  mp_go_env
  mkdir -p "$MP_CLUSTER_CACHE"
  mp_build_control_plane
}

# mp_cluster_path: the PATH entry of the control plane's programs.
mp_cluster_path() { echo "$(mp_control_plane_dir)/bin"; }
