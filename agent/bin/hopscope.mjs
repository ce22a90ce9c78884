#!/usr/bin/env node
// The CLI runs the TypeScript sources with no build step: from a bundle built on first use and
// cached until a source changes (bundle.mjs says why: the agent starts ~130 MB smaller than
// under tsx), else through tsx. HOPSCOPE_NO_BUNDLE=1 runs through tsx (stack traces then name
// the .ts sources). heap.mjs first: V8 heap settings for a long-running agent.
import './heap.mjs';

let main;
if (process.env.HOPSCOPE_NO_BUNDLE !== '1') {
  try {
    const { bundle } = await import('./bundle.mjs');
    const { fileURLToPath, pathToFileURL } = await import('node:url');
    ({ main } = await import(pathToFileURL(await bundle(fileURLToPath(import.meta.resolve('../src/cli/main.ts')))).href));
  } catch (e) {
    console.error(`hopscope: running through tsx (no bundle: ${e instanceof Error ? e.message : String(e)})`);
  }
}
if (!main) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
