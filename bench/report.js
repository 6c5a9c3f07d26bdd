// Turns the JSON lines bench/run.sh collected into bench/RESULTS.md.
// Usage: node report.js <lines-file> <RESULTS.md> <runs>
'use strict';
const fs = require('fs');
const os = require('os');
const { execSync } = require('child_process');

const [linesFile, outFile, runs] = process.argv.slice(2);
const rows = fs.readFileSync(linesFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
// max_min is printed as 1e9 by the benchmarks when a worker got no connection at all: shown as ∞.
const fmt = (x) => (x >= 1e9 ? '∞' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2));
// "median (min–max)" of one impl's values, or "—" when that impl has no such figure (reuseport).
const cell = (xs) => (xs.length ? `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : '—');

// Numeric fields that describe the scenario rather than measure it.
const notMetrics = new Set(['workers', 'sources', 'work_us']);
// figure -> metric -> impl -> values
const figures = new Map();
const commands = new Map();
for (const { figure, cmd, result } of rows) {
  const { impl } = result;
  commands.set(`${figure}/${impl}`, cmd);
  for (const [k, v] of Object.entries(result)) {
    if (typeof v !== 'number' || v === null || notMetrics.has(k)) continue;
    const key = `${figure} ${k}`;
    if (!figures.has(key)) figures.set(key, {});
    (figures.get(key)[impl] ||= []).push(v);
  }
}

// Lower is better for times, memory, CPU (primary_cpu_us_per_conn) and max_min; higher for rates
// (req_per_s, conns_per_s, msgs_per_s).
// The kill storm counts failed requests by outcome (lower is better) beside the ok ones.
const lowerIsBetter = (metric) =>
  /_us$|_ms$|rss|cpu|fds|max_min/.test(metric) || /^(refused|reset|closed|timeout|other|failed\w*|unexplained|hung)$/.test(metric);
const neutral = (metric) => /^(min|max)_(conns|flows)$|^kills$|^stopped$/.test(metric);
let md = `# Benchmark results\n\n`;
md += `Written by \`make bench\` (bench/run.sh, then bench/report.js) on ${new Date().toISOString().slice(0, 10)}.\n`;
md += `Each figure ran ${runs} times (the wrk and fairness figures at most 3 times unless HEAVY_RUNS says otherwise), `;
md += `cppcluster and Node.js alternately in the same run; n is the number of runs behind each median.\n\n`;
md += `Machine: ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, `;
md += `kernel ${os.release()}, node ${process.version}.\n\n`;
md += `| figure | metric | n | cppcluster median (min–max) | Node.js median (min–max) | cppcluster/Node |\n|---|---|---|---|---|---|\n`;
for (const [key, byImpl] of figures) {
  const [figure, metric] = key.split(' ');
  const c = byImpl.cppcluster || [], n = byImpl.node || [];
  // A figure without a Node twin (sched_reuseport) gets "—" for Node and the ratio; a zero
  // denominator (primary CPU under none) gives no ratio either.
  const ratio = c.length && n.length && median(n) !== 0 ? (median(c) / median(n)).toFixed(2) : '—';
  const better = neutral(metric) ? '' : lowerIsBetter(metric) ? '(lower is better)' : '(higher is better)';
  const runsBehind = c.length && n.length ? Math.min(c.length, n.length) : Math.max(c.length, n.length);
  md += `| ${figure} | ${metric} ${better} | ${runsBehind} | ${cell(c)} | ${cell(n)} | ${ratio} |\n`;
}
md += `\n## Commands\n\n`;
for (const [k, cmd] of commands) md += `- ${k}: \`${cmd.replace(/\/[^ ]*\/(build-release|bench)\//g, '$1/')}\`\n`;
fs.writeFileSync(outFile, md);
