#!/usr/bin/env node
// The image's CLI: the bundle built into the image at /app/dist (agent/bin/bundle.mjs made it
// from the sources during the build), so the image carries neither the TypeScript sources nor
// node_modules (~130 MB), and never compiles at start. hopscope.mjs is the launcher of a checkout.
import './heap.mjs';

const { main } = await import('../../dist/main.mjs');
process.exitCode = await main(process.argv.slice(2));
