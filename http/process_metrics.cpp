#include "http/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace mp {
namespace {

prometheus::MetricFamily gaugeFamily(std::string name, std::string help, prometheus::MetricType type,
                                     double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(metric);
  return family;
}

double bootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  while (stat >> key) {
    if (key == "btime") {
      double value = 0;
      stat >> value;
      return value;
    }
  }
  return 0;
}

size_t openFileDescriptors() {
  size_t count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) {
      ++count;
    }
    closedir(dir);
  }
  return count > 3 ? count - 3 : 0;  // ".", ".." and the directory's own fd
}

}  // namespace

std::vector<prometheus::MetricFamily> processMetrics() {
  std::vector<prometheus::MetricFamily> families;
  std::ifstream statFile("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(statFile)), std::istreambuf_iterator<char>());
  // Fields after the command name, which sits in parentheses and may hold spaces.
  auto close = stat.rfind(')');
  if (close == std::string::npos) {
    return families;
  }
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> values;
  std::string field;
  while (fields >> field) {
    values.push_back(field);
  }
  // values[0] is field 3 (state): utime is field 14, stime 15, starttime 22, rss 24.
  if (values.size() < 22) {
    return families;
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double pageSize = static_cast<double>(sysconf(_SC_PAGESIZE));
  double cpu = (std::stod(values[11]) + std::stod(values[12])) / ticks;
  double start = bootTimeSeconds() + std::stod(values[19]) / ticks;
  double rss = std::stod(values[21]) * pageSize;
  families.push_back(gaugeFamily("process_cpu_seconds_total",
                                 "Total user and system CPU time spent in seconds.",
                                 prometheus::MetricType::Counter, cpu));
  families.push_back(gaugeFamily("process_resident_memory_bytes", "Resident memory size in bytes.",
                                 prometheus::MetricType::Gauge, rss));
  families.push_back(gaugeFamily("process_open_fds", "Number of open file descriptors.",
                                 prometheus::MetricType::Gauge, static_cast<double>(openFileDescriptors())));
  families.push_back(gaugeFamily("process_start_time_seconds",
                                 "Start time of the process since unix epoch in seconds.",
                                 prometheus::MetricType::Gauge, start));
  return families;
}

}  // namespace mp
