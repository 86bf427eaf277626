# bench/latency.gp: p99 latency against the offered rate, open loop (bench/lib/scale.sh's openloop.tsv),
# nginx answering from memory beside the gateway (and nginx's proxy_pass at the gateway's rates), inventory-app
# and POST /api/billing; INVALID points (the generator under 99 % of the offered rate) are left out. Alone:
#   gnuplot -e "data='DIR'; set terminal pngcairo size 900,560; set output 'FILE.png'" bench/latency.gp
# or loaded by bench/plot.gp as one of its panels.
set datafile separator whitespace
set title "p99 latency at a fixed offered rate (open loop, 50 / 80 / 95 % of each maximum)"
set xlabel "offered requests per second (log scale)"
set ylabel "p99 ms, from the time each request was due (log scale)"
set logscale xy
set xrange [*:*]
set yrange [*:*]
set grid xtics ytics
set key top left opaque box
point(name) = (strcol(1) eq name && strcol(11) eq "valid") ? $8 : 1/0
plot data."/openloop.tsv" using 3:(point("nginx")) title "nginx, the movie JSON from memory" with linespoints pt 7 lw 2, \
     "" using 3:(point("gateway")) title "GET /api/movies/:id via api-gateway" with linespoints pt 5 lw 2, \
     "" using 3:(point("proxy")) title "GET /api/movies/:id via nginx proxy_pass" noenhanced with linespoints pt 4 lw 2 dt 2, \
     "" using 3:(point("inventory")) title "GET /api/movies/:id, inventory-app" with linespoints pt 9 lw 2, \
     "" using 3:(point("billing")) title "POST /api/billing via api-gateway" with linespoints pt 11 lw 2
unset logscale xy
