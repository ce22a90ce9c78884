// Records real tracer output under load for the decoder benchmark: bpftrace (the real program,
// --every-packet, ICMP from the client pod) while the client pod pings the web pod on node-2
// with `ping -f` (bounded). Writes bench/fixtures/flood-lines.txt.
// Run as root, once: `npx tsx bench/record-lines.ts`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { recordFloodLines, withLab } from './lib.ts';

const MAX_LINES = 4000;
const OUT = fileURLToPath(new URL('./fixtures/flood-lines.txt', import.meta.url));

await withLab('rec', async (lab) => {
  const lines = await recordFloodLines(lab, { pings: 2000, seconds: 10, maxLines: MAX_LINES });
  writeFileSync(OUT, lines.join('\n') + '\n');
  console.log(`${lines.length} lines -> ${OUT}`);
});
process.exit(0);
