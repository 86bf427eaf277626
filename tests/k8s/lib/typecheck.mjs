// The unknown-field check kubernetes-models' validate() leaves out: every object is written as a typed
// object literal (its model's TypeScript interface) and `tsc --noEmit --strict` reports excess
// properties (TS2353), misspelt names and wrong literal types, mapped back to the object they are in.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { modelOf } from "./schemas.mjs";

// items: [{label, obj}] (objects without a TypeScript model are skipped: custom resources).
// Returns Map(label index -> [error strings]).
export function typecheck(items, { tscPath, workRoot }) {
  const dir = mkdtempSync(join(workRoot, "tsc-"));
  const lines = [];
  const owners = []; // line number (1-based) -> item index
  const imports = new Map();
  items.forEach((item, index) => {
    const model = modelOf(item.obj);
    if (!model) {
      return;
    }
    const alias = `T${imports.size}`;
    const key = `${model.path} ${model.typeName}`;
    if (!imports.has(key)) {
      imports.set(key, { alias, ...model });
    }
    const { alias: typeAlias } = imports.get(key);
    const literal = JSON.stringify(item.obj, null, 1).split("\n");
    literal[0] = `export const o${index}: ${typeAlias} = ${literal[0]}`;
    literal[literal.length - 1] += ";";
    for (const l of literal) {
      lines.push(l);
      owners.push(index);
    }
  });
  const header = [...imports.values()].map((m) => `import type { ${m.typeName} as ${m.alias} } from "${m.path}";`);
  const source = [...header, ...lines].join("\n") + "\n";
  const file = join(dir, "objects.ts");
  writeFileSync(file, source);
  const errors = new Map();
  try {
    execFileSync(
      process.execPath,
      [tscPath, "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022", "--module", "esnext",
        "--moduleResolution", "bundler", file],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
  } catch (e) {
    const output = `${e.stdout ?? ""}${e.stderr ?? ""}`;
    const unplaced = [];
    // objects.ts(LINE,COL): error TS2353: Object literal may only specify known properties ...
    for (const m of output.matchAll(/^\S*objects\.ts\((\d+),\d+\): error (TS\d+: .*)$|^.*error.*$/gm)) {
      const index = m[1] === undefined ? undefined : owners[Number(m[1]) - header.length - 1];
      if (index === undefined) {
        unplaced.push(m[0]);
        continue;
      }
      const list = errors.get(index) ?? [];
      list.push(m[2].length > 300 ? `${m[2].slice(0, 300)}...` : m[2]);
      errors.set(index, list);
    }
    // An error outside every object (an import, tsc itself) is a fault of this check, not of an object.
    if (unplaced.length || errors.size === 0) {
      throw new Error(`tsc failed outside the objects:\n${(unplaced.join("\n") || output).slice(0, 2000)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return errors;
}
