#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace mp {

// The process metrics Prometheus client libraries conventionally export (process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds, process_start_time_seconds), read from /proc at
// call time: append them to a registry's families when rendering /metrics. Thread-safe.
// A library of its own so that the operator, which shares nothing else with the services, exports them too.
std::vector<prometheus::MetricFamily> processMetrics();

}  // namespace mp
