// Policy rules over a set of rendered objects (one release). Each rule returns error strings naming the
// object ("Kind/name") and what is wrong.

const workloadKinds = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"]);
const name = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;
const isHook = (o) => Boolean(o.metadata?.annotations?.["helm.sh/hook"]);

// [{owner, podSpec, hook}] for every pod template and bare Pod.
function podSpecs(objects) {
  const out = [];
  for (const o of objects) {
    if (workloadKinds.has(o.kind) && o.spec?.template?.spec) {
      out.push({ owner: o, podSpec: o.spec.template.spec, hook: isHook(o) });
    } else if (o.kind === "CronJob" && o.spec?.jobTemplate?.spec?.template?.spec) {
      out.push({ owner: o, podSpec: o.spec.jobTemplate.spec.template.spec, hook: isHook(o) });
    } else if (o.kind === "Pod" && o.spec) {
      out.push({ owner: o, podSpec: o.spec, hook: isHook(o) });
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
      if (hook || owner.kind === "Job") continue;
      for (const { c, init } of containersOf(podSpec)) {
        if (init) continue;
        for (const probe of ["livenessProbe", "readinessProbe"]) {
          if (!c[probe]) errors.push(`${name(owner)}: container ${c.name} has no ${probe}`);
        }
      }
    }
    return errors;
  },

  // CPU and memory requests and limits on every container.
  resources(objects) {
    const errors = [];
    for (const { owner, podSpec } of podSpecs(objects)) {
      for (const { c } of containersOf(podSpec)) {
        for (const kind of ["requests", "limits"]) {
          for (const r of ["cpu", "memory"]) {
            if (c.resources?.[kind]?.[r] === undefined) errors.push(`${name(owner)}: container ${c.name} has no ${r} ${kind.slice(0, -1)}`);
          }
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
            const allowedVerbs = maxGrants[key] ?? [];
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

// The paths between the release's pods that may be open: client -> server (component names).
const allowedPaths = new Set([
  "api-gateway->inventory-app",
  "api-gateway->rabbitmq",
  "billing-app->rabbitmq",
  "billing-app->billing-database",
  "inventory-app->inventory-database",
  "platform-operator->prometheus",
  "grafana->prometheus",
  ...["api-gateway", "inventory-app", "billing-app", "rabbitmq", "platform-operator"].map((t) => `prometheus->${t}`),
  ...["api-gateway", "inventory-app", "billing-app"].map((t) => `acceptance-test->${t}`),
]);
// What anyone may reach: the entry points (any of their ports), and RabbitMQ's management UI when
// rabbitmq.management.enabled (values-lab.yaml); and the components that may reach addresses outside
// the release on other ports than DNS (the Kubernetes API server).
const openIngress = { "api-gateway": null, grafana: null, rabbitmq: [15672] };
const openToAnyone = (component, rulePorts) =>
  component in openIngress &&
  (openIngress[component] === null || (rulePorts?.length && rulePorts.every((p) => openIngress[component].includes(p.port))));
const externalEgress = new Set(["platform-operator", "prometheus"]);

// The servers a pod's configuration names outside the release: every URL in its environment whose host
// is not one of the release's Services (a bring-your-own database or broker), as {host, port}.
const serverUrl = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^:/@]+):(\d+)/i;
function externalServers(podSpec, serviceNames) {
  const servers = [];
  for (const { c } of containersOf(podSpec)) {
    for (const e of c.env ?? []) {
      const m = typeof e.value === "string" && e.value.match(serverUrl);
      if (m && !serviceNames.has(m[1])) servers.push({ host: m[1], port: Number(m[2]), env: e.name });
    }
  }
  return servers;
}

function podsOf(objects) {
  const serviceNames = new Set(objects.filter((o) => o.kind === "Service").map((o) => o.metadata?.name));
  return podSpecs(objects).map(({ owner, podSpec }) => {
    const labels = owner.kind === "Pod" ? owner.metadata?.labels ?? {} : owner.spec?.template?.metadata?.labels ?? {};
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
      if (allowedPaths.has(path)) {
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

export function checkPolicies(objects) {
  const results = [];
  for (const [rule, fn] of Object.entries(rules)) {
    for (const e of fn(objects)) results.push(`policy ${rule}: ${e}`);
  }
  return results;
}
