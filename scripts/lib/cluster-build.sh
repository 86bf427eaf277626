# shellcheck shell=bash disable=SC2016  # the bash -c scripts take their values as arguments
# Builds the local cluster's programs from their Go modules, each into a cache folder outside the work
# tree keyed by its version and the Go version, and reuses a finished folder. Nothing is downloaded but Go
# modules. Source it after common.sh and cluster-versions.sh.
#
# Why wrapper modules: kubernetes and etcd keep `replace` lines in their go.mod, so `go install pkg@v`
# refuses them. A module of our own that requires them (and, for kubernetes, replaces each staging
# module's v0.0.0 with its real version) builds their main packages as ordinary dependencies. Each
# program gets its own wrapper so that one's dependency versions never lift another's.

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

# mp_build_kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler and kubectl.
mp_build_kubernetes() {
  mp_build_kubernetes_cmds kubernetes "cold: 15-25 min" kube-apiserver kube-controller-manager kube-scheduler kubectl
}

# mp_build_kubernetes_node: kubelet and kube-proxy, for the real node (scripts/cluster up --real-node). Their
# own cache folder, so that the control plane's does not change; Go's build cache shares the packages.
mp_build_kubernetes_node() {
  mp_build_kubernetes_cmds kubernetes-node "cold: 10-20 min, 3-6 min after the control plane's" kubelet kube-proxy
}

# mp_build_kubernetes_cmds NAME HINT CMD...: the main packages k8s.io/kubernetes/cmd/CMD at
# $MP_K8S_VERSION into NAME's cache folder. The ldflags set the version the binaries report (/version;
# Helm compares kubeVersion with it), as upstream's hack/lib/version.sh does; without them they say
# v0.0.0-master.
mp_build_kubernetes_cmds() {
  local name=$1 hint=$2 v=$MP_K8S_VERSION dir src gomod mods m ldf minor staging
  shift 2
  dir=$(mp_tool_dir "$name" "$v")
  mp_build_begin "$dir" || return 0
  src=$dir/src
  minor=${v#v1.}
  minor=${minor%%.*}
  staging=v0.${v#v1.}
  gomod=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f $gomod ]] || mp_die "could not read k8s.io/kubernetes@$v's go.mod from the module proxy"
  mods=$(sed -n 's|^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*|\1|p' "$gomod")
  local edits=()
  for m in $mods; do edits+=("-replace=$m=$m@$staging"); done
  mp_wrapper_module "$src" "k8s.io/kubernetes@$v" "${edits[@]}"
  ldf="-s -w"
  for m in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $m.gitVersion=$v -X $m.gitMajor=1 -X $m.gitMinor=$minor -X $m.gitTreeState=clean"
    ldf+=" -X $m.buildDate=1970-01-01T00:00:00Z"
  done
  local pkgs=() cmd
  for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  mp_with_progress "kubernetes $v ($*; $hint)" "$MP_CLUSTER_CACHE/$name-build.log" bash -c '
      cd "$1" && v=$2 ldf=$3 out=$4 && shift 4 && go get "${@/%/@$v}" &&
      go build -trimpath -tags=selinux,notest -ldflags="$ldf" -o "$out/bin/" "$@"' _ "$src" "$v" "$ldf" "$dir" "${pkgs[@]}"
  touch "$dir/.done"
  mp_build_end
}

# mp_build_go_tool NAME VERSION MODULE PACKAGE BINARY [LDFLAGS]: one main package of MODULE@VERSION built
# into NAME's cache folder as bin/BINARY.
mp_build_go_tool() {
  local name=$1 v=$2 module=$3 pkg=$4 binary=$5 ldf=${6:-} dir
  dir=$(mp_tool_dir "$name" "$v")
  mp_build_begin "$dir" || return 0
  mp_wrapper_module "$dir/src" "$module@$v"
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
}

# mp_cluster_node_path: the PATH entries of the real node's programs.
mp_cluster_node_path() {
  echo "$(mp_tool_dir kubernetes-node "$MP_K8S_VERSION")/bin:$(mp_tool_dir containerd "$MP_CONTAINERD_VERSION")/bin:$(mp_tool_dir coredns "$MP_COREDNS_VERSION")/bin"
}

# mp_cluster_build: every program of the cluster; prints nothing for what the cache already has.
mp_cluster_build() {
  mp_go_env
  mkdir -p "$MP_CLUSTER_CACHE"
  mp_build_kubernetes
  mp_build_go_tool etcd "$MP_ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 etcd
  mp_build_go_tool kwok "$MP_KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok kwok
  mp_build_go_tool metrics-server "$MP_METRICS_SERVER_VERSION" sigs.k8s.io/metrics-server \
    sigs.k8s.io/metrics-server/cmd/metrics-server metrics-server \
    "-X k8s.io/client-go/pkg/version.gitVersion=$MP_METRICS_SERVER_VERSION"
  mp_build_go_tool kube-state-metrics "$MP_KSM_VERSION" k8s.io/kube-state-metrics/v2 \
    k8s.io/kube-state-metrics/v2 kube-state-metrics \
    "-X github.com/prometheus/common/version.Version=${MP_KSM_VERSION#v}"
  mp_build_helm
}

# mp_build_helm: as helm's own Makefile does, the Kubernetes version that `helm template` and `helm
# lint` assume without a cluster is the client-go version helm is built with (else it says v1.20, and
# charts with a kubeVersion refuse to render).
mp_build_helm() {
  local v=$MP_HELM_VERSION dir
  dir=$(mp_tool_dir helm "$v")
  mp_build_begin "$dir" || return 0
  mp_wrapper_module "$dir/src" "helm.sh/helm/v3@$v"
  mp_with_progress "helm $v" "$MP_CLUSTER_CACHE/helm-build.log" bash -c '
    cd "$1" && go get "helm.sh/helm/v3/cmd/helm@$2" || exit 1
    k8s=$(go list -m -f "{{.Version}}" k8s.io/client-go) || exit 1
    minor=${k8s#v0.}; minor=${minor%%.*}
    ldf="-s -w -X helm.sh/helm/v3/internal/version.version=$2"
    for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
      ldf+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
    done
    go build -trimpath -ldflags="$ldf" -o "$3/bin/helm" helm.sh/helm/v3/cmd/helm' _ "$dir/src" "$v" "$dir"
  touch "$dir/.done"
  mp_build_end
}

# mp_cluster_path: the PATH entries of every built tool, kubernetes first.
mp_cluster_path() {
  local p="" d
  for d in "kubernetes $MP_K8S_VERSION" "etcd $MP_ETCD_VERSION" "kwok $MP_KWOK_VERSION" \
    "metrics-server $MP_METRICS_SERVER_VERSION" "kube-state-metrics $MP_KSM_VERSION" "helm $MP_HELM_VERSION"; do
    # shellcheck disable=SC2086  # two words: name and version
    p+="$(mp_tool_dir $d)/bin:"
  done
  echo "${p%:}"
}
