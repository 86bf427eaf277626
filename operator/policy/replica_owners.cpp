#include "policy/replica_owners.h"

#include <tuple>

namespace mp::op {

std::vector<ReplicaClaim> otherReplicaOwners(const std::string& deployment, const ReplicaClaim& self,
                                             const std::vector<ReplicaClaim>& claims) {
  std::vector<ReplicaClaim> owners;
  for (const ReplicaClaim& claim : claims) {
    if (claim.targetKind != "Deployment" || claim.targetName != deployment) {
      continue;
    }
    if (claim.kind == "HorizontalPodAutoscaler") {
      owners.push_back(claim);
    } else if (claim.kind == "ServicePolicy" && claim.name != self.name &&
               std::tie(claim.creationTimestamp, claim.name) < std::tie(self.creationTimestamp, self.name)) {
      owners.push_back(claim);
    }
  }
  return owners;
}

std::string describeClaims(const std::vector<ReplicaClaim>& claims) {
  std::string text;
  for (const ReplicaClaim& claim : claims) {
    text += (text.empty() ? "" : ", ") + claim.kind + " " + claim.name;
  }
  return text;
}

}  // namespace mp::op
