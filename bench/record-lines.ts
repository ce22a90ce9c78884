// Records real tracer output under load for the decoder benchmark: bpftrace (the real program,
// --every-packet, ICMP from the client pod) while the client pod pings the web pod on node-2
// with `ping -f` (bounded). Writes bench/fixtures/flood-lines.txt.
// Run as root, once: `npx tsx bench/record-lines.ts`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTracer } from '../agent/src/tracer/runner.ts';
import { DEFAULT_KERNEL_FILTER } from '../agent/src/tracer/kernel-filter.ts';
import { sleep, withLab } from './lib.ts';

const MAX_LINES = 4000;
const OUT = fileURLToPath(new URL('./fixtures/flood-lines.txt', import.meta.url));

await withLab('rec', async (lab) => {
  const st = lab.state();
  const client = st.model.pods.find((p) => p.name === 'client')!;
  const target = st.model.pods.find((p) => p.deployment?.name === 'web' && p.node === 'node-2')!;
  const ip = client.ip.split('.').map(Number);
  const lines: string[] = [];
  const tracer = await startTracer({
    filter: { ...DEFAULT_KERNEL_FILTER, everyPacket: true, proto: 'icmp', netns: st.netns.map((n) => n.inode), from: { cidrs: [{ family: 4, bytes: ip, prefix: 32 }], ports: [] } },
    onEvent: () => {},
    // Padding lines are not data; the banner and attach lines are kept as bpftrace printed them.
    onLine: (l) => {
      if (lines.length < MAX_LINES && l.length > 0 && !l.startsWith('P ')) lines.push(l);
    },
  });
  try {
    await lab.exec('default/client', ['ping', '-f', '-q', '-c', '2000', '-w', '10', target.ip], { timeoutMs: 20_000 });
    await sleep(1500);
  } finally {
    await tracer.stop();
  }
  writeFileSync(OUT, lines.join('\n') + '\n');
  console.log(`${lines.length} lines -> ${OUT}`);
});
process.exit(0);
