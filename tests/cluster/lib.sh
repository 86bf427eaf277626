# shellcheck shell=bash
# What the tests on the local cluster share: the check tally (tests/lib/check.sh), and the cluster
# itself. A test uses the cluster named by MP_CLUSTER_DIR when one runs there (scripts/test starts one
# for all of them); otherwise it starts its own in a temporary folder and stops it on exit. Source it
# after common.sh.

root=${root:?set root before sourcing tests/cluster/lib.sh}
source "$root/scripts/lib/cluster-versions.sh"
source "$root/scripts/lib/cluster-build.sh"
source "$root/scripts/lib/cluster.sh"
source "$root/tests/lib/check.sh"

# mp_test_cluster [--real-node]: sets KUBECONFIG and PATH for the cluster, starting one when none runs
# (or, with --real-node, none with a real node); sets own_cluster=1 when it started it (cluster_cleanup
# then stops it).
own_cluster=0
mp_test_cluster() {
  mp_go_env
  PATH=$(mp_cluster_path):$(mp_cluster_node_path):$PATH
  export PATH
  if [[ -z ${MP_CLUSTER_DIR:-} ]] || ! mp_cluster_pid "$MP_CLUSTER_DIR" kube-apiserver >/dev/null ||
    { [[ ${1:-} == --real-node ]] && ! mp_cluster_pid "$MP_CLUSTER_DIR" real-node.kubelet >/dev/null; }; then
    MP_CLUSTER_DIR=$(mktemp -d /tmp/mp-cluster.XXXXXX)
    own_cluster=1
    mp_log "no cluster${1:+ with a real node} at MP_CLUSTER_DIR: starting one in $MP_CLUSTER_DIR"
    MP_CLUSTER_DIR=$MP_CLUSTER_DIR "$root/scripts/cluster" up "$@" >"$MP_CLUSTER_DIR.up.log" 2>&1 || {
      tail -n 30 "$MP_CLUSTER_DIR.up.log"
      give_up "scripts/cluster up"
    }
  fi
  export MP_CLUSTER_DIR KUBECONFIG=$MP_CLUSTER_DIR/kubeconfig
}

cluster_cleanup() {
  if ((own_cluster)); then
    MP_CLUSTER_DIR=$MP_CLUSTER_DIR "$root/scripts/cluster" down >/dev/null 2>&1 || true
    rm -f "$MP_CLUSTER_DIR.up.log"
  fi
}

# no_server_warnings FILE: true when FILE (a client's stderr) holds no warning the API server sent.
no_server_warnings() {
  if grep -i 'warning' "$1" >&2; then
    return 1
  fi
  return 0
}
