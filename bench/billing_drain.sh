#!/usr/bin/env bash
# Measures billing-app's drain rate: COUNT orders (default 100,000) wait in the queue, billing-app starts,
# and the time until the last one is in `orders` is taken. Release build, private PostgreSQL and RabbitMQ
# on loopback (same settings as scripts/test), everything stopped afterwards.
#   bench/billing_drain.sh [COUNT] [BATCH_SIZE...]      e.g. bench/billing_drain.sh 100000 100 500 1000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib/common.sh
source scripts/lib/postgres.sh
source scripts/lib/rabbitmq.sh

count=${1:-100000}
shift || true
batches=("$@")
((${#batches[@]} > 0)) || batches=(500)

cmake --preset release >/dev/null
cmake --build --preset release --target billing-app publish-orders >/dev/null

work=$(mktemp -d /tmp/mp-bench.XXXXXX)
chmod 755 "$work"
app_pid=""
# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  [[ -n $app_pid ]] && kill -9 "$app_pid" 2>/dev/null
  pg_stop "$work/pg"
  rmq_stop "$work/rabbitmq"
  rm -rf "$work"
}
trap cleanup EXIT

pg_port=$(mp_free_port)
pg_init "$work/pg" trust
pg_start "$work/pg" "$pg_port" fsync=off synchronous_commit=off full_page_writes=off
rmq_port=$(mp_free_port)
rmq_init "$work/rabbitmq" "$rmq_port"
rmq_start "$work/rabbitmq"
rmq_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
rmq_add_user "$work/rabbitmq" bench "$rmq_password"
amqp_url="amqp://bench:$rmq_password@127.0.0.1:$rmq_port/%2f"
psql_orders() { psql -qtAX "postgresql://postgres@127.0.0.1:$pg_port/orders" -c "$1"; }
psql -qX "postgresql://postgres@127.0.0.1:$pg_port/postgres" -c "CREATE DATABASE orders" >/dev/null

for batch in "${batches[@]}"; do
  queue="bench_$batch"
  psql_orders "DROP TABLE IF EXISTS orders, schema_migrations" >/dev/null 2>&1
  build/bench-bin/publish-orders "$amqp_url" "$queue" "$count"
  started=$(date +%s.%N)
  BILLING_APP_PORT=0 BIND_ADDRESS=127.0.0.1 ACCESS_LOG=off BILLING_QUEUE="$queue" BILLING_BATCH_SIZE="$batch" \
    BILLING_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/orders" RABBITMQ_URL="$amqp_url" \
    build/bin/billing-app >"$work/billing-$batch.log" 2>&1 &
  app_pid=$!
  stored=0
  for _ in $(seq 1 3000); do
    stored=$(psql_orders "SELECT count(*) FROM orders" 2>/dev/null || echo 0)
    ((stored >= count)) && break
    sleep 0.1
  done
  finished=$(date +%s.%N)
  # Pure drain time: first row to last row, as PostgreSQL stamped them (excludes start-up and polling).
  drain=$(psql_orders "SELECT extract(epoch FROM max(created_at) - min(created_at)) FROM orders")
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$app_pid/status")
  kill -TERM "$app_pid"
  wait "$app_pid" || true
  app_pid=""
  awk -v n="$stored" -v b="$batch" -v t0="$started" -v t1="$finished" -v d="$drain" -v rss="$rss" 'BEGIN {
    printf "batch %s: %d orders; start to last row %.2f s (%.0f orders/s); first to last row %.2f s (%.0f orders/s); peak RSS %.1f MB\n",
      b, n, t1 - t0, n / (t1 - t0), d, n / d, rss / 1024 }'
done
