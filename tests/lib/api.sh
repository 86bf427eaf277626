# shellcheck shell=bash disable=SC2154  # gateway and auth: set by the test that sources this
# What the acceptance checks send to the gateway and read back, wherever the platform runs (the local
# stack, compose, a cluster). The test sets `gateway` (the base URL) and `auth` (curl's arguments for the
# bearer token, or none), and defines `orders_of USER_ID` (how many orders the user has, read where its
# database is).

post() { # PATH JSON: prints "STATUS BODY"
  local reply
  reply=$(curl -s -m 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' "${auth[@]}" \
    --data "$2" "$gateway$1")
  printf '%s %s' "${reply##*$'\n'}" "${reply%$'\n'*}"
}

appears_within() { # SECONDS USER_ID: true once the user has an order, false after SECONDS
  local deadline=$((SECONDS + $1))
  while ((SECONDS <= deadline)); do
    [[ $(orders_of "$2") -ge 1 ]] && return 0
    sleep 0.2
  done
  return 1
}
