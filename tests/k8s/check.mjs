// Offline checks of rendered Kubernetes objects (scripts/check-k8s runs this):
//   1. schema: every object against the official OpenAPI schemas (kubernetes-models) or, for our custom
//      resources, the CRD's own openAPIV3Schema (ajv, strict about unknown fields);
//   2. types: a `tsc --noEmit --strict` pass over the objects as typed literals (unknown fields, TS2353);
//   3. policies (lib/policies.mjs) over each rendered release.
// Fixtures prove each check can fail: every file in --fixtures starts with "# expect: TEXT" and passes
// only when the checks report an error containing TEXT; good-*.yaml fixtures must pass every check. A
// release rendered with the production profile (values-ha.yaml) is given with --ha-case and held to the
// profile's rules too (lib/policies.mjs, haRules), as is a fixture whose second line is "# profile: ha".
//
// node check.mjs --crd FILE... --case LABEL=FILE... [--ha-case LABEL=FILE...] [--fixtures DIR] [--extract-out DIR]
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseAllDocuments, parse as parseYaml, stringify } from "yaml";
import { checkPolicies } from "./lib/policies.mjs";
import { SchemaValidator } from "./lib/schemas.mjs";
import { typecheck } from "./lib/typecheck.mjs";

const args = process.argv.slice(2);
const opt = { crds: [], cases: [], haCases: [], fixtures: null, extractOut: null };
for (let i = 0; i < args.length; i += 2) {
  const [flag, value] = [args[i], args[i + 1]];
  if (value === undefined) {
    console.error(`${flag} needs a value`);
    process.exit(2);
  }
  if (flag === "--crd") opt.crds.push(value);
  else if (flag === "--case") opt.cases.push(value);
  else if (flag === "--ha-case") opt.haCases.push(value);
  else if (flag === "--fixtures") opt.fixtures = value;
  else if (flag === "--extract-out") opt.extractOut = value;
  else {
    console.error(`unknown argument ${flag}`);
    process.exit(2);
  }
}

function loadObjects(file) {
  const objects = [];
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj && typeof obj === "object") objects.push(obj);
  }
  return objects;
}

const validator = new SchemaValidator();
for (const file of opt.crds) {
  for (const crd of loadObjects(file)) validator.addCrd(crd);
}

// Units: the rendered releases (all must pass) and the fixtures (each must fail as it says).
const release = (profile) => (c) => {
  const [label, file] = c.split("=");
  return { label, file, objects: loadObjects(file), expect: null, profile };
};
const units = [...opt.cases.map(release(null)), ...opt.haCases.map(release("ha"))];
if (opt.fixtures) {
  for (const f of readdirSync(opt.fixtures).filter((n) => n.endsWith(".yaml")).sort()) {
    const file = join(opt.fixtures, f);
    const [first, second] = readFileSync(file, "utf8").split("\n");
    const m = first.match(/^# expect: (.+)$/);
    const profile = (second ?? "").match(/^# profile: (\S+)$/)?.[1] ?? null;
    if (!m && !f.startsWith("good-")) {
      console.error(`${file}: first line must be "# expect: TEXT" (or the file be named good-*.yaml)`);
      process.exit(2);
    }
    units.push({ label: `fixture ${f}`, file, objects: loadObjects(file), expect: m ? m[1].trim() : null, profile });
  }
}
for (const u of units) {
  for (const o of u.objects.filter((x) => x.kind === "CustomResourceDefinition")) validator.addCrd(o);
  u.errors = [];
}

// 1. Schemas.
for (const u of units) {
  for (const o of u.objects) {
    for (const e of await validator.validate(o)) u.errors.push(`schema ${o.kind}/${o.metadata?.name}: ${e}`);
  }
}

// 2. Types: one tsc run over every built-in object of every unit.
const items = [];
for (const u of units) {
  for (const o of u.objects) {
    if (!validator.isCustom(o)) items.push({ unit: u, obj: o });
  }
}
const require = createRequire(import.meta.url);
const tscPath = require.resolve("typescript/bin/tsc");
const workRoot = process.env.MP_K8S_WORK ?? process.cwd();
const typeErrors = typecheck(items, { tscPath, workRoot });
for (const [index, errs] of typeErrors) {
  const { unit, obj } = items[index];
  for (const e of errs) unit.errors.push(`types ${obj.kind}/${obj.metadata?.name}: ${e}`);
}

// 3. Policies, per release.
for (const u of units) u.errors.push(...checkPolicies(u.objects, { profile: u.profile }));

// The chart's Prometheus configuration and rules (for promtool) and the helm test's script (for
// shellcheck), written out for scripts/check-k8s.
if (opt.extractOut) {
  for (const u of units.filter((x) => !x.expect)) {
    const dir = join(opt.extractOut, u.label);
    const config = u.objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "prometheus-config");
    const rule = u.objects.find((o) => o.kind === "PrometheusRule");
    const test = u.objects.find((o) => o.kind === "Pod" && o.metadata.annotations?.["helm.sh/hook"] === "test");
    mkdirSync(dir, { recursive: true });
    if (test) writeFileSync(join(dir, "acceptance-test.sh"), `#!/bin/sh\n${test.spec.containers[0].args[0]}`);
    if (config) {
      const prom = parseYaml(config.data["prometheus.yml"]);
      prom.rule_files = [join(dir, "rules.yml")];
      // Debian's promtool is built without Kubernetes service discovery: check the rest of each scrape
      // config (relabelling included) with a static target in its place.
      for (const sc of prom.scrape_configs ?? []) {
        if (sc.kubernetes_sd_configs) {
          delete sc.kubernetes_sd_configs;
          sc.static_configs = [{ targets: ["127.0.0.1:9"] }];
        }
      }
      writeFileSync(join(dir, "prometheus.yml"), stringify(prom));
      writeFileSync(join(dir, "rules.yml"), config.data["rules.yml"]);
    }
    if (rule) writeFileSync(join(dir, "prometheusrule.yml"), stringify(rule.spec));
  }
}

let failed = 0;
for (const u of units) {
  if (u.expect === null) {
    if (u.errors.length) {
      failed++;
      console.log(`FAIL ${u.label} (${u.file}): ${u.errors.length} problems`);
      for (const e of u.errors) console.log(`  ${e}`);
    } else {
      console.log(`ok   ${u.label}: ${u.objects.length} objects valid, policies hold`);
    }
  } else if (u.errors.some((e) => e.includes(u.expect))) {
    console.log(`ok   ${u.label}: rejected as expected (${u.errors.find((e) => e.includes(u.expect))})`);
  } else {
    failed++;
    console.log(`FAIL ${u.label}: expected an error containing "${u.expect}", got ${u.errors.length ? "" : "none"}`);
    for (const e of u.errors) console.log(`  ${e}`);
  }
}
process.exit(failed ? 1 : 0);
