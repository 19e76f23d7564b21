// Runs every compiled benchmark in dist/bench/ one after another (each prints its own table).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
const dir = new URL('../dist/bench/', import.meta.url);
for (const f of readdirSync(dir).filter((n) => n.endsWith('.js')).sort()) {
  console.log(`\n== ${f}`);
  const r = spawnSync(process.execPath, [new URL(f, dir).pathname], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
