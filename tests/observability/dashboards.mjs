// Checks the Grafana dashboards of charts/movie-platform/dashboards/ (no npm packages needed).
//   node dashboards.mjs lint FILE...
//       schemaVersion >= 36, a `datasource` variable of type datasource (prometheus), every panel's and
//       target's datasource is "${datasource}" (no hard-coded uid), every non-row panel has a title, a
//       unit (fieldConfig.defaults.unit) and at least one query.
//   node dashboards.mjs query PROMETHEUS_URL ALLOWLIST FILE...
//       evaluates every query of every panel as an instant query: it must parse and return at least one
//       series. Panels named in ALLOWLIST ("dashboard title | panel title | reason" lines) need a cluster:
//       their queries must still parse, and every allowlist line must name a real panel.
// Each check prints one line; the last line is "N passed, N failed"; the exit status is 1 on a failure.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
function check(ok, what, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`ok     ${what}`);
  } else {
    failed += 1;
    console.log(`FAILED ${what}${detail ? `: ${detail}` : ''}`);
  }
}

function load(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

// Panels at the top level and inside collapsed rows.
function panelsOf(dashboard) {
  const out = [];
  for (const panel of dashboard.panels ?? []) {
    out.push(panel);
    for (const inner of panel.panels ?? []) out.push(inner);
  }
  return out;
}

const isRow = (panel) => panel.type === 'row';
const usesVariable = (datasource) =>
  datasource !== null && typeof datasource === 'object' && datasource.uid === '${datasource}';

function lint(files) {
  for (const file of files) {
    const d = load(file);
    const name = d.title ?? file;
    check(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36, `${name}: schemaVersion ${d.schemaVersion} >= 36`);
    check(typeof d.title === 'string' && d.title.length > 0, `${name}: has a title`);
    const variables = d.templating?.list ?? [];
    const datasourceVariable = variables.find((v) => v.name === 'datasource');
    check(datasourceVariable?.type === 'datasource' && datasourceVariable?.query === 'prometheus',
      `${name}: has a "datasource" variable of type datasource (prometheus)`);
    const panels = panelsOf(d);
    check(panels.some((p) => !isRow(p)), `${name}: has panels`);
    const ids = panels.map((p) => p.id);
    check(new Set(ids).size === ids.length, `${name}: panel ids are unique`);
    for (const panel of panels) {
      const where = `${name} / ${panel.title || `panel ${panel.id}`}`;
      if (isRow(panel)) {
        // Rows hold no queries and show no values: a title is all they need.
        check(typeof panel.title === 'string' && panel.title.length > 0, `${where}: row has a title`);
        continue;
      }
      const targets = panel.targets ?? [];
      const problems = [];
      if (!(typeof panel.title === 'string' && panel.title.length > 0)) problems.push('no title');
      const unit = panel.fieldConfig?.defaults?.unit;
      if (!(typeof unit === 'string' && unit.length > 0)) problems.push('no unit');
      if (!usesVariable(panel.datasource)) problems.push(`panel datasource ${JSON.stringify(panel.datasource)}`);
      if (targets.length === 0) problems.push('no query');
      for (const t of targets) {
        if (!usesVariable(t.datasource)) problems.push(`target ${t.refId} datasource ${JSON.stringify(t.datasource)}`);
        if (!(typeof t.expr === 'string' && t.expr.trim().length > 0)) problems.push(`target ${t.refId} has no expr`);
      }
      check(problems.length === 0, `${where}: title, unit ${unit}, \${datasource}, ${targets.length} queries`,
        problems.join('; '));
    }
  }
}

// Grafana's built-in interval variables, given values a Prometheus scraping every 5 s can answer.
function instantExpr(expr) {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('${__rate_interval}', '1m')
    .replaceAll('$__interval', '30s')
    .replaceAll('$__range', '5m');
}

async function instantQuery(prometheus, expr) {
  const url = `${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`;
  try {
    const response = await fetch(url);
    const body = await response.json();
    if (body.status !== 'success') return { error: `${body.errorType}: ${body.error}` };
    const result = body.data.result;
    return { series: body.data.resultType === 'scalar' ? 1 : result.length };
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
}

function readAllowlist(file) {
  const entries = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [dashboard, panel, reason] = line.split('|').map((s) => s.trim());
    entries.push({ dashboard, panel, reason, used: false });
  }
  return entries;
}

async function query(prometheus, allowlistFile, files) {
  const allowlist = readAllowlist(allowlistFile);
  for (const file of files) {
    const d = load(file);
    for (const panel of panelsOf(d).filter((p) => !isRow(p))) {
      const exempt = allowlist.find((e) => e.dashboard === d.title && e.panel === panel.title);
      if (exempt) exempt.used = true;
      for (const t of panel.targets ?? []) {
        const expr = instantExpr(t.expr);
        const r = await instantQuery(prometheus, expr);
        const where = `${d.title} / ${panel.title} [${t.refId}]`;
        if (r.error !== undefined) {
          check(false, `${where} parses`, `${r.error} in ${expr}`);
        } else if (exempt) {
          check(true, `${where} parses; ${r.series} series (allowlisted: ${exempt.reason})`);
        } else {
          check(r.series > 0, `${where} returns ${r.series} series`, r.series === 0 ? `no series for ${expr}` : '');
        }
      }
    }
  }
  for (const e of allowlist) {
    check(e.used, `allowlist entry "${e.dashboard} | ${e.panel}" names a panel`);
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'lint' && args.length > 0) {
  lint(args);
} else if (mode === 'query' && args.length > 2) {
  await query(args[0], args[1], args.slice(2));
} else {
  console.error('usage: dashboards.mjs lint FILE... | query PROMETHEUS_URL ALLOWLIST FILE...');
  process.exit(2);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
