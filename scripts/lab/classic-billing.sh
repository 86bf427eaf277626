#!/usr/bin/env bash
# billing-vm (classic layout): PostgreSQL with database orders, RabbitMQ (AMQP on :5672 for the gateway,
# management UI on :15672) and billing-app on :8080.
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh
lab_load_env

lab_database billing "$BILLING_DB_PASSWORD" orders

lab_apt_install rabbitmq-server
systemctl enable --quiet --now rabbitmq-server
rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null
mp_wait_for 120 "RabbitMQ" rabbitmqctl -q await_startup || mp_die "RabbitMQ did not start: journalctl -u rabbitmq-server"
# The user from .env (guest only ever logs in from localhost); its password set again on every run.
if rabbitmqctl -q list_users | grep -q "^${RABBITMQ_USER}[[:space:]]"; then
  rabbitmqctl -q change_password "$RABBITMQ_USER" "$RABBITMQ_PASSWORD"
else
  rabbitmqctl -q add_user "$RABBITMQ_USER" "$RABBITMQ_PASSWORD"
fi
rabbitmqctl -q set_permissions -p / "$RABBITMQ_USER" '.*' '.*' '.*'
rabbitmqctl -q set_user_tags "$RABBITMQ_USER" administrator
mp_log "RabbitMQ: user $RABBITMQ_USER; AMQP $LAB_NODE_IP:5672, management http://$LAB_NODE_IP:15672"

lab_build_program billing-app
lab_run_program billing-app 8080 \
  "BILLING_DATABASE_URL=postgresql://billing:$BILLING_DB_PASSWORD@127.0.0.1:5432/orders" \
  "RABBITMQ_URL=amqp://$RABBITMQ_USER:$RABBITMQ_PASSWORD@127.0.0.1:5672/%2f" \
  BIND_ADDRESS=0.0.0.0 BILLING_APP_PORT=8080 LOG_LEVEL=info
