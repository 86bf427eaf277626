#!/usr/bin/env bash
# inventory-vm (classic layout): PostgreSQL with database movies, and inventory-app on :8080.
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh
lab_load_env

lab_database inventory "$INVENTORY_DB_PASSWORD" movies
lab_build_program inventory-app
lab_run_program inventory-app 8080 \
  "INVENTORY_DATABASE_URL=postgresql://inventory:$INVENTORY_DB_PASSWORD@127.0.0.1:5432/movies" \
  BIND_ADDRESS=0.0.0.0 INVENTORY_APP_PORT=8080 LOG_LEVEL=info
