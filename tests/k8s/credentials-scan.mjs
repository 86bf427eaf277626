// Scans files for credentials written in clear (lib/credentials.mjs). Kubernetes Secrets inside YAML
// files are skipped (that is where credentials belong), and so is whatever the allowlist names.
//   node credentials-scan.mjs --allowlist FILE [--expect-findings] FILE...
// Exit 1 when something is found (or, with --expect-findings, when some file has no finding: used on
// the planted fixtures to prove the scan can fail).
import { readFileSync } from "node:fs";
import { findCredentials } from "./lib/credentials.mjs";

const args = process.argv.slice(2);
let allowlistFile = null;
let expectFindings = false;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--allowlist") allowlistFile = args[++i];
  else if (args[i] === "--expect-findings") expectFindings = true;
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
  let findings = findCredentials(scannable(file, text)).filter((f) => {
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
