// libFuzzer harness: platform-operator's kubeconfig reading (yaml-cpp and our walk over it, base64 of the
// *-data fields). A malformed kubeconfig must give an Error value, never a crash or an escaped exception.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "client/kube_config.h"

namespace {

// One scratch file per fuzzing process (loadKubeconfig reads a path, as the operator does), removed when
// libFuzzer exits. A plain array: it outlives the atexit handler that removes the file.
char scratchName[] = "/tmp/mp-fuzz-kubeconfig.XXXXXX";

const char* scratchPath() {
  static const bool created = [] {
    int fd = mkstemp(scratchName);
    if (fd < 0) {
      std::abort();
    }
    close(fd);
    std::atexit([] { std::remove(scratchName); });
    return true;
  }();
  (void)created;
  return scratchName;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  {
    FILE* file = std::fopen(scratchPath(), "wb");
    if (file == nullptr) {
      std::abort();
    }
    std::fwrite(text.data(), 1, text.size(), file);
    std::fclose(file);
  }
  auto connection = mp::op::loadKubeconfig(scratchPath(), "");
  if (connection.ok() && connection.value().server.empty()) {
    std::abort();  // an accepted kubeconfig always names its server
  }
  mp::op::loadKubeconfig(scratchPath(), "fuzz");
  mp::op::base64Decode(text);
  return 0;
}
