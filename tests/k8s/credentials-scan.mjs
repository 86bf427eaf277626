// Scans files for credentials written in clear (lib/credentials.mjs). Kubernetes Secrets inside YAML
// files are skipped (that is where credentials belong), and so is whatever the allowlist names; with
// --secret-values (the git tree: a committed Secret is a committed password) a Secret's literal data or
// stringData value is itself a finding (template expressions such as `{{ ... }}` are not).
//   node credentials-scan.mjs --allowlist FILE [--secret-values] [--expect-findings] FILE...
// Exit 1 when something is found (or, with --expect-findings, when some file has no finding: used on
// the planted fixtures to prove the scan can fail).
import { readFileSync } from "node:fs";
import { findCredentials } from "./lib/credentials.mjs";

const args = process.argv.slice(2);
let allowlistFile = null;
let expectFindings = false;
let secretValues = false;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--allowlist") allowlistFile = args[++i];
  else if (args[i] === "--expect-findings") expectFindings = true;
  else if (args[i] === "--secret-values") secretValues = true;
  else files.push(args[i]);
}

// Allowlist lines: "PATH<TAB or spaces>TEXT  # why"; a finding is allowed when its file is PATH and
// its line contains TEXT. Blank lines and "#" comments are ignored.
const allowed = [];
if (allowlistFile) {
  for (const raw of readFileSync(allowlistFile, "utf8").split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (!line || line.startsWith("#")) continue;
    const [path, ...rest] = line.split(/\s+/);
    allowed.push({ path, text: rest.join(" "), used: false });
  }
}

// Text outside Kubernetes Secret documents (YAML) or the whole text.
function scannable(file, text) {
  if (!/\.ya?ml$/.test(file)) return text;
  return text
    .split(/^---\s*$/m)
    .map((doc) => (/^kind:\s*Secret\s*$/m.test(doc) ? doc.replace(/[^\n]/g, "") : doc))
    .join("\n");
}

// [{line, kind, text}] for each literal value under data: or stringData: of a Secret document.
function secretValueFindings(file, text) {
  if (!/\.ya?ml$/.test(file)) return [];
  const found = [];
  let inSecret = false;
  let mapIndent = -1;  // indentation of the data:/stringData: key while inside its map
  const lines = text.split("\n");
  const docStart = (i) => {
    for (let j = i; j < lines.length && !/^---\s*$/.test(lines[j]); j++) {
      if (/^kind:\s*Secret\s*$/.test(lines[j])) return true;
    }
    return false;
  };
  inSecret = docStart(0);
  lines.forEach((line, i) => {
    if (/^---\s*$/.test(line)) {
      inSecret = docStart(i + 1);
      mapIndent = -1;
      return;
    }
    if (!inSecret || /^\s*(#.*)?$/.test(line)) return;
    const indent = line.length - line.trimStart().length;
    if (mapIndent >= 0 && indent <= mapIndent) mapIndent = -1;
    const m = line.match(/^(\s*)(data|stringData):\s*(\S.*)?$/);
    if (m) {
      if (m[3] === undefined) mapIndent = m[1].length;
      else if (!/^(\{\}|\{\{)/.test(m[3])) found.push({ line: i + 1, kind: "a Secret's value committed", text: line.trim() });
      return;
    }
    const entry = mapIndent >= 0 && line.match(/^\s+[A-Za-z0-9_.-]+:\s*(\S.*)?$/);
    if (entry && entry[1] !== undefined && !/^(\{\{|""$|''$|\|-?$)/.test(entry[1])) {
      found.push({ line: i + 1, kind: "a Secret's value committed", text: line.trim().slice(0, 160) });
    }
  });
  return found;
}

let problems = 0;
for (const file of files) {
  let text;
  try {
    const bytes = readFileSync(file);
    if (bytes.includes(0)) continue;  // binary
    text = bytes.toString("utf8");
  } catch {
    continue;  // deleted in the work tree
  }
  const all = findCredentials(scannable(file, text));
  if (secretValues) all.push(...secretValueFindings(file, text));
  let findings = all.filter((f) => {
    const rule = allowed.find((a) => a.path === file && f.text.includes(a.text));
    if (rule) rule.used = true;
    return !rule;
  });
  if (expectFindings) {
    if (findings.length === 0) {
      console.error(`planted fixture ${file}: the scan found nothing`);
      problems++;
    } else {
      console.log(`ok   planted fixture ${file}: found ${findings[0].kind}`);
    }
    continue;
  }
  for (const f of findings) {
    console.error(`${file}:${f.line}: ${f.kind}: ${f.text}`);
    problems++;
  }
}
for (const a of allowed.filter((x) => !x.used && !expectFindings)) {
  console.error(`allowlist entry matches nothing (remove it): ${a.path} ${a.text}`);
  problems++;
}
if (!expectFindings) console.log(`scanned ${files.length} files: ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
