# shellcheck shell=bash disable=SC2154  # bench/run's settings and stack: stack, data, work, sql, movies, ...
# bench/lib/scale.sh: how cost grows with the work (issue 16). Sourced by bench/run after its helpers
# (wrk_run, pgbench_run, psql_as, pid_of, rss_mb, ...); the functions run against bench/run's stack. Each
# appends its points to $data/NAME.tsv, which the plots (bench/plot.gp) and scale_tables read.

# drain_backlog COUNT SAMPLES: billing-app stopped, the queue purged, COUNT orders published by raw-publish
# (window 1000), `orders` emptied, billing-app started. Until all are stored, every 0.25 s billing-app's
# RSS and the rows stored so far go to SAMPLES ("ms_since_start rss_mb stored"). Appends the summary to
# $data/drain.tsv and sets drain_published_rps, drain_stored, drain_seconds (first to last row),
# drain_rate, drain_cpu_per_10k, drain_hwm (VmHWM, MB) and drain_rss_max (largest sample, MB).
drain_backlog() {
  local count=$1 samples=$2 pid started now stored=0 rss rss_start
  "${stack[@]}" stop billing-app >/dev/null 2>&1 || true
  purge_billing_queue
  drain_published_rps=$(build/bench-bin/raw-publish "$amqp_url" billing_queue "$count" 1000 |
    awk '/^raw-publish/ {print $NF}')
  echo "TRUNCATE orders RESTART IDENTITY;" | psql_as billing orders
  start_timed billing-app "$BILLING_APP_PORT" >/dev/null
  started=$(uptime_ms)
  pid=$(pid_of billing-app)
  rss_start=$(rss_mb "$pid" VmRSS)
  echo "0 $rss_start 0" >"$samples"
  # max(id) reads the primary key's last entry (one consumer inserts in order); count(*) would read the
  # whole table at every look and slow the drain it watches.
  local deadline=$((SECONDS + 60 + count / 2000))
  while ((stored < count && SECONDS < deadline)); do
    stored=$(echo "SELECT coalesce(max(id), 0) FROM orders" | psql_as billing orders)
    now=$(uptime_ms)
    rss=$(rss_mb "$pid" VmRSS)
    echo "$((now - started)) $rss $stored" >>"$samples"
    sleep 0.25
  done
  drain_stored=$(echo "SELECT count(*) FROM orders" | psql_as billing orders)
  ((drain_stored >= count)) || mp_log "warning: only $drain_stored of $count orders stored in time"
  drain_seconds=$(echo "SELECT extract(epoch FROM max(created_at) - min(created_at)) FROM orders" |
    psql_as billing orders)
  drain_rate=$(awk -v n="$drain_stored" -v d="$drain_seconds" 'BEGIN { printf "%.0f", (d > 0 ? n / d : 0) }')
  # All of the process's CPU: it did nothing but start and drain.
  drain_cpu_per_10k=$(awk -v t="$(cpu_ticks "$pid")" -v hz="$clock_ticks" -v n="$drain_stored" \
    'BEGIN { printf "%.2f", (n > 0 ? t / hz / n * 10000 : 0) }')
  drain_hwm=$(rss_mb "$pid" VmHWM)
  drain_rss_max=$(awk '$2 > m { m = $2 } END { printf "%.1f", m }' "$samples")
  echo "$count $drain_published_rps $drain_stored $drain_seconds $drain_rate $rss_start $drain_rss_max" \
    "$drain_hwm $drain_cpu_per_10k" >>"$data/drain.tsv"
  mp_log "    $drain_stored orders, first to last row ${drain_seconds}s, billing-app RSS $rss_start -> max $drain_rss_max MB"
}

# open_loop_point NAME PERCENT MAX PORT PATH [OPEN-LOOP OPTIONS...]: PERCENT % of MAX req/s offered to
# 127.0.0.1:PORT PATH for $open_seconds after $open_warmup s at the same rate, by bench/open_loop.cpp: it
# sends on a fixed schedule whatever the answers take and measures each request from when it was due, so a
# stall shows as latency instead of slowing the generator (coordinated omission). Appends to
# $data/openloop.tsv "name percent offered achieved non2xx errors p50_ms p99_ms p999_ms max_ms verdict";
# verdict is INVALID when the generator achieved under 99 % of the offered rate or a request failed: its
# latencies then describe a queue growing without bound, not the server.
open_loop_point() {
  local name=$1 percent=$2 max=$3 port=$4 path=$5 rate line
  shift 5
  rate=$((max * percent / 100))
  ((rate > 0)) || rate=1
  line=$(build/bench-bin/open-loop -c "$open_connections" -w "$open_warmup" "$@" 127.0.0.1 "$port" "$path" \
    "$rate" "$open_seconds") || mp_die "open-loop failed on $name at $rate req/s"
  awk -v name="$name" -v percent="$percent" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    valid = f["achieved"] >= 0.99 * f["offered"] && f["errors"] == 0 && f["non2xx"] == 0
    printf "%s %d %d %d %d %d %.2f %.2f %.2f %.2f %s\n", name, percent, f["offered"], f["achieved"], f["non2xx"],
      f["errors"], f["p50_us"] / 1000, f["p99_us"] / 1000, f["p999_us"] / 1000, f["max_us"] / 1000,
      valid ? "valid" : "INVALID"
  }' <<<"$line" | tee -a "$data/openloop.tsv" |
    awk '{ printf "    %s %d %%: %d of %d req/s, p99 %s ms (%s)\n", $1, $2, $4, $3, $8, $11 }' >&2
}

# scale_open_loop: at 50, 80 and 95 % of the closed-loop maximum each measured in step 3 (wrk, $connections
# connections): nginx answering one movie's JSON from memory first (the proof that the generator holds the
# rate), then GET /api/movies/:id via api-gateway and, at the gateway's rates, via nginx's proxy_pass to the
# same inventory-app (a proxy's floor: what the hop behind it costs is in both), then on inventory-app, and
# POST /api/billing via api-gateway with billing-app stopped (as its closed-loop row: the orders wait in the
# queue).
scale_open_loop() {
  local percent
  for percent in 50 80 95; do
    open_loop_point nginx "$percent" "$mem_rps" "$nginx_memory_port" /api/movies/ -i "$movies"
  done
  for percent in 50 80 95; do
    open_loop_point gateway "$percent" "$gw_rps" "$API_GATEWAY_PORT" /api/movies/ -i "$movies"
    open_loop_point proxy "$percent" "$gw_rps" "$nginx_port" /api/movies/ -i "$movies"
  done
  for percent in 50 80 95; do
    open_loop_point inventory "$percent" "$inv_rps" "$INVENTORY_APP_PORT" /api/movies/ -i "$movies"
  done
  "${stack[@]}" stop billing-app >/dev/null 2>&1 || true
  for percent in 50 80 95; do
    purge_billing_queue
    open_loop_point billing "$percent" "$bill_rps" "$API_GATEWAY_PORT" /api/billing -m POST -b "$body_order"
  done
  purge_billing_queue
}

# open_loop_summary NAME: NAME's open-loop points, "p50 a / b / c ms; p99 ...; p99.9 ...; max ...", one
# figure per offered rate, INVALID in place of the latencies of a point whose generator did not hold it.
open_loop_summary() {
  awk -v name="$1" '$1 == name {
      n++; v = ($11 == "valid")
      for (c = 7; c <= 10; c++) cell[c] = cell[c] (n > 1 ? " / " : "") (v ? $c : "INVALID")
    }
    END { printf "p50 %s ms; p99 %s ms; p99.9 %s ms; max %s ms", cell[7], cell[8], cell[9], cell[10] }' \
    "$data/openloop.tsv"
}

# scale_idle: no idle connection, then each count of idle_sizes, held on api-gateway by idle-connections
# (bench/idle_connections.cpp: one GET /healthz each, then silent); meanwhile wrk's $connections active
# connections on GET /api/movies/:id. Points in $data/idle.tsv:
# "idle open_seconds answered still_open_after gateway_rss_kb active_rps active_p99_ms".
scale_idle() {
  # shellcheck disable=SC2034  # seconds and warmup: wrk_run's durations, by dynamic scope
  local seconds=$scale_seconds warmup=1 n gw_pid hold rss rps p99 line open_s answered still
  gw_pid=$(pid_of api-gateway)
  for n in 0 "${idle_sizes[@]}"; do
    open_s=0 answered=0 still=0
    if ((n > 0)); then
      rm -f "$work/idle.in" "$work/idle.out"
      mkfifo "$work/idle.in"
      build/bench-bin/idle-connections 127.0.0.1 "$API_GATEWAY_PORT" "$n" /healthz <"$work/idle.in" \
        >"$work/idle.out" &
      holder_pid=$!
      exec {hold}>"$work/idle.in" # idle-connections holds them until this closes
      mp_wait_for 150 "$n idle connections" grep -q '^idle-connections opened' "$work/idle.out" ||
        mp_die "idle-connections did not open $n connections"
      line=$(grep '^idle-connections opened' "$work/idle.out")
      [[ $line =~ answered=([0-9]+) ]] && answered=${BASH_REMATCH[1]}
      [[ $line =~ seconds=([0-9.]+) ]] && open_s=${BASH_REMATCH[1]}
      ((answered == n)) || mp_log "warning: only $answered of $n idle connections were answered ($line)"
    fi
    sleep 1
    rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$gw_pid/status") # kB: a connection costs a few
    read -r rps _ p99 _ <<<"$(wrk_run "$gateway/api/movies/" MP_WRK_IDS="$movies")"
    if ((n > 0)); then
      exec {hold}>&-
      wait "$holder_pid" || true
      holder_pid=""
      still=$(sed -n 's/^idle-connections still_open=//p' "$work/idle.out")
    fi
    echo "$n $open_s $answered ${still:-0} $rss $rps $p99" >>"$data/idle.tsv"
    mp_log "    $n idle: gateway RSS $rss kB, active $rps req/s (p99 $p99 ms)"
  done
}

# explain_ms SETTINGS: the median execution time in ms of 3 EXPLAIN ANALYZE runs of the title search's SQL,
# after the SQL SETTINGS.
explain_ms() {
  for _ in 1 2 3; do
    printf '%s\nEXPLAIN (ANALYZE, TIMING OFF) %s\n' "$1" "$(cat "$sql/search.sql")" | psql_as inventory movies |
      awk '/Execution Time/ {print $3}'
  done | sort -n | sed -n 2p
}

# stream_list URL PID: one unpaged GET of URL (curl, the body read as it comes and dropped) while PID's VmRSS
# is sampled from /proc every 20 ms; prints "seconds first_byte_ms megabytes http_code largest_rss_mb
# curl_exit" (curl_exit 18: the chunked body was cut short).
stream_list() {
  local url=$1 pid=$2 samples out code=0
  samples=$(mktemp "$work/rss.XXXXXX")
  (while awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status" >>"$samples" 2>/dev/null; do sleep 0.02; done) &
  local sampler=$!
  out=$(curl -sS -m 300 -o /dev/null -w '%{time_total} %{time_starttransfer} %{size_download} %{http_code}' "$url" \
    2>/dev/null) || code=$?
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  awk -v o="${out:-0 0 0 000}" -v code="$code" 'BEGIN { split(o, f, " ") } { if ($1 > m) m = $1 }
    END { printf "%.2f %.1f %.1f %s %.1f %d\n", f[1], f[2] * 1000, f[3] / 1048576, f[4], m / 1024, code }' "$samples"
  rm -f "$samples"
}

# scale_movies: the movies table grown through scale_sizes; the "matrix" titles are among the first size's
# only (about 1 % of them), so every size has the same matches and only the table grows. At each size:
# the title search through inventory-app and its SQL through pgbench; one search's execution time with the
# trigram index and with a sequential scan forced; the first and the last page of 20 by offset (OFFSET walks
# the rows before it) and by keyset (after_id: the primary key starts at the id); one unpaged GET /api/movies
# (every row, streamed), from inventory-app and through api-gateway, each process's RSS sampled during it.
# Points in $data/movies.tsv:
# "movies matches search_rps search_p99_ms pgbench_tps index_ms seqscan_ms first_page_rps last_page_rps
#  full_list_s full_list_mb inventory_hwm_mb full_list_http_status keyset_first_rps keyset_last_rps
#  full_list_first_byte_ms inventory_rss_max_mb gateway_list_s gateway_first_byte_ms gateway_rss_max_mb
#  gateway_list_http_status full_list_curl_exit gateway_list_curl_exit".
scale_movies() {
  # shellcheck disable=SC2034  # seconds and warmup: wrk_run's and pgbench_run's durations, by dynamic scope
  local seconds=$scale_seconds warmup=1 size previous=0 matches search_rps search_p99 pg_tps index_ms seq_ms
  local first_rps last_rps key_first_rps key_last_rps hwm
  local full_s full_ms full_mb full_code inv_rss full_exit gw_s gw_ms gw_code gw_rss gw_exit
  for size in "${scale_sizes[@]}"; do
    mp_log "  $size movies"
    seed_movies $((previous + 1)) "$size" "${scale_sizes[0]}"
    previous=$size
    matches=$(echo "SELECT count(*) FROM movies WHERE title ILIKE '%matrix%'" | psql_as inventory movies)
    read -r search_rps _ search_p99 _ <<<"$(wrk_run "$inventory/api/movies?title=matrix")"
    read -r pg_tps _ _ _ <<<"$(pgbench_run inventory movies "$connections" "$sql/search.sql")"
    index_ms=$(explain_ms "")
    seq_ms=$(explain_ms "SET enable_bitmapscan = off; SET enable_indexscan = off;")
    read -r first_rps _ _ _ <<<"$(wrk_run "$inventory/api/movies?limit=20")"
    # The ids are 1..size (seed_movies): after_id=size-20 is the same last page. The keyset pages before
    # the offset's last: its statements, some seconds each at 1M movies, outlive wrk's run in PostgreSQL.
    read -r key_first_rps _ _ _ <<<"$(wrk_run "$inventory/api/movies?limit=20&after_id=0")"
    read -r key_last_rps _ _ _ <<<"$(wrk_run "$inventory/api/movies?limit=20&after_id=$((size > 20 ? size - 20 : 0))")"
    read -r full_s full_ms full_mb full_code inv_rss full_exit <<<"$(stream_list "$inventory/api/movies" \
      "$(pid_of inventory-app)")"
    read -r gw_s gw_ms _ gw_code gw_rss gw_exit <<<"$(stream_list "$gateway/api/movies" "$(pid_of api-gateway)")"
    hwm=$(rss_mb "$(pid_of inventory-app)" VmHWM)
    # Last: its statements, some seconds each at 1M movies, outlive wrk's run and hold the pool's connections.
    read -r last_rps _ _ _ <<<"$(wrk_run "$inventory/api/movies?limit=20&offset=$((size > 20 ? size - 20 : 0))")"
    echo "$size $matches $search_rps $search_p99 $pg_tps $index_ms $seq_ms $first_rps $last_rps" \
      "$full_s $full_mb $hwm $full_code $key_first_rps $key_last_rps $full_ms $inv_rss $gw_s $gw_ms $gw_rss" \
      "$gw_code $full_exit $gw_exit" >>"$data/movies.tsv"
    mp_log "    unpaged list: inventory-app first byte $full_ms ms, all $full_s s, RSS ≤ $inv_rss MB;" \
      "through api-gateway first byte $gw_ms ms, all $gw_s s, gateway RSS ≤ $gw_rss MB"
    mp_log "    search $search_rps req/s (index $index_ms ms, seq scan $seq_ms ms), first / last page: offset" \
      "$first_rps / $last_rps req/s, keyset $key_first_rps / $key_last_rps req/s"
  done
  # The keyset statement as inventory-app prepares it (movie_store.cpp), its generic plan forced: the plan
  # whatever the values, at the largest size.
  psql_as inventory movies >"$data/keyset-plan.txt" <<SQL
SET plan_cache_mode = force_generic_plan;
PREPARE movies_list_after(bigint, bigint, bigint) AS
  SELECT id, title, description FROM movies WHERE id > \$1 ORDER BY id LIMIT \$2 OFFSET \$3;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE movies_list_after($((size > 20 ? size - 20 : 0)), 21, 0);
SQL
}

# exponent N1 COST1 N2 COST2: how a cost grows with the size, log(COST2/COST1) / log(N2/N1): 0 is flat,
# 1 linear.
exponent() {
  awk -v n1="$1" -v c1="$2" -v n2="$3" -v c2="$4" \
    'BEGIN { if (c1 > 0 && c2 > 0 && n2 > n1) printf "%.2f", log(c2 / c1) / log(n2 / n1); else print "n/a" }'
}

# movies_exponent COLUMN rate|time: the exponent of one column of movies.tsv between its first and last row
# (for a rate, the cost is one over it).
movies_exponent() {
  local column=$1 kind=$2 first last n1 c1 n2 c2
  first=$(head -1 "$data/movies.tsv")
  last=$(tail -1 "$data/movies.tsv")
  read -r n1 c1 < <(awk -v c="$column" -v k="$kind" '{ print $1, (k == "rate" ? ($c > 0 ? 1 / $c : 0) : $c) }' <<<"$first")
  read -r n2 c2 < <(awk -v c="$column" -v k="$kind" '{ print $1, (k == "rate" ? ($c > 0 ? 1 / $c : 0) : $c) }' <<<"$last")
  exponent "$n1" "$c1" "$n2" "$c2"
}

# scale_tables: the Markdown of every cost curve measured.
scale_tables() {
  if [[ -s $data/movies.tsv ]]; then
    cat <<EOF
### Title search and list by table size

The "matrix" titles are about 1 % of the first ${scale_sizes[0]} movies and none after, so every size has the same
matches and only the table grows. Execution times from \`EXPLAIN ANALYZE\` (median of 3): with the
\`movies_title_trgm\` index as planned, and with a sequential scan forced (\`enable_bitmapscan\`,
\`enable_indexscan\` off). Pages of 20 by offset: \`?limit=20\` and \`?limit=20&offset=<movies - 20>\`; by keyset:
\`?limit=20&after_id=0\` and \`?limit=20&after_id=<movies - 20>\`. The unpaged list is one \`GET /api/movies\`: every
row in one answer.

| movies | matches | search, inventory-app | search SQL, pgbench | one search: index / seq scan | offset: first / last page | keyset: first / last page | unpaged list: time, size | inventory-app VmHWM after |
|---|---|---|---|---|---|---|---|---|
$(awk '{ printf "| %d | %d | %d req/s, p99 %s ms | %d tx/s | %s / %s ms | %d / %d req/s | %d / %d req/s | %s s, %s MB%s | %s MB |\n",
  $1, $2, $3, $4, $5, $6, $7, $8, $9, $14, $15, $10, $11, ($13 == 200 ? "" : " (HTTP " $13 ")"), $12 }' "$data/movies.tsv")

Growth exponent from ${scale_sizes[0]} to ${scale_sizes[-1]} movies (cost = 1 / rate, or the time; 0 is flat, 1 linear): search
through inventory-app $(movies_exponent 3 rate), its SQL through pgbench $(movies_exponent 5 rate), one search with the index
$(movies_exponent 6 time), with a sequential scan $(movies_exponent 7 time); by offset, first page $(movies_exponent 8 rate),
last page $(movies_exponent 9 rate); by keyset, first page $(movies_exponent 14 rate), last page $(movies_exponent 15 rate);
unpaged list $(movies_exponent 10 time).

### The unpaged list, streamed

One \`GET /api/movies\` (every movie, chunked: read from PostgreSQL 1000, then 10000 movies at a time and sent as they come,
issue 29 §3) by curl, from inventory-app and through api-gateway; RSS is the process's largest \`VmRSS\`
sampled from \`/proc\` every 20 ms during that request. Targets: each process under 64 MB RSS during the
request, the first byte within 50 ms, the whole no slower than the list before it streamed (1.86 s at
1000000 movies, \`bench/results/2026-12-02.md\`, where inventory-app's VmHWM reached 556 MB).

| movies | size | inventory-app: first byte / all / RSS | through api-gateway: first byte / all / gateway RSS | RSS < 64 MB / first byte < 50 ms |
|---|---|---|---|---|
$(awk '{ printf "| %d | %s MB | %s ms / %s s / %s MB%s | %s ms / %s s / %s MB%s | %s / %s |\n",
  $1, $11, $16, $10, $17, ($13 == 200 && $22 == 0 ? "" : " (HTTP " $13 ", curl " $22 ")"), $19, $18, $20,
  ($21 == 200 && $23 == 0 ? "" : " (HTTP " $21 ", curl " $23 ")"),
  ($17 < 64 && $20 < 64 ? "yes" : "**no**"), ($16 < 50 && $19 < 50 ? "yes" : "**no**") }' "$data/movies.tsv")

The keyset page's statement (\`WHERE id > \$1 ORDER BY id LIMIT \$2 OFFSET \$3\`, prepared as inventory-app does), its
generic plan forced, for the last page at ${scale_sizes[-1]} movies:

\`\`\`
$(cat "$data/keyset-plan.txt" 2>/dev/null)
\`\`\`

EOF
  fi
  if [[ -s $data/drain.tsv ]]; then
    cat <<EOF
### Billing drain by backlog size

RSS of billing-app sampled from \`/proc\` every 0.25 s while it drains; VmHWM is the kernel's peak.

| backlog | published (raw-publish, window 1000) | stored | first to last row | drain rate | billing-app RSS at start / largest sample / VmHWM | CPU per 10k orders |
|---|---|---|---|---|---|---|
$(awk '{ printf "| %d | %d msg/s | %d | %.2f s | %d orders/s | %s / %s / %s MB | %s s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' \
      "$data/drain.tsv")

EOF
  fi
  if [[ -s $data/idle.tsv ]]; then
    cat <<EOF
### Idle keep-alive connections held on api-gateway

Each idle connection sent one \`GET /healthz\` and then nothing; meanwhile wrk's $connections connections ran
\`GET /api/movies/:id\` through the gateway for ${scale_seconds} s. RSS per connection: the gateway's RSS above
the row without idle connections, divided by their number. Open-file limit for the run: $(ulimit -Sn).

| idle connections | opened in | still open after the row | api-gateway RSS | RSS per idle connection | active connections meanwhile |
|---|---|---|---|---|---|
$(awk 'NR == 1 { base = $5 }
  { per = $1 > 0 ? sprintf("%.1f kB", ($5 - base) / $1) : "—"
    printf "| %d | %s s | %d of %d | %.1f MB | %s | %d req/s, p99 %s ms |\n", $1, $2, $4, $3, $5 / 1024, per, $6, $7 }' \
      "$data/idle.tsv")

EOF
  fi
  if [[ -s $data/openloop.tsv ]]; then
    cat <<EOF
### Latency at a fixed offered rate (open loop)

bench/open_loop.cpp on $open_connections keep-alive connections, ${open_seconds} s per rate after ${open_warmup} s at the
same rate; each request's latency from the time it was due on the schedule, so a stall counts for every
request it held up. The offered rates are 50, 80 and 95 % of each row's closed-loop maximum (wrk,
$connections connections, step 3). A point where the generator achieved under 99 % of the offered rate, or a
request failed, is INVALID: its latencies would describe a growing queue, not the server. nginx answering
one movie's JSON from memory is the proof that the generator holds the rate on these cores. The generator
shares the CPUs with the servers. Plot: [\`$day-latency.png\`]($day-latency.png).

| row | offered | achieved | non-2xx / failed | p50 | p99 | p99.9 | max |
|---|---|---|---|---|---|---|---|
$(awk 'BEGIN {
    what["nginx"] = "nginx, one movie JSON from memory"
    q = sprintf("%c", 96) # a backquote
    what["gateway"] = q "GET /api/movies/:id" q " via api-gateway"
    what["proxy"] = q "GET /api/movies/:id" q " via nginx proxy_pass, at the gateway'"'"'s rates"
    what["inventory"] = q "GET /api/movies/:id" q " inventory-app"
    what["billing"] = q "POST /api/billing" q " via api-gateway"
  }
  { v = ($11 == "valid")
    printf "| %s | %d %% (%d req/s) | %d req/s | %d / %d | %s | %s | %s | %s |\n", what[$1], $2, $3, $4, $5, $6,
      v ? $7 " ms" : "**INVALID**", v ? $8 " ms" : "**INVALID**", v ? $9 " ms" : "**INVALID**",
      v ? $10 " ms" : "**INVALID**" }' "$data/openloop.tsv")

EOF
  fi
}
