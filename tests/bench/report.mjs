// Collects the BENCH lines of target/bench/*.txt into target/bench/report.json:
// {"<name>": {"value": v, "unit": u}}.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'target', 'bench');
const report = {};
for (const f of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
    const m = line.match(/^BENCH (\S+) (\S+) (\S+)/);
    if (m) report[m[1]] = { value: Number(m[2]), unit: m[3] };
  }
}
writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
console.log(`wrote ${join(dir, 'report.json')} with ${Object.keys(report).length} figures`);
