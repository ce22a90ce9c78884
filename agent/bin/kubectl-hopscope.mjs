#!/usr/bin/env node
// kubectl runs `kubectl-hopscope` from the PATH for `kubectl hopscope ...`.
import { register } from 'tsx/esm/api';
register();
const { pluginMain } = await import('../src/cli/kubectl-plugin.ts');
process.exitCode = await pluginMain(process.argv.slice(2));
