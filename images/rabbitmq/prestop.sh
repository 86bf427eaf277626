#!/bin/bash
# A cluster node's clean leave (the chart's preStop): waits, up to RABBITMQ_PRESTOP_SECONDS in all, until
# every quorum queue keeps a majority without this node, then drains it (maintenance mode: its quorum
# leaders move to other nodes, its client connections close and its listeners stop, so clients reconnect
# through the Service to a node that stays). The node stays a member of the cluster and comes back out of
# maintenance by itself when it starts again. When the rest of the cluster is down too (a full stop), the
# wait gives up and the node stops anyway: holding it would not bring the others back.
set -uo pipefail
bin=/usr/lib/rabbitmq/bin  # not Debian's /usr/sbin wrappers, which set HOME (the cookie's place) themselves
budget=${RABBITMQ_PRESTOP_SECONDS:-120}
started=$SECONDS
left() { local l=$((budget - (SECONDS - started))); echo $((l > 5 ? l : 5)); }
"$bin/rabbitmq-upgrade" -q await_online_quorum_plus_one -t "$(left)" ||
  echo "rabbitmq-prestop: quorum queues would lose their majority without this node; stopping anyway" >&2
"$bin/rabbitmq-upgrade" -q drain -t "$(left)" || echo "rabbitmq-prestop: drain did not finish" >&2
exit 0
