# shellcheck shell=bash
# The credentials file (.env) the local stack and the lab share. Source it after common.sh.

# mp_ensure_env_file FILE: creates FILE (mode 600) with random passwords when missing, and adds any
# credential an older FILE lacks; existing values are kept. Never committed (.gitignore).
mp_ensure_env_file() {
  local file=$1 key
  (
    umask 077
    if [[ ! -f $file ]]; then
      echo "# movie-platform credentials (local stack and lab), generated with random passwords. Not committed." >"$file"
      mp_log "created $file with random passwords"
    fi
    for key in POSTGRES_PASSWORD INVENTORY_DB_PASSWORD BILLING_DB_PASSWORD RABBITMQ_PASSWORD; do
      grep -q "^$key=" "$file" || echo "$key=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 24)" >>"$file"
    done
    grep -q "^RABBITMQ_USER=" "$file" || echo "RABBITMQ_USER=movie" >>"$file"
    # The gateway's write token: empty (writes open) unless API_GATEWAY_TOKEN is set when FILE is written;
    # set it here to require "Authorization: Bearer <token>" on POST/PUT/PATCH/DELETE.
    grep -q "^API_GATEWAY_TOKEN=" "$file" || echo "API_GATEWAY_TOKEN=${API_GATEWAY_TOKEN:-}" >>"$file"
  )
}
