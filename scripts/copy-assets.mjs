// Copies the files tsc does not emit (the Python runtime client, profile data) next to the compiled code.
import { cpSync, existsSync } from 'node:fs';
const assets = [['src/runtimes/python', 'dist/src/runtimes/python'], ['src/profiles/data', 'dist/src/profiles/data'], ['src/simulator/data', 'dist/src/simulator/data']];
for (const [from, to] of assets) {
  if (existsSync(from)) cpSync(from, to, { recursive: true, filter: (p) => !p.endsWith('.ts') && !p.includes('__pycache__') });
}
