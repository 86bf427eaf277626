// What a credential written in clear looks like, line by line: a private key, a URL with a password, a
// quoted or .env-style value assigned to a password/secret/token name, or a well-known token format.
// Placeholders (`pass`, `***`, `$(VAR)`, `${VAR}`, `<password>`, `{{ ... }}`, RabbitMQ's well-known
// `guest`, values under 4 characters such as `u:p`) are not credentials.
// Used on the git tree (credentials-scan.mjs) and on rendered objects (policies.mjs).

const placeholder =
  /^(\$|\{\{|<|%s|\*+$|x+$|\.\.\.|pass$|password$|secret$|token$|changeme$|change-me$|guest$|example|placeholder|your[-_]|.{1,3}$)/i;

const patterns = [
  { kind: "private key", re: /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/g, value: () => null },
  { kind: "password in a URL", re: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"`]+:([^\s@/'"`]+)@/gi, value: (m) => m[1] },
  {
    kind: "quoted credential assignment",
    re: /\b[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)[A-Za-z0-9_]*["']?\s*[:=]\s*(["'])([^"'\n]{4,})\1/gi,
    value: (m) => m[2],
  },
  {
    kind: "credential in an environment assignment",
    re: /^\s*(?:export\s+|-\s+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY)[A-Z0-9_]*=([^\s"'#;)]{4,})/g,
    value: (m) => m[1],
  },
  { kind: "AWS access key", re: /\bAKIA[0-9A-Z]{16}\b/g, value: () => null },
  { kind: "GitHub token", re: /\bgh[pousr]_[A-Za-z0-9]{36,}\b/g, value: () => null },
  { kind: "Slack token", re: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, value: () => null },
  { kind: "JSON Web Token", re: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\./g, value: () => null },
  { kind: "bearer token", re: /\bBearer\s+([A-Za-z0-9._~+/-]{16,}=*)/g, value: (m) => m[1] },
];

// [{line, kind, text}] for every credential-looking thing in text.
export function findCredentials(text) {
  const found = [];
  text.split("\n").forEach((line, i) => {
    for (const { kind, re, value } of patterns) {
      for (const m of line.matchAll(re)) {
        const v = value(m);
        if (v !== null && placeholder.test(v)) continue;
        found.push({ line: i + 1, kind, text: line.trim().slice(0, 160) });
      }
    }
  });
  return found;
}
