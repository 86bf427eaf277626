// Policy rules over a set of rendered objects (one release). Each rule returns error strings naming the
// object ("Kind/name") and what is wrong.

const workloadKinds = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"]);
const name = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;
const isHook = (o) => Boolean(o.metadata?.annotations?.["helm.sh/hook"]);

// [{owner, podSpec, podLabels, hook}] for every pod template (a CronJob's job's too) and bare Pod.
function podSpecs(objects) {
  const out = [];
  for (const o of objects) {
    if (workloadKinds.has(o.kind) && o.spec?.template?.spec) {
      out.push({ owner: o, podSpec: o.spec.template.spec, podLabels: o.spec.template.metadata?.labels, hook: isHook(o) });
    } else if (o.kind === "CronJob" && o.spec?.jobTemplate?.spec?.template?.spec) {
      const template = o.spec.jobTemplate.spec.template;
      out.push({ owner: o, podSpec: template.spec, podLabels: template.metadata?.labels, hook: isHook(o) });
    } else if (o.kind === "Pod" && o.spec) {
      out.push({ owner: o, podSpec: o.spec, podLabels: o.metadata?.labels, hook: isHook(o) });
    }
  }
  return out;
}

function containersOf(podSpec) {
  return [...(podSpec.initContainers ?? []).map((c) => ({ c, init: true })), ...(podSpec.containers ?? []).map((c) => ({ c, init: false }))];
}

// Strings that look like a credential written in clear: a URL with a password, or key=value pairs.
const urlWithPassword = /[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:([^\s@/]+)@/gi;
const secretishName = /(PASSWORD|PASSWD|PASS|SECRET|TOKEN|API_?KEY|COOKIE)$/i;
const secretAssignment = /\b(password|passwd|secret|token|default_pass)\s*[=:]\s*["']?([^\s"'#]{4,})/gi;

function* strings(value, path = "") {
  if (typeof value === "string") {
    yield [path, value];
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* strings(value[i], `${path}[${i}]`);
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) yield* strings(v, path ? `${path}.${k}` : k);
  }
}

export const rules = {
  // No credential outside Secrets: Secret values appear nowhere else; no password in a URL or a
  // key=value text; env vars named like credentials come from secretKeyRef.
  noCredentialOutsideSecrets(objects) {
    const errors = [];
    const secretValues = [];
    for (const o of objects.filter((x) => x.kind === "Secret")) {
      for (const v of Object.values(o.data ?? {})) secretValues.push(Buffer.from(String(v), "base64").toString("utf8"));
      for (const v of Object.values(o.stringData ?? {})) secretValues.push(String(v));
    }
    const notable = secretValues.filter((v) => v.length >= 6);
    for (const o of objects.filter((x) => x.kind !== "Secret")) {
      for (const [path, text] of strings(o)) {
        if (notable.some((v) => text.includes(v))) {
          errors.push(`${name(o)}: ${path} holds a value of a Secret`);
        }
        for (const m of text.matchAll(urlWithPassword)) {
          if (!/^\$\([A-Z0-9_]+\)$/.test(m[1])) {
            errors.push(`${name(o)}: ${path} has a password in a URL (build it from a Secret with $(VAR))`);
          }
        }
        for (const m of text.matchAll(secretAssignment)) {
          if (!/^\$\(?[A-Za-z0-9_]+\)?$/.test(m[2])) {
            errors.push(`${name(o)}: ${path} assigns ${m[1]} in clear text`);
          }
        }
      }
    }
    for (const { owner, podSpec } of podSpecs(objects)) {
      for (const { c } of containersOf(podSpec)) {
        for (const e of c.env ?? []) {
          if (secretishName.test(e.name) && e.value !== undefined && e.value !== "") {
            errors.push(`${name(owner)}: container ${c.name} env ${e.name} has a literal value (use secretKeyRef)`);
          }
          if (secretishName.test(e.name) && e.valueFrom?.configMapKeyRef) {
            errors.push(`${name(owner)}: container ${c.name} env ${e.name} comes from a ConfigMap (use a Secret)`);
          }
        }
      }
    }
    return errors;
  },

  // Every long-running container has liveness and readiness probes (test hooks run to completion).
  probes(objects) {
    const errors = [];
    for (const { owner, podSpec, hook } of podSpecs(objects)) {
      if (hook || owner.kind === "Job" || owner.kind === "CronJob") continue;
      for (const { c, init } of containersOf(podSpec)) {
        if (init) continue;
        for (const probe of ["livenessProbe", "readinessProbe"]) {
          if (!c[probe]) errors.push(`${name(owner)}: container ${c.name} has no ${probe}`);
        }
      }
    }
    return errors;
  },

  // Every container has liveness that is not its readiness: readiness fails in states a restart does
  // not mend (crash recovery, a dependency down), and as liveness it would turn them into restarts. A
  // database's startup probe must not wait for readiness either, or a long recovery is killed at the end
  // of the startup budget.
  livenessIsNotReadiness(objects) {
    const errors = [];
    for (const { owner, podSpec } of podSpecs(objects)) {
      for (const { c } of containersOf(podSpec)) {
        const ready = probeCheck(c.readinessProbe);
        if (!ready) continue;
        if (probeCheck(c.livenessProbe) === ready) {
          errors.push(`${name(owner)}: container ${c.name}'s livenessProbe is its readinessProbe (${ready}): a pod alive but not ready would be restarted`);
        }
        if (/postgres/.test(String(c.image)) && probeCheck(c.startupProbe) === ready) {
          errors.push(`${name(owner)}: container ${c.name}'s startupProbe waits for readiness (${ready}): a crash recovery longer than the startup budget would be killed`);
        }
      }
    }
    return errors;
  },

  // CPU, memory and ephemeral-storage requests and limits on every container (a runaway write to the
  // writable layer, an emptyDir or the log must not fill the node's disk).
  resources(objects) {
    const errors = [];
    for (const { owner, podSpec } of podSpecs(objects)) {
      for (const { c } of containersOf(podSpec)) {
        for (const kind of ["requests", "limits"]) {
          for (const r of ["cpu", "memory", "ephemeral-storage"]) {
            if (c.resources?.[kind]?.[r] === undefined) errors.push(`${name(owner)}: container ${c.name} has no ${r} ${kind.slice(0, -1)}`);
          }
        }
      }
    }
    return errors;
  },

  // Every emptyDir has a sizeLimit, and the pod's ephemeral-storage limit holds its disk-backed
  // emptyDirs (else the pod is evicted before any one of them reaches its limit).
  emptyDirSizeLimits(objects) {
    const errors = [];
    for (const { owner, podSpec } of podSpecs(objects)) {
      let sized = 0;
      for (const v of (podSpec.volumes ?? []).filter((x) => x.emptyDir)) {
        if (v.emptyDir.sizeLimit === undefined) {
          errors.push(`${name(owner)}: emptyDir ${v.name} has no sizeLimit`);
        } else if (v.emptyDir.medium !== "Memory") {
          sized += bytes(v.emptyDir.sizeLimit);
        }
      }
      const limit = (podSpec.containers ?? []).reduce((sum, c) => sum + bytes(c.resources?.limits?.["ephemeral-storage"] ?? 0), 0);
      if (limit && sized > limit) {
        errors.push(`${name(owner)}: its containers' ephemeral-storage limits (${limit} bytes) are below its emptyDirs' sizeLimits (${sized} bytes)`);
      }
    }
    return errors;
  },

  // A PodDisruptionBudget lets a drain evict a pod even when its workload runs one replica (or its
  // floor): minAvailable 1 over one pod holds `kubectl drain` forever.
  disruptionBudgetsLetDrainsThrough(objects) {
    const errors = [];
    for (const pdb of objects.filter((o) => o.kind === "PodDisruptionBudget")) {
      const targets = objects.filter((o) => workloadKinds.has(o.kind) && selects(pdb.spec?.selector, o.spec?.template?.metadata?.labels ?? {}));
      for (const w of targets) {
        for (const replicas of new Set([1, replicaFloor(objects, w)])) {
          if (disruptionsAllowed(pdb.spec, replicas) < 1) {
            const rule = pdb.spec.minAvailable !== undefined ? `minAvailable ${pdb.spec.minAvailable}` : `maxUnavailable ${pdb.spec.maxUnavailable}`;
            errors.push(`${name(pdb)}: with ${replicas} replica(s) of ${name(w)} it allows no eviction (${rule}): a node drain would wait forever`);
          }
        }
      }
    }
    return errors;
  },

  // A pod's grace period covers its preStop pause and its drain (SHUTDOWN_DRAIN_TIMEOUT), or the kubelet
  // kills it mid-drain.
  gracePeriodCoversShutdown(objects) {
    const errors = [];
    for (const { owner, podSpec } of podSpecs(objects)) {
      const grace = podSpec.terminationGracePeriodSeconds ?? 30;
      for (const { c, init } of containersOf(podSpec)) {
        if (init) continue;
        const pause = preStopSeconds(c);
        const drainEnv = (c.env ?? []).find((e) => e.name === "SHUTDOWN_DRAIN_TIMEOUT");
        const drain = drainEnv ? seconds(drainEnv.value) : 0;
        if (pause + drain > grace) {
          errors.push(`${name(owner)}: terminationGracePeriodSeconds ${grace} is shorter than container ${c.name}'s preStop pause (${pause} s) and drain (${drain} s)`);
        }
      }
    }
    return errors;
  },

  // Non-root, no privilege escalation, read-only root file system, every capability dropped.
  securityContext(objects) {
    const errors = [];
    for (const { owner, podSpec } of podSpecs(objects)) {
      const pod = podSpec.securityContext ?? {};
      for (const { c } of containersOf(podSpec)) {
        const sc = c.securityContext ?? {};
        const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
        const user = sc.runAsUser ?? pod.runAsUser;
        const where = `${name(owner)}: container ${c.name}`;
        if (nonRoot !== true) errors.push(`${where} does not set runAsNonRoot: true`);
        if (user === 0) errors.push(`${where} runs as user 0`);
        if (sc.privileged === true) errors.push(`${where} is privileged`);
        if (sc.allowPrivilegeEscalation !== false) errors.push(`${where} does not set allowPrivilegeEscalation: false`);
        if (sc.readOnlyRootFilesystem !== true) errors.push(`${where} does not set readOnlyRootFilesystem: true`);
        if (!(sc.capabilities?.drop ?? []).includes("ALL")) errors.push(`${where} does not drop ALL capabilities`);
        if ((sc.capabilities?.add ?? []).length) errors.push(`${where} adds capabilities`);
        const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
        if (seccomp !== "RuntimeDefault") errors.push(`${where} does not run under the RuntimeDefault seccomp profile`);
      }
      if (pod.runAsNonRoot !== true) errors.push(`${name(owner)}: pod does not set runAsNonRoot: true`);
      for (const hostNamespace of ["hostNetwork", "hostPID", "hostIPC"]) {
        if (podSpec[hostNamespace] === true) errors.push(`${name(owner)}: pod sets ${hostNamespace}`);
      }
    }
    return errors;
  },

  // Every image has a pinned tag (or digest), never latest.
  pinnedImages(objects) {
    const errors = [];
    for (const { owner, podSpec } of podSpecs(objects)) {
      for (const { c } of containersOf(podSpec)) {
        const image = String(c.image ?? "");
        const lastPart = image.split("/").pop();
        const tag = lastPart.includes(":") ? lastPart.split(":").pop() : "";
        if (!image.includes("@sha256:") && (!tag || tag === "latest")) {
          errors.push(`${name(owner)}: container ${c.name} image "${image}" has no pinned tag`);
        }
      }
    }
    return errors;
  },

  // Every ServicePolicy and HPA targets a Deployment of the release, and that Deployment leaves
  // replicas to it (no spec.replicas, so Helm and the autoscaler never fight).
  scalingTargets(objects) {
    const errors = [];
    const deployments = new Map(objects.filter((o) => o.kind === "Deployment").map((o) => [`${o.metadata.namespace ?? ""}/${o.metadata.name}`, o]));
    for (const o of objects) {
      let target;
      if (o.kind === "ServicePolicy") target = o.spec?.targetRef;
      else if (o.kind === "HorizontalPodAutoscaler") target = o.spec?.scaleTargetRef;
      else continue;
      const d = deployments.get(`${o.metadata.namespace ?? ""}/${target?.name}`);
      if (target?.kind !== "Deployment" || !d) {
        errors.push(`${name(o)}: targets ${target?.kind}/${target?.name}, which is not a Deployment of this release`);
      } else if (d.spec?.replicas !== undefined) {
        errors.push(`${name(o)}: its target ${name(d)} sets spec.replicas; Helm would reset what the autoscaler set`);
      }
    }
    return errors;
  },

  // RBAC grants no "*" (verbs, resources, API groups) and no cluster-wide role.
  rbac(objects) {
    const errors = [];
    for (const o of objects.filter((x) => x.kind === "Role" || x.kind === "ClusterRole")) {
      for (const [i, r] of (o.rules ?? []).entries()) {
        for (const field of ["verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"]) {
          if ((r[field] ?? []).some((v) => v.includes("*"))) errors.push(`${name(o)}: rule ${i} grants "*" in ${field}`);
        }
      }
    }
    return errors;
  },

  // Least privilege: namespaced Roles only, nothing that reads Secrets, execs into pods or escalates,
  // and no grant beyond the table of what the operator and Prometheus use.
  rbacLeastPrivilege(objects) {
    const errors = [];
    for (const o of objects.filter((x) => x.kind === "ClusterRole" || x.kind === "ClusterRoleBinding")) {
      errors.push(`${name(o)}: cluster-wide RBAC (use a Role in the release's namespace)`);
    }
    for (const o of objects.filter((x) => x.kind === "Role")) {
      for (const [i, r] of (o.rules ?? []).entries()) {
        for (const group of r.apiGroups ?? [""]) {
          for (const resource of r.resources ?? []) {
            const key = `${group}/${resource}`;
            const allowedVerbs = (roleGrants[o.metadata?.name] ?? maxGrants)[key] ?? [];
            for (const verb of r.verbs ?? []) {
              if (!allowedVerbs.includes(verb)) errors.push(`${name(o)}: rule ${i} grants ${verb} on ${key}, beyond least privilege`);
            }
          }
        }
      }
    }
    return errors;
  },

  // NetworkPolicies (for a release of the chart, i.e. objects with a Deployment api-gateway): every pod is
  // isolated for ingress and egress, and exactly the allowed paths between the release's pods are open.
  networkPolicies(objects) {
    if (!objects.some((o) => o.kind === "Deployment" && o.metadata?.name === "api-gateway")) return [];
    return checkNetworkPaths(objects);
  },

  // Every object carries the standard labels (from the chart's one helper); CRDs excepted.
  standardLabels(objects) {
    const errors = [];
    const required = ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"];
    for (const o of objects) {
      if (o.kind === "CustomResourceDefinition" || o.kind === "Namespace") continue;
      const missing = required.filter((l) => !o.metadata?.labels?.[l]);
      if (missing.length) errors.push(`${name(o)}: missing labels ${missing.join(", ")}`);
    }
    return errors;
  },
};

// The most any Role of the chart may grant, "apiGroup/resource" -> verbs (the operator's rules in
// files/operator-rbac-rules.yaml, Prometheus's pod discovery).
const maxGrants = {
  "platform.movies.dev/servicepolicies": ["get", "list", "watch"],
  "platform.movies.dev/servicepolicies/status": ["update"],
  "apps/deployments": ["get", "list", "watch"],
  "apps/deployments/scale": ["update"],
  "/pods": ["get", "list", "watch"],
  "/pods/eviction": ["create"],
  "/events": ["create"],
  "coordination.k8s.io/leases": ["get", "create", "update"],
  "autoscaling/horizontalpodautoscalers": ["list", "watch"],
};

// Roles with a table of their own: Patroni's (inventoryDatabase.ha, billingDatabase.ha), what
// patroni/dcs/kubernetes.py of 3.0.2 calls in Endpoints mode (tests/ha/patroni-rbac.yaml;
// tests/ha/patroni-failover holds it to the API server's audit log).
const patroniGrants = {
  "/endpoints": ["get", "list", "watch", "create", "patch", "deletecollection"],
  "/pods": ["list", "watch", "patch"],
  "/services": ["create"],
};
const roleGrants = {
  "inventory-database": patroniGrants,
  "billing-database": patroniGrants,
  // rabbitmq_peer_discovery_k8s (rabbitmq.ha): the Endpoints of the headless Service, read.
  rabbitmq: {
    "/endpoints": ["get"],
  },
};

// The paths between the release's pods that may be open: client -> server (component names).
export const allowedPaths = new Set([
  "api-gateway->inventory-app",
  "api-gateway->rabbitmq",
  "billing-app->rabbitmq",
  "billing-app->billing-database",
  "inventory-app->inventory-database",
  // Patroni members (inventoryDatabase.ha, billingDatabase.ha): replication, pg_rewind, each other's REST API.
  "inventory-database->inventory-database",
  "billing-database->billing-database",
  // RabbitMQ nodes (rabbitmq.ha): epmd and Erlang distribution.
  "rabbitmq->rabbitmq",
  // Backups (backup.enabled): each database's CronJobs ask its backup agent.
  "inventory-database-backup->inventory-database",
  "billing-database-backup->billing-database",
  "platform-operator->prometheus",
  "grafana->prometheus",
  ...["api-gateway", "inventory-app", "billing-app", "rabbitmq", "platform-operator"].map((t) => `prometheus->${t}`),
  ...["api-gateway", "inventory-app", "billing-app"].map((t) => `acceptance-test->${t}`),
]);
// What anyone may reach: the entry points (any of their ports), and RabbitMQ's management UI when
// rabbitmq.management.enabled (values-lab.yaml); and the components that may reach addresses outside
// the release on other ports than DNS (the Kubernetes API server).
// Paths open only where the server has this port, and then on it alone: Prometheus to a database's
// backup agent (backup.enabled), never to PostgreSQL itself.
const pathsOnPort = { "prometheus->inventory-database": 9188, "prometheus->billing-database": 9188 };
const openIngress = { "api-gateway": null, grafana: null, rabbitmq: [15672] };
const openToAnyone = (component, rulePorts) =>
  component in openIngress &&
  (openIngress[component] === null || (rulePorts?.length && rulePorts.every((p) => openIngress[component].includes(p.port))));
const externalEgress = new Set(["platform-operator", "prometheus", "inventory-database", "billing-database", "rabbitmq"]);

// The servers a pod's configuration names outside the release: every URL in its environment whose host
// is not one of the release's Services (a bring-your-own database or broker), as {host, port}.
const serverUrl = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^:/@]+):(\d+)/i;
function externalServers(podSpec, serviceNames) {
  const servers = [];
  for (const { c } of containersOf(podSpec)) {
    for (const e of c.env ?? []) {
      const m = typeof e.value === "string" && e.value.match(serverUrl);
      // A Service's name, or a StatefulSet pod's name under its headless Service (pod.service.ns.svc).
      const labels = m ? m[1].split(".") : [];
      const inRelease = m && (serviceNames.has(labels[0]) || (labels.length > 2 && labels[3] === "svc" && serviceNames.has(labels[1])));
      if (m && !inRelease) servers.push({ host: m[1], port: Number(m[2]), env: e.name });
    }
  }
  return servers;
}

function podsOf(objects) {
  const serviceNames = new Set(objects.filter((o) => o.kind === "Service").map((o) => o.metadata?.name));
  return podSpecs(objects).map(({ owner, podSpec, podLabels }) => {
    const labels = podLabels ?? {};
    const ports = containersOf(podSpec).flatMap(({ c }) => (c.ports ?? []).map((p) => p.containerPort));
    const servers = externalServers(podSpec, serviceNames);
    return { component: labels["app.kubernetes.io/name"] ?? owner.metadata?.name, labels, ports, servers };
  });
}

const selects = (selector, labels) =>
  Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v) && !(selector?.matchExpressions ?? []).length;
const portMatches = (rulePorts, port) => !rulePorts?.length || rulePorts.some((p) => p.port === undefined || p.port === port);

// Whether a peer list (from/to) admits the pod; an empty or missing list admits everyone, an ipBlock
// every address (pods included).
function peersAdmit(peers, pod) {
  if (!peers?.length) return true;
  return peers.some((p) => p.ipBlock || (p.podSelector && !p.namespaceSelector && selects(p.podSelector, pod.labels)));
}

function checkNetworkPaths(objects) {
  const errors = [];
  const policies = objects.filter((o) => o.kind === "NetworkPolicy");
  const pods = podsOf(objects);
  const isolating = (pod, type) => policies.filter((np) => (np.spec.policyTypes ?? ["Ingress"]).includes(type) && selects(np.spec.podSelector, pod.labels));
  for (const pod of pods) {
    for (const type of ["Ingress", "Egress"]) {
      if (!isolating(pod, type).length) errors.push(`pod ${pod.component} is not isolated for ${type} (no default-deny)`);
    }
  }
  const ingressAllows = (from, to, port) =>
    isolating(to, "Ingress").some((np) => (np.spec.ingress ?? []).some((r) => portMatches(r.ports, port) && peersAdmit(r.from, from)));
  const egressAllows = (from, to, port) =>
    isolating(from, "Egress").some((np) => (np.spec.egress ?? []).some((r) => portMatches(r.ports, port) && peersAdmit(r.to, to)));
  for (const from of pods) {
    for (const to of pods) {
      if (from === to) continue;
      const open = to.ports.filter((port) => ingressAllows(from, to, port) && egressAllows(from, to, port));
      const path = `${from.component}->${to.component}`;
      if (path in pathsOnPort) {
        const port = pathsOnPort[path];
        if (to.ports.includes(port) && !open.includes(port)) errors.push(`path ${path} is closed on port ${port}; it must be open`);
        const others = open.filter((p) => p !== port);
        if (others.length) errors.push(`path ${path} is open on port ${others.join(", ")}; only ${port} may be`);
      } else if (allowedPaths.has(path)) {
        if (!open.length) errors.push(`path ${path} is closed; it must be open`);
      } else if (open.length) {
        errors.push(`path ${path} is open on port ${open.join(", ")}; only the allowed paths may be`);
      }
    }
  }
  // From and to outside the release: ingress open to all only at the entry points; egress to any address
  // (beyond DNS) only for the components that talk to the Kubernetes API, and for a service to an external
  // server its configuration names, on that server's port only. Each such server must be reachable.
  const outside = (r) => !r.to?.length || r.to.some((p) => p.ipBlock);
  for (const pod of pods) {
    for (const server of pod.servers) {
      const reachable = isolating(pod, "Egress").some((np) => (np.spec.egress ?? []).some((r) => outside(r) && portMatches(r.ports, server.port)));
      if (!reachable) errors.push(`pod ${pod.component} cannot reach ${server.host}:${server.port} (its ${server.env}): no egress rule outside the release on that port`);
    }
  }
  for (const np of policies) {
    for (const pod of pods.filter((p) => selects(np.spec.podSelector, p.labels))) {
      for (const r of np.spec.ingress ?? []) {
        if ((!r.from?.length || r.from.some((p) => p.ipBlock)) && !openToAnyone(pod.component, r.ports)) {
          errors.push(`${name(np)}: lets anyone reach ${pod.component}`);
        }
      }
      for (const r of np.spec.egress ?? []) {
        const dnsOnly = r.ports?.length && r.ports.every((p) => p.port === 53);
        const toItsServers = r.ports?.length && r.ports.every((p) => pod.servers.some((s) => s.port === p.port));
        if (outside(r) && !dnsOnly && !toItsServers && !externalEgress.has(pod.component)) {
          errors.push(`${name(np)}: lets ${pod.component} connect anywhere`);
        }
      }
    }
  }
  return [...new Set(errors)];
}

// The production profile (values-ha.yaml): the components that must survive a rolling upgrade, a node
// drain and a lost node. Prometheus and Grafana are left out: one TSDB, one writer (strategy Recreate).
export const highlyAvailable = ["api-gateway", "inventory-app", "billing-app", "platform-operator"];
// Those of them in the request path, whose pods must pause before SIGTERM while endpoints propagate.
const serving = new Set(["api-gateway", "inventory-app", "billing-app"]);
export const minPreStopSeconds = 5;

export const haRules = {
  // At least two replicas whoever sets the count, spread over nodes, never one fewer during a rollout,
  // a pause before SIGTERM on the serving ones, and a disruption budget for each.
  replicatedAndSpread(objects) {
    const errors = [];
    for (const component of highlyAvailable) {
      const d = objects.find((o) => o.kind === "Deployment" && o.metadata?.name === component);
      if (!d) continue;
      const labels = d.spec?.template?.metadata?.labels ?? {};
      const pod = d.spec?.template?.spec ?? {};
      const floor = replicaFloor(objects, d);
      if (floor < 2) errors.push(`${name(d)}: runs ${floor} replica(s) at the least; the production profile needs 2`);
      const spread = (pod.topologySpreadConstraints ?? []).some((t) => t.topologyKey === "kubernetes.io/hostname" && selects(t.labelSelector, labels));
      if (!spread) errors.push(`${name(d)}: no topologySpreadConstraint over kubernetes.io/hostname selecting its pods`);
      const strategy = d.spec?.strategy ?? {};
      const maxUnavailable = strategy.rollingUpdate?.maxUnavailable;
      if ((strategy.type ?? "RollingUpdate") !== "RollingUpdate" || !(maxUnavailable === 0 || maxUnavailable === "0%")) {
        errors.push(`${name(d)}: a rolling update may take a replica down first (maxUnavailable ${maxUnavailable ?? "25% (default)"}); it needs maxUnavailable 0`);
      }
      if (serving.has(component)) {
        for (const c of pod.containers ?? []) {
          if (preStopSeconds(c) < minPreStopSeconds) {
            errors.push(`${name(d)}: container ${c.name} has no preStop pause of ${minPreStopSeconds} s or more: it would stop while Services still send it requests`);
          }
        }
      }
      if (!objects.some((o) => o.kind === "PodDisruptionBudget" && selects(o.spec?.selector, labels))) {
        errors.push(`${name(d)}: no PodDisruptionBudget: a drain may evict every replica at once`);
      }
    }
    return errors;
  },
};

// A lost node: the Deployments' pods on it are evicted (and started on the nodes left) within this long
// after it went NotReady or unreachable, not after Kubernetes' default of 300 s.
export const maxNodeLossTolerationSeconds = 60;
haRules.nodeLossEviction = (objects) => {
  const errors = [];
  for (const component of highlyAvailable) {
    const d = objects.find((o) => o.kind === "Deployment" && o.metadata?.name === component);
    if (!d) continue;
    const tolerations = d.spec?.template?.spec?.tolerations ?? [];
    for (const taint of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
      const t = tolerations.find((x) => x.key === taint && (x.effect ?? "NoExecute") === "NoExecute");
      const wait = t ? (t.tolerationSeconds ?? Infinity) : 300;
      if (wait > maxNodeLossTolerationSeconds) {
        errors.push(`${name(d)}: stays bound to a node tainted ${taint} for ${wait} s; the production profile replaces it within ${maxNodeLossTolerationSeconds} s (nodeLoss.tolerationSeconds)`);
      }
    }
  }
  return errors;
};

// A Patroni member (a StatefulSet whose container runs `patroni`) that is the leader hands its lock to a
// standby before it stops (mp-patroni-prestop): a drain or a rolling update otherwise stops the leader
// first and the Service has no database until an election ends. Its grace period covers the hand-over.
export const patroniPreStopSeconds = 30;
haRules.databaseLeaderHandover = (objects) => {
  const errors = [];
  for (const sts of objects.filter((o) => o.kind === "StatefulSet")) {
    const pod = sts.spec?.template?.spec ?? {};
    for (const c of pod.containers ?? []) {
      if (!(c.args ?? []).includes("patroni")) continue;
      const command = c.lifecycle?.preStop?.exec?.command ?? [];
      if (!/(^|\/)mp-patroni-prestop$/.test(command[0] ?? "")) {
        errors.push(`${name(sts)}: container ${c.name} runs Patroni without the preStop mp-patroni-prestop: a leader leaving would not hand over its lock first`);
      } else if ((pod.terminationGracePeriodSeconds ?? 30) <= patroniPreStopSeconds) {
        errors.push(`${name(sts)}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds ?? 30} leaves no time to stop after the hand-over (up to ${patroniPreStopSeconds} s)`);
      }
    }
  }
  return errors;
};

// What a replicated StatefulSet of the production profile needs: `members` or more, all started at once
// (after a full stop the one that stopped last need not come first), one per Kubernetes node, and a
// disruption budget that lets a drain take no more than `mayLose` of them.
function clusterErrors(objects, sts, what, members, mayLose) {
  const errors = [];
  const labels = sts.spec.template.metadata.labels;
  const nodes = sts.spec.replicas ?? 1;
  if (nodes < members) errors.push(`${name(sts)}: ${nodes} ${what}(s); the production profile needs ${members}`);
  if (sts.spec.podManagementPolicy !== "Parallel") {
    errors.push(`${name(sts)}: podManagementPolicy ${sts.spec.podManagementPolicy ?? "OrderedReady"}; after a full stop the ${what}s must start together (Parallel)`);
  }
  const pod = sts.spec.template.spec ?? {};
  if (!(pod.topologySpreadConstraints ?? []).some((t) => t.topologyKey === "kubernetes.io/hostname" && selects(t.labelSelector, labels))) {
    errors.push(`${name(sts)}: no topologySpreadConstraint over kubernetes.io/hostname selecting its pods`);
  }
  const budget = objects.find((o) => o.kind === "PodDisruptionBudget" && selects(o.spec?.selector, labels));
  if (!budget || disruptionsAllowed(budget.spec, nodes) > mayLose(nodes)) {
    errors.push(`${name(sts)}: a drain may evict more than ${mayLose(nodes)} of ${nodes} ${what}s`);
  }
  return errors;
}

// The production profile's broker: the chart's RabbitMQ (when it runs one) as a cluster of three nodes or
// more, a budget that keeps every quorum queue's majority, and a headless Service that publishes nodes
// still booting (the peer discovery's startup lock needs them).
haRules.brokerCluster = (objects) => {
  const sts = objects.find((o) => o.kind === "StatefulSet" && o.spec?.template?.metadata?.labels?.["app.kubernetes.io/name"] === "rabbitmq");
  if (!sts) return [];
  const errors = clusterErrors(objects, sts, "RabbitMQ node", 3, (n) => Math.floor((n - 1) / 2));
  const headless = objects.find((o) => o.kind === "Service" && o.metadata?.name === sts.spec.serviceName);
  if (!headless?.spec?.publishNotReadyAddresses) {
    errors.push(`${name(sts)}: its headless Service ${sts.spec.serviceName} does not publish nodes that are not ready: nodes booting together may form two clusters`);
  }
  return errors;
};

// The production profile's databases: each bundled one (inventory's and billing's) as a Patroni cluster
// (inventoryDatabase.ha, billingDatabase.ha) of three members or more, one evicted at a time (the leader
// and its synchronous standby stay), and its Service without a selector: Patroni writes its Endpoints,
// so the service's connections follow the leader.
haRules.databaseClusters = (objects) => {
  const errors = [];
  for (const db of ["inventory-database", "billing-database"]) {
    const sts = objects.find((o) => o.kind === "StatefulSet" && o.spec?.template?.metadata?.labels?.["app.kubernetes.io/name"] === db);
    if (!sts) continue;
    errors.push(...clusterErrors(objects, sts, "PostgreSQL member", 3, () => 1));
    const patroni = (sts.spec.template.spec?.containers ?? []).some((c) => (c.args ?? []).includes("patroni"));
    if (!patroni) errors.push(`${name(sts)}: PostgreSQL without Patroni: no failover (the production profile needs ${db === "inventory-database" ? "inventoryDatabase" : "billingDatabase"}.ha)`);
    const service = objects.find((o) => o.kind === "Service" && o.metadata?.name === db);
    if (service?.spec?.selector) errors.push(`Service/${db}: a selector; Patroni's Endpoints (the leader) are what it must lead to`);
  }
  return errors;
};

// The probe's check without its timing, as text ("" when there is no probe).
function probeCheck(probe) {
  if (!probe) return "";
  const { exec, httpGet, tcpSocket, grpc } = probe;
  return JSON.stringify({ exec, httpGet, tcpSocket, grpc });
}

// A Kubernetes quantity in bytes (binary and decimal suffixes).
function bytes(q) {
  const m = String(q).match(/^([0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/);
  if (!m) return NaN;
  const scale = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  return Number(m[1]) * (m[2] ? scale[m[2]] : 1);
}

// A duration of the services' syntax ("10s", "500ms", "1m", or bare milliseconds) in seconds.
function seconds(text) {
  let total = 0;
  const t = String(text);
  if (/^[0-9]+$/.test(t)) return Number(t) / 1000;
  for (const [, n, unit] of t.matchAll(/([0-9.]+)(ms|s|m|h)/g)) total += Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit];
  return total;
}

// The seconds a container's preStop hook pauses: the sleep action, or an exec of sleep.
function preStopSeconds(c) {
  const hook = c.lifecycle?.preStop;
  if (hook?.sleep) return Number(hook.sleep.seconds);
  const command = hook?.exec?.command ?? [];
  if (/(^|\/)sleep$/.test(command[0] ?? "")) return Number(command[1]);
  return 0;
}

// The fewest replicas a workload runs: spec.replicas, else the minReplicas of the ServicePolicy or HPA
// that sets its count, else Kubernetes' default of 1.
function replicaFloor(objects, w) {
  if (w.spec?.replicas !== undefined) return w.spec.replicas;
  for (const o of objects) {
    const target = o.kind === "ServicePolicy" ? o.spec?.targetRef : o.kind === "HorizontalPodAutoscaler" ? o.spec?.scaleTargetRef : null;
    if (target?.kind === w.kind && target?.name === w.metadata?.name) return o.spec?.minReplicas ?? 1;
  }
  return 1;
}

// How many of `replicas` healthy pods a budget lets an eviction take (percentages round up, as the
// disruption controller rounds them).
function disruptionsAllowed(spec, replicas) {
  const scaled = (v) => (typeof v === "string" && v.endsWith("%") ? Math.ceil((Number(v.slice(0, -1)) * replicas) / 100) : Number(v));
  if (spec?.minAvailable !== undefined) return replicas - scaled(spec.minAvailable);
  if (spec?.maxUnavailable !== undefined) return Math.min(scaled(spec.maxUnavailable), replicas);
  return replicas;
}

// Every rule's errors; with {profile: "ha"}, the production profile's rules too.
export function checkPolicies(objects, { profile } = {}) {
  const results = [];
  const sets = profile === "ha" ? [rules, haRules] : [rules];
  for (const set of sets) {
    for (const [rule, fn] of Object.entries(set)) {
      for (const e of fn(objects)) results.push(`policy ${rule}: ${e}`);
    }
  }
  return results;
}
