// Prints the gzipped size of every JavaScript file in dist/ and their total, and fails the build
// above the budget (benchmarks.md target 14: at most 250 KiB of gzipped JavaScript).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 250 * 1024;
const dist = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../dist');
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.js')) files.push(p);
  }
})(dist);
let total = 0;
for (const f of files.sort()) {
  const gz = gzipSync(readFileSync(f), { level: 9 }).length;
  total += gz;
  console.log(`${path.relative(dist, f)}: ${(gz / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`JavaScript: ${(total / 1024).toFixed(1)} KiB gzipped in ${files.length} file(s) (budget ${BUDGET / 1024} KiB)`);
if (total > BUDGET) {
  console.error('over the budget');
  process.exit(1);
}
