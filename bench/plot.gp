# bench/plot.gp: the plots of one bench/run, as one PNG.
#   gnuplot -e "data='DIR'; out='FILE.png'; load='LOAD AVERAGES'" bench/plot.gp
# DIR holds what bench/run and bench/lib/scale.sh wrote: rows.tsv and cpu.tsv (tab-separated, "-" where a
# row has no such figure), movies.tsv, idle.tsv, openloop.tsv, drain.tsv and the drain's samples
# (drain-large.tsv, else drain-main.tsv). A curve without its file is left out.

has(f) = int(system(sprintf("test -s '%s/%s' && echo 1 || echo 0", data, f)))
drain_file = has("drain-large.tsv") ? "drain-large.tsv" : "drain-main.tsv"

set terminal pngcairo size 1500,2000 font "DejaVu Sans,10"
set output out
set multiplot layout 4,2 title "bench/run ".system("date -u '+%Y-%m-%d %H:%M UTC'")." — load average ".load font ",13"
set grid ytics
set key top right opaque box
set datafile missing "-"

# 1, 2: each row beside the limit it is compared with.
set datafile separator "\t"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -25 scale 0
set logscale y
set yrange [1:*]
set title "Throughput per row, beside its limit (log scale)"
set ylabel "requests, transactions or rows per second"
plot data."/rows.tsv" using 2:xtic(1) title "measured" lc rgb "#3b6fb6", \
     "" using 3 title "limit, same run" lc rgb "#b0b0b0"
set title "p99 latency per row, beside its limit (log scale)"
set ylabel "ms"
set yrange [0.1:*]
plot data."/rows.tsv" using 4:xtic(1) title "measured" lc rgb "#3b6fb6", \
     "" using 5 title "limit, same run" lc rgb "#b0b0b0"

# 3: CPU per 10k requests (the gateway beside nginx).
unset logscale y
set yrange [0:*]
set title "CPU (user + system) per 10k requests; billing-app: per 10k orders drained"
set ylabel "CPU seconds"
set key off
plot data."/cpu.tsv" using 2:xtic(1) lc rgb "#3b6fb6"
set key top right opaque box

# 4, 5: title search and list by table size.
set datafile separator whitespace
set style data linespoints
set xtics norotate scale 1
set logscale x
set logscale y
set xlabel "movies in the table"
set yrange [*:*]
set format x "%.0s%c"
if (has("movies.tsv")) {
  set title "Title search and list by table size: rate (log-log)"
  set ylabel "requests per second"
  plot data."/movies.tsv" using 1:3 title "search, inventory-app" pt 7 lw 2, \
       "" using 1:5 title "search SQL, pgbench" pt 5 lw 2, \
       "" using 1:8 title "first page of 20" pt 9 lw 2, \
       "" using 1:9 title "last page of 20 (OFFSET)" pt 11 lw 2, \
       "" using 1:15 title "last page of 20 (keyset, after_id)" noenhanced pt 13 lw 2
  set title "One request's time by table size (log-log): the index keeps search flat"
  set ylabel "ms"
  plot data."/movies.tsv" using 1:6 title "one search, trigram index" pt 7 lw 2, \
       "" using 1:7 title "one search, sequential scan forced" pt 5 lw 2, \
       "" using 1:($10 * 1000) title "unpaged GET /api/movies" pt 9 lw 2
} else {
  set multiplot next
  set multiplot next
}
unset logscale x
unset logscale y
set format x "%g"

# 6: the drain of the largest backlog: rows stored and billing-app's RSS over time.
if (has(drain_file)) {
  set title "Billing drain of the largest backlog: rows stored and billing-app RSS"
  set xlabel "seconds since billing-app started"
  set ylabel "orders stored"
  set y2label "RSS MB"
  set y2tics
  set ytics nomirror
  set y2range [0:*]
  set yrange [0:*]
  plot data."/".drain_file using ($1 / 1000):3 title "orders stored" with lines lw 2, \
       "" using ($1 / 1000):2 axes x1y2 title "billing-app RSS" with lines lw 2
  unset y2tics
  unset y2label
  set ytics mirror
} else {
  set multiplot next
}

# 7: idle keep-alive connections on the gateway.
if (has("idle.tsv")) {
  set title "Idle keep-alive connections on api-gateway: its RSS, and the active connections' rate"
  set xlabel "idle connections held"
  set ylabel "api-gateway RSS MB"
  set y2label "active req/s"
  set y2tics
  set ytics nomirror
  set yrange [0:*]
  set y2range [0:*]
  plot data."/idle.tsv" using 1:($5 / 1024) title "RSS" pt 7 lw 2, \
       "" using 1:6 axes x1y2 title "active req/s meanwhile" pt 5 lw 2
  unset y2tics
  unset y2label
  set ytics mirror
} else {
  set multiplot next
}

# 8: latency at a fixed offered rate (bench/latency.gp, also drawn alone).
if (has("openloop.tsv")) {
  load "bench/latency.gp"
}
unset multiplot
