// Bring-your-own servers in one rendering of the chart (scripts/check-k8s runs this): for each of
// inventoryDatabase, billingDatabase and rabbitmq, switched off (external) or bundled, that
//   - an external one has no object of its own (StatefulSet, Services, ConfigMap, Secret, NetworkPolicy,
//     volume claims) and a bundled one has its StatefulSet;
//   - every service that uses it has the external host and port in its URL (or the chart's Service), and
//     its password from the user's Secret (auth.existingSecret / existingSecretPasswordKey) by
//     secretKeyRef.
// The NetworkPolicies' egress to an external server is checked for every rendering by lib/policies.mjs.
//
// node external-servers.mjs RENDERED.yaml VALUES.yaml EXTERNAL_KEYS   (EXTERNAL_KEYS: comma-separated, or "")
import { readFileSync } from "node:fs";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const [rendered, valuesFile, externalArg] = process.argv.slice(2);
if (!rendered || !valuesFile || externalArg === undefined) {
  console.error("usage: external-servers.mjs RENDERED.yaml VALUES.yaml EXTERNAL_KEYS");
  process.exit(2);
}
const objects = parseAllDocuments(readFileSync(rendered, "utf8"))
  .map((d) => d.toJS())
  .filter((o) => o && typeof o === "object");
const values = parseYaml(readFileSync(valuesFile, "utf8"));
const external = new Set(externalArg.split(",").filter(Boolean));

// values key -> the component the chart runs for it, its port there, and who uses it (Deployment, URL
// variable, password variable).
const servers = {
  inventoryDatabase: { component: "inventory-database", port: 5432, users: [["inventory-app", "INVENTORY_DATABASE_URL", "DATABASE_PASSWORD"]] },
  billingDatabase: { component: "billing-database", port: 5432, users: [["billing-app", "BILLING_DATABASE_URL", "DATABASE_PASSWORD"]] },
  rabbitmq: {
    component: "rabbitmq",
    port: 5672,
    users: [
      ["api-gateway", "RABBITMQ_URL", "RABBITMQ_PASSWORD"],
      ["billing-app", "RABBITMQ_URL", "RABBITMQ_PASSWORD"],
    ],
  },
};
for (const key of external) {
  if (!servers[key]) {
    console.error(`unknown server ${key}`);
    process.exit(2);
  }
}

const errors = [];
const name = (o) => `${o.kind}/${o.metadata?.name}`;
const env = (deployment, variable) =>
  objects
    .find((o) => o.kind === "Deployment" && o.metadata.name === deployment)
    ?.spec.template.spec.containers[0].env?.find((e) => e.name === variable);
for (const [key, server] of Object.entries(servers)) {
  const isExternal = external.has(key);
  const own = objects.filter((o) => o.metadata?.labels?.["app.kubernetes.io/name"] === server.component);
  if (isExternal && own.length) errors.push(`${key} is external, yet the chart renders ${own.map(name).join(", ")}`);
  if (!isExternal && !own.some((o) => o.kind === "StatefulSet")) errors.push(`${key} is bundled, yet there is no StatefulSet ${server.component}`);
  const ext = values[key]?.external ?? {};
  const auth = values[key]?.auth ?? {};
  const where = isExternal ? `${ext.host}:${ext.port}` : `${server.component}:${server.port}`;
  for (const [deployment, urlVar, passwordVar] of server.users) {
    const url = env(deployment, urlVar)?.value ?? "";
    if (!url.includes(`@${where}/`)) errors.push(`${deployment}: ${urlVar} is "${url}", not at ${where}`);
    const ref = env(deployment, passwordVar)?.valueFrom?.secretKeyRef;
    if (isExternal && (ref?.name !== auth.existingSecret || ref?.key !== auth.existingSecretPasswordKey)) {
      errors.push(`${deployment}: ${passwordVar} comes from ${JSON.stringify(ref)}, not the Secret ${auth.existingSecret} key ${auth.existingSecretPasswordKey}`);
    }
  }
}
const summary = Object.keys(servers)
  .map((k) => `${k} ${external.has(k) ? "external" : "bundled"}`)
  .join(", ");
if (errors.length) {
  console.log(`FAIL ${rendered} (${summary}):`);
  for (const e of errors) console.log(`  ${e}`);
  process.exit(1);
}
console.log(`ok   ${summary}: no object for an external server, URLs and Secrets as the values say`);
