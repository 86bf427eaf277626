// The image rules of the project (issue "Kubernetes packaging") checked on a Dockerfile:
// bases are debian:bookworm / debian:bookworm-slim only (pinned, never latest); every stage with an
// ENTRYPOINT is a bookworm-slim runtime stage with no build tools, a numeric non-root USER and an
// exec-form ENTRYPOINT (no shell needed); no HEALTHCHECK (Kubernetes probes do that).
//   node dockerfile-rules.mjs FILE [--targets a,b,c]   (--targets: stages that must exist)
import { readFileSync } from "node:fs";

const [file, flag, targetList] = process.argv.slice(2);
const required = flag === "--targets" ? targetList.split(",") : [];
const allowedBases = new Set(["debian:bookworm", "debian:bookworm-slim"]);
const buildTools = /(^|\s)(g\+\+|gcc|clang|make|cmake|ninja-build|build-essential|pkg-config|[a-z0-9.+-]+-dev)(\s|$)/;

// Instructions with continuation lines joined and comments dropped: [{line, op, args}].
const instructions = [];
let pending = null;
readFileSync(file, "utf8").split("\n").forEach((raw, i) => {
  const text = raw.trim();
  if (!pending && (text === "" || text.startsWith("#"))) return;
  const body = text.endsWith("\\") ? text.slice(0, -1) : text;
  if (pending) pending.args += ` ${body}`;
  else {
    const m = body.match(/^(\S+)\s*(.*)$/);
    pending = { line: i + 1, op: m[1].toUpperCase(), args: m[2] };
  }
  if (!text.endsWith("\\")) {
    instructions.push(pending);
    pending = null;
  }
});

const errors = [];
const stages = [];
for (const ins of instructions) {
  if (ins.op === "FROM") {
    const [image, as, name] = ins.args.split(/\s+/);
    const known = stages.find((s) => s.name === image);
    if (!known && !allowedBases.has(image)) errors.push(`line ${ins.line}: FROM ${image}: bases must be debian:bookworm or debian:bookworm-slim`);
    stages.push({ line: ins.line, base: known ? known.base : image, name: as?.toUpperCase() === "AS" ? name : null, body: [] });
  } else if (ins.op === "HEALTHCHECK") {
    errors.push(`line ${ins.line}: HEALTHCHECK: leave health to the Kubernetes probes`);
  } else if (stages.length) {
    stages[stages.length - 1].body.push(ins);
  }
}
for (const stage of stages) {
  const entry = stage.body.filter((i) => i.op === "ENTRYPOINT").pop();
  if (!entry) continue;
  const where = `stage ${stage.name ?? `at line ${stage.line}`}`;
  if (stage.base !== "debian:bookworm-slim") errors.push(`${where}: a runtime stage must be FROM debian:bookworm-slim`);
  let exec = null;
  try {
    exec = JSON.parse(entry.args);
  } catch {
    /* shell form */
  }
  if (!Array.isArray(exec)) errors.push(`${where}: ENTRYPOINT must be in exec form (["/path"]), no shell at run time`);
  const cmd = stage.body.filter((i) => i.op === "CMD").pop();
  if (cmd && !cmd.args.startsWith("[")) errors.push(`${where}: CMD must be in exec form`);
  const user = stage.body.filter((i) => i.op === "USER").pop();
  if (!user || !/^[1-9][0-9]*(:[0-9]+)?$/.test(user.args.trim())) errors.push(`${where}: USER must be a numeric non-root user (got ${user ? user.args : "none"})`);
  for (const run of stage.body.filter((i) => i.op === "RUN")) {
    const m = run.args.match(buildTools);
    if (m) errors.push(`${where}: line ${run.line} installs build tool or headers "${m[2]}"; runtime libraries only`);
  }
}
for (const t of required) {
  if (!stages.some((s) => s.name === t)) errors.push(`no stage (target) named ${t}`);
}
for (const e of errors) console.error(`${file}: ${e}`);
process.exit(errors.length ? 1 : 0);
