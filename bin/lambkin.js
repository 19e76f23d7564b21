#!/usr/bin/env node
// Thin launcher so `npx lambkin` works: the CLI itself is compiled TypeScript under dist/.
import '../dist/src/cli/main.js';
