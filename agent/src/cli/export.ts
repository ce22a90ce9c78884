// `hopscope export --pcapng`: journeys (the JSON lines of `trace --json`, or a recording made with
// --write) → a pcapng file that Wireshark, tshark and tcpdump open. Headers only, see
// export/pcapng.ts.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from './command.ts';
import type { Journey } from '../protocol/events.ts';
import { journeysToPcapng } from '../export/pcapng.ts';
import { parseJourneyLines } from '../export/journey-lines.ts';
import { isGzip, readRecordingBytes } from '../wiring/recording-file.ts';
import { many, parseFlags, short, toggle, UsageError, value } from '../config/flags.ts';

const USAGE = `usage: hopscope export --pcapng [options] [INPUT]

INPUT is a recording (hopscope trace --write) or the JSON lines of "hopscope trace --json";
"-" or none reads standard input.

  --pcapng               write pcapng (the one format so far)
  -o, --out <file>       where to write (mode 0600: it names pods and addresses); default
                         standard output, unless that is a terminal
  --journey <id>         only this journey (repeatable)
  -h, --help

One interface per device a hop was seen on ("node-1/cni0", "client/eth0"), one packet per hop at
its kernel timestamp with the headers seen there (outer VXLAN / IP-in-IP around the inner packet,
addresses before or after NAT), a comment naming the hop. Headers only: hopscope keeps no payload
and no MAC addresses; original lengths are kept. JSON lines carry no wall clock: their packets are
stamped with time since the traced machine booted; a recording's are wall-clock times.`;

const FLAGS = {
  pcapng: toggle(),
  out: short('o', value()),
  journey: many(value()),
  help: short('h', toggle()),
};

/** Journeys and clock of an input file, with what could not be read. */
interface Input {
  journeys: Journey[];
  wallOffsetNs?: bigint;
  warnings: string[];
}

async function readInput(path: string): Promise<Input> {
  const bytes = path === '-' ? readFileSync(0) : readFileSync(path);
  if (isGzip(bytes)) {
    const r = await readRecordingBytes(bytes);
    return { journeys: r.journeys, ...(r.header ? { wallOffsetNs: BigInt(r.header.wallOffsetNs) } : {}), warnings: r.problems };
  }
  const { journeys, bad } = parseJourneyLines(bytes.toString('utf8'));
  const warnings = bad.slice(0, 5).map((b) => `line ${b.line}: ${b.why}`);
  if (bad.length > 5) warnings.push(`and ${bad.length - 5} more lines that are not journeys`);
  return { journeys, warnings };
}

export const command: Command = {
  summary: 'write journeys (a recording or trace --json lines) as pcapng for Wireshark/tshark',
  async run(argv: string[]): Promise<number> {
    const { values: v, positionals } = parseFlags(argv, FLAGS, { positionals: 1 });
    if (v.help) {
      console.log(USAGE);
      return 0;
    }
    if (!v.pcapng) throw new UsageError('say the format: --pcapng');
    if (!v.out && process.stdout.isTTY) throw new UsageError('pcapng is binary: give --out FILE or redirect standard output');
    const input = await readInput(positionals[0] ?? '-');
    for (const w of input.warnings) console.error(`hopscope export: skipped ${w}`);
    let journeys = input.journeys;
    if (v.journey?.length) {
      const want = new Set(v.journey);
      journeys = journeys.filter((j) => want.has(j.id));
      const missing = [...want].filter((id) => !journeys.some((j) => j.id === id));
      if (missing.length) throw new Error(`no journey ${missing.map((m) => JSON.stringify(m.slice(0, 40))).join(', ')} in the input`);
    }
    if (journeys.length === 0) throw new Error('no journeys to export in the input');
    const { bytes, summary } = journeysToPcapng(journeys, input.wallOffsetNs !== undefined ? { wallOffsetNs: input.wallOffsetNs } : {});
    if (v.out) {
      writeFileSync(v.out, bytes, { mode: 0o600 });
      chmodSync(v.out, 0o600);
    } else {
      await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (e) => (e ? reject(e) : resolve())));
    }
    console.error(`hopscope export: ${summary.journeys} journeys, ${summary.packets} packets on ${summary.interfaces} interfaces${v.out ? ` → ${v.out}` : ''}`);
    return 0;
  },
};
