// Validates Kubernetes objects against their OpenAPI schemas, offline: built-in kinds and the
// Prometheus Operator's through kubernetes-models (types, required fields, enums, formats), custom
// resources of our own CRDs through ajv against the CRD's openAPIV3Schema made strict (unknown fields
// are errors, as kubectl's default --validate=strict makes them).
import Ajv from "ajv";

// apiVersion group -> module that exports its kinds (kubernetes-models names core "v1" plainly).
const modulesByGroup = {
  "": "kubernetes-models",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

function splitApiVersion(apiVersion) {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? { group: "", version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

// The module path and exported names of an object's model, or null when none is known.
export function modelOf(obj) {
  const { group, version } = splitApiVersion(String(obj.apiVersion ?? ""));
  const base = modulesByGroup[group] ?? "kubernetes-models";
  if (!obj.kind || !version) {
    return null;
  }
  const path = group === "" ? `${base}/${version}` : `${base}/${group}/${version}`;
  return { path, className: obj.kind, typeName: `I${obj.kind}` };
}

// OpenAPI v3 (Kubernetes flavour) -> JSON Schema draft-07 that ajv compiles, closed to unknown fields.
function toJsonSchema(node, isMetadata = false) {
  if (Array.isArray(node)) {
    return node.map((n) => toJsonSchema(n));
  }
  if (!node || typeof node !== "object") {
    return node;
  }
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith("x-kubernetes-") || key === "format" || key === "default" || key === "description") {
      continue; // formats (int32, date-time) and defaults do not change what is valid input here
    }
    if (key === "properties") {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSchema(v, k === "metadata")]));
    } else if (key === "exclusiveMinimum" || key === "exclusiveMaximum") {
      continue; // handled with minimum/maximum below (OpenAPI 3.0 booleans)
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  if (node.exclusiveMinimum === true && "minimum" in node) {
    out.exclusiveMinimum = node.minimum;
    delete out.minimum;
  }
  if (node.exclusiveMaximum === true && "maximum" in node) {
    out.exclusiveMaximum = node.maximum;
    delete out.maximum;
  }
  if (node.properties && !isMetadata && !("additionalProperties" in node) && !node["x-kubernetes-preserve-unknown-fields"]) {
    out.additionalProperties = false;
  }
  return out;
}

export class SchemaValidator {
  constructor() {
    this.ajv = new Ajv({ allErrors: true, strict: false });
    this.customKinds = new Map(); // "group/version Kind" -> compiled validator
    this.models = new Map();
  }

  // Registers every served version of a CustomResourceDefinition object.
  addCrd(crd) {
    const group = crd.spec.group;
    for (const v of crd.spec.versions ?? []) {
      const schema = toJsonSchema(v.schema.openAPIV3Schema);
      this.customKinds.set(`${group}/${v.name} ${crd.spec.names.kind}`, this.ajv.compile(schema));
    }
  }

  isCustom(obj) {
    return this.customKinds.has(`${obj.apiVersion} ${obj.kind}`);
  }

  // Returns a list of error strings (empty when the object is valid).
  async validate(obj) {
    const custom = this.customKinds.get(`${obj.apiVersion} ${obj.kind}`);
    if (custom) {
      if (custom(obj)) {
        return [];
      }
      return custom.errors.map((e) => `${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` "${e.params.additionalProperty}"` : ""}`);
    }
    const model = modelOf(obj);
    if (!model) {
      return [`no schema known for ${obj.apiVersion} ${obj.kind}`];
    }
    let mod = this.models.get(model.path);
    if (!mod) {
      try {
        mod = await import(model.path);
      } catch {
        return [`no schema known for ${obj.apiVersion} ${obj.kind}`];
      }
      this.models.set(model.path, mod);
    }
    const Model = mod[model.className];
    if (!Model) {
      return [`no schema known for ${obj.apiVersion} ${obj.kind}`];
    }
    try {
      new Model(obj).validate();
      return [];
    } catch (e) {
      return [String(e.message ?? e)];
    }
  }
}
