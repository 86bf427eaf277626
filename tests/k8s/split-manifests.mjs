// Splits a rendered release (helm template output) into one file per component for manifests/:
// OUT/<component>.yaml holds every object labelled app.kubernetes.io/component=<component>, in the
// rendering's order and text. Secrets are left out: manifests/kustomization.yaml generates them from
// git-ignored env files (credentials/<secret>.env). Prints "file NAME" for each file written, then the
// secretGenerator entries (YAML list items, the Secrets' names, namespaces and labels) for the Secrets.
// Objects of the components named in DROP (comma-separated) are left out too.
//   node split-manifests.mjs RENDERED OUT HEADER [DROP]
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [rendered, out, header, drop = ""] = process.argv.slice(2);
const dropped = new Set(drop.split(",").filter(Boolean));
const groups = new Map();
const secrets = [];
for (const doc of parseAllDocuments(readFileSync(rendered, "utf8"))) {
  const object = doc.toJS();
  if (!object) continue;
  const component = object.metadata?.labels?.["app.kubernetes.io/component"];
  if (!component) {
    console.error(`${object.kind} ${object.metadata?.name}: no app.kubernetes.io/component label`);
    process.exit(1);
  }
  if (dropped.has(component)) continue;
  if (object.kind === "Secret") {
    const keys = Object.keys({ ...object.data, ...object.stringData });
    if (keys.join() !== "password") {
      console.error(`Secret ${object.metadata.name} has keys ${keys}; credentials/*.env files hold one, password`);
      process.exit(1);
    }
    const labels = Object.entries(object.metadata.labels).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`);
    secrets.push(
      [
        `  - name: ${object.metadata.name}`,
        `    namespace: ${object.metadata.namespace}`,
        `    envs: [credentials/${object.metadata.name}.env]`,
        "    options:",
        "      disableNameSuffixHash: true",
        "      labels:",
        ...labels,
      ].join("\n"),
    );
    continue;
  }
  // The document's own text without helm's "# Source:" comment (the file name says where it belongs).
  const text = doc.toString({ lineWidth: 0 }).replace(/^# Source: .*\n/m, "");
  if (!groups.has(component)) groups.set(component, []);
  groups.get(component).push(text.trimEnd());
}
for (const [component, texts] of groups) {
  writeFileSync(`${out}/${component}.yaml`, `${header}\n---\n${texts.join("\n---\n")}\n`);
  console.log(`file ${component}.yaml`);
}
for (const line of secrets) console.log(line);
