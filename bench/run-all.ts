// `npm run bench`: every benchmark in turn, each in its own lab, each bounded by its limitS
// below (--quick / HOPSCOPE_BENCH_QUICK=1: fewer, shorter runs). Figures go to stdout and to
// bench/results/<name>.json. ws-bench (the UI engineer's) runs last, as a child.
// Run as root: `npm run bench` or `npm run bench -- --quick`.
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { QUICK } from './lib.ts';

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const quick = QUICK ? ['--quick'] : [];
const steps: { name: string; args: string[]; limitS: number }[] = [
  { name: 'decoder', args: [here('./decoder-bench.ts'), ...quick], limitS: 120 },
  { name: 'overhead', args: [here('./overhead.ts'), ...quick], limitS: 300 },
  { name: 'e2e', args: [here('./e2e.ts'), ...quick], limitS: 420 },
  { name: 'bpftrace-output', args: [here('./bpftrace-output.ts'), ...quick], limitS: 180 },
  { name: 'ui-fps', args: [here('./ui-fps.ts'), ...quick], limitS: 120 },
  // How cost grows (README "How cost grows"): the identity index and the correlator over the
  // cluster's and the traffic's size (in process, no lab), the hub over 2/10/30 agents, lab up
  // over nodes and pods, the UI over pods.
  { name: 'identity-scale', args: [here('./identity-scale.ts'), ...quick], limitS: 300 },
  { name: 'correlator-scale', args: [here('./correlator-scale.ts'), ...quick], limitS: 120 },
  { name: 'hub-scale', args: [here('./hub-scale.ts'), ...quick], limitS: 300 },
  { name: 'lab-scale', args: [here('./lab-scale.ts'), ...quick], limitS: 300 },
  { name: 'ui-scale', args: [here('./ui-scale.ts'), ...quick], limitS: 420 },
  { name: 'ws', args: [here('./ws-bench.ts'), '--seconds', QUICK ? '3' : '5'], limitS: 180 },
];

let failed = 0;
for (const s of steps) {
  console.log(`\n### ${s.name}`);
  // Each in its own process: a crash or hang in one cannot take the others' labs with it
  // (each cleans its own lab on exit and on SIGTERM).
  const r = await execa('npx', ['tsx', ...s.args], { stdio: 'inherit', reject: false, timeout: s.limitS * 1000, killSignal: 'SIGTERM', forceKillAfterDelay: 10_000 });
  if (r.exitCode !== 0) {
    failed++;
    console.log(`${s.name}: failed (${r.timedOut ? `over ${s.limitS} s` : `exit ${r.exitCode ?? r.signal}`})`);
  }
}
console.log(`\nbench: ${steps.length - failed}/${steps.length} ran; results in bench/results/`);
process.exit(failed === 0 ? 0 : 1);
