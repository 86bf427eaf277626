# shellcheck shell=bash
# A private Prometheus 2.42 on 127.0.0.1 for the local stack and tests. Source after common.sh.

# prom_write_config FILE INTERVAL TARGET...: a scrape config with one job per TARGET ("name=host:port"),
# each labelled with its service, plus the alerting rules of charts/movie-platform/rules/, the same rule
# file the chart's Prometheus loads. honor_labels as in the chart: a service's own `service` label wins.
# MP_PROMETHEUS_LABELS ("name: 'value', ...") adds target labels to every job, e.g. the namespace a
# test's ServicePolicies select (the chart's queries name their namespace, as a cluster's scrape does).
prom_write_config() {
  local file=$1 interval=$2
  shift 2
  local rules
  rules="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/charts/movie-platform/rules"
  {
    echo "global:"
    echo "  scrape_interval: $interval"
    echo "  evaluation_interval: $interval"
    echo "rule_files:"
    echo "  - '$rules/*.yaml'"
    echo "scrape_configs:"
    local target name address
    for target in "$@"; do
      name=${target%%=*}
      address=${target#*=}
      echo "  - job_name: $name"
      echo "    honor_labels: true"
      echo "    static_configs:"
      echo "      - targets: ['$address']"
      echo "        labels: {service: '$name'${MP_PROMETHEUS_LABELS:+, $MP_PROMETHEUS_LABELS}}"
    done
  } >"$file"
}

# prom_start DIR PORT CONFIG: starts Prometheus with its data in DIR, logging to DIR/prometheus.log.
prom_start() {
  local dir=$1 port=$2 config=$3
  mkdir -p "$dir/data"
  setsid prometheus --config.file="$config" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" --web.enable-lifecycle --log.level=warn \
    >>"$dir/prometheus.log" 2>&1 </dev/null &
  echo $! >"$dir/prometheus.pid"
}

prom_stop() {
  local dir=$1 pid
  [[ -f $dir/prometheus.pid ]] || return 0
  pid=$(cat "$dir/prometheus.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/prometheus.pid"
}

prom_ready() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/-/ready"; }
