# shellcheck shell=bash
# The pod-to-pod path matrix of a release on the real node, measured with real TCP connections, and the
# one docs/security.md states (allowedPaths of tests/k8s/lib/policies.mjs, which scripts/check-k8s holds
# every rendering of the chart to). Source it after tests/cluster/lib.sh; kubectl must reach the cluster.

root=${root:?set root before sourcing tests/cluster/netpol.sh}

# netpol_allowed: the allowed paths "client->server" (component names), one a line.
netpol_allowed() {
  node --input-type=module -e "
    import { allowedPaths } from '$root/tests/k8s/lib/policies.mjs';
    console.log([...allowedPaths].sort().join('\n'));"
}

# netpol_measure NAMESPACE OUT: OUT gets one line "client server port open|closed" for every ordered pair
# of the namespace's Running pods (client != server) and every container port of the server. A client
# connects from inside its own pod: `kubectl exec` runs bash's /dev/tcp there (every image of the
# platform is Debian's with bash and coreutils), at most 2 s per connection, all of a client's
# connections at once. A pod without bash (Prometheus's image holds only its program) is not a client;
# its paths are Prometheus's own scrapes (netpol_scrapes).
netpol_measure() {
  local ns=$1 out=$2 pods targets=() pod component ip ports port
  pods=$(kubectl -n "$ns" get pods --field-selector=status.phase=Running -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.labels.app\.kubernetes\.io/name} {.status.podIP} {.spec.containers[*].ports[*].containerPort}{"\n"}{end}')
  while read -r pod component ip ports; do
    for port in $ports; do targets+=("$pod,$component,$ip,$port"); done
  done <<<"$pods"
  : >"$out"
  while read -r pod component ip ports; do
    kubectl -n "$ns" exec "$pod" -- bash -c 'command -v timeout' >/dev/null 2>&1 || continue
    # shellcheck disable=SC2016  # expanded by the pod's bash
    kubectl -n "$ns" exec "$pod" -- bash -c '
      self=$1; shift
      for t in "$@"; do
        IFS=, read -r pod component ip port <<<"$t"
        [[ $pod == "$self" ]] && continue
        ( if timeout 2 bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null; then s=open; else s=closed; fi
          echo "$component $port $s" ) &
      done
      wait' _ "$pod" "${targets[@]}" | sed "s/^/$component /" >>"$out"
  done <<<"$pods"
  sort -u -o "$out" "$out"
}

# netpol_paths MEASURED: the paths "client->server" with at least one port open, one a line.
netpol_paths() { awk '$4 == "open" { print $1 "->" $2 }' "$1" | sort -u; }

# netpol_matrix MEASURED: the measured matrix as a table, clients down, servers across under short
# names (o: a port open; .: every port closed; -: not measured).
netpol_matrix() {
  local measured=$1 clients servers c sv line legend=""
  clients=$(awk '{ print $1 }' "$measured" | sort -u)
  servers=$(awk '{ print $2 }' "$measured" | sort -u)
  short() { # api-gateway -> ag, prometheus -> prom
    local word out=""
    if [[ $1 != *-* ]]; then echo "${1:0:4}"; return; fi
    for word in ${1//-/ }; do out+=${word:0:1}; done
    echo "$out"
  }
  line=$(printf '%-19s' 'client \ server')
  for sv in $servers; do
    line+=" $(printf '%-5s' "$(short "$sv")")"
    legend+=" $(short "$sv")=$sv"
  done
  echo "servers:$legend"
  echo "$line"
  for c in $clients; do
    line=$(printf '%-19s' "$c")
    for sv in $servers; do
      if awk -v c="$c" -v s="$sv" '$1 == c && $2 == s && $4 == "open" { f = 1 } END { exit !f }' "$measured"; then
        line+=" $(printf '%-5s' o)"
      elif awk -v c="$c" -v s="$sv" '$1 == c && $2 == s { f = 1 } END { exit !f }' "$measured"; then
        line+=" $(printf '%-5s' .)"
      else
        line+=" $(printf '%-5s' -)"
      fi
    done
    echo "$line"
  done
}

# netpol_compare MEASURED: true when the open paths between the measured clients are exactly the
# allowed ones; prints each difference.
# A component to itself (the Patroni members of values-ha.yaml reach each other) is not measured: the
# matrix has one pod of each component.
netpol_compare() {
  local measured=$1 clients expected got bad=0
  clients=$(awk '{ print $1 }' "$measured" | sort -u)
  expected=$(netpol_allowed | awk -v c="$(echo "$clients" | tr '\n' ' ')" -v s="$(awk '{ print $2 }' "$measured" | sort -u | tr '\n' ' ')" '
    BEGIN { split(c, a, " "); for (i in a) cs[a[i]]; split(s, b, " "); for (i in b) ss[b[i]] }
    { split($0, p, "->"); if ((p[1] in cs) && (p[2] in ss) && p[1] != p[2]) print }')
  got=$(netpol_paths "$measured")
  while read -r path; do
    [[ -n $path ]] || continue
    grep -qxF "$path" <<<"$got" || { echo "allowed path $path: every port refused" >&2; bad=1; }
  done <<<"$expected"
  while read -r path; do
    [[ -n $path ]] || continue
    grep -qxF "$path" <<<"$expected" || {
      echo "path $path connected (port $(awk -v p="$path" '$1 "->" $2 == p && $4 == "open" { print $3 }' "$measured" | paste -sd' ')); docs/security.md forbids it" >&2
      bad=1
    }
  done <<<"$got"
  ((bad == 0))
}

# netpol_scrapes NAMESPACE: Prometheus's targets as "server health", one a line (through the API
# server's service proxy: the scrapes themselves are Prometheus's connections to the pods).
netpol_scrapes() {
  kubectl get --raw "/api/v1/namespaces/$1/services/prometheus:9090/proxy/api/v1/targets?state=active" |
    grep -o '"service":"[^"]*"\|"health":"[^"]*"' | paste -d' ' - - | sed 's/"service":"\([^"]*\)" "health":"\([^"]*\)"/\1 \2/'
}
