#!/usr/bin/env bash
# gateway-vm (classic layout): api-gateway on :3000, forwarding to inventory-vm and publishing orders to
# the RabbitMQ of billing-vm (both are brought up before this VM: Vagrantfile order).
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh
lab_load_env

lab_build_program api-gateway
lab_run_program api-gateway 3000 \
  "INVENTORY_APP_URL=http://$LAB_INVENTORY_IP:8080" \
  "RABBITMQ_URL=amqp://$RABBITMQ_USER:$RABBITMQ_PASSWORD@$LAB_BILLING_IP:5672/%2f" \
  BIND_ADDRESS=0.0.0.0 API_GATEWAY_PORT=3000 LOG_LEVEL=info
