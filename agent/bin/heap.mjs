// V8 heap settings for the agent, made at run time because `node agent/bin/hopscope.mjs` (npm
// start, the image's entrypoint) leaves no place for Node flags: imported by the launcher before
// any of the agent's code. Under a ping -f flood traced with --every-packet (bench/e2e.ts, the
// agent process alone) its live heap is 25-40 MB, yet with V8's defaults it reached 185-225 MB
// resident: the young generation grows to 32 MB, and journeys promoted while they wait
// 50-150 ms in the correlator and the hub die in an old space V8 lets grow to 2-4x before
// collecting. Both settings below are read by V8 at each collection, so they work set here:
// - the old space grows by 15% over what survived a full collection;
// - the young generation stops growing once it has reached 8 MB. Its limit is fixed at start,
//   so instead its growth step is set to 1 (no growth) whenever it is that big, and back to 2
//   when V8 has shrunk it (it does when allocation slows), checked after every collection; the
//   check lands after the collection, so it may take one more step (16 MB measured).
// Measured (bench/e2e.ts --seconds 20 --runs 2, same hour): 126-127 MB resident and 46-55k hop
// events/s delivered, against 191-223 MB and 62-63k without. --optimize-for-size kept it at
// 104 MB but delivered a third less (its compiler settings); --max-old-space-size is a hard
// limit (a full hub backlog would crash the agent).
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

const YOUNG_MAX_BYTES = 8 << 20;

setFlagsFromString('--heap-growing-percent=15');
let growth = 2;
const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
const steer = () => {
  const want = young() >= YOUNG_MAX_BYTES ? 1 : 2;
  if (want === growth) return;
  growth = want;
  setFlagsFromString(`--semi-space-growth-factor=${want}`);
};
steer();
new PerformanceObserver(steer).observe({ entryTypes: ['gc'] });
