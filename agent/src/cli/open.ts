// `hopscope open FILE`: serve the UI over a recording (hopscope trace/start/serve --write). No
// root, no bpftrace, no lab: the journeys play back at their recorded pace, or all at once.
import type { Command } from './command.ts';
import { SERVER_FLAGS, SERVER_FLAGS_HELP, openUrl, parseServerArgs, serverWarnings } from '../server/config.ts';
import { startServer } from '../server/http.ts';
import { recordingSource } from '../server/recording-source.ts';
import { loadRecordingFile } from '../wiring/recording-file.ts';
import { UI_DIST } from './start.ts';
import { stopOnSignal } from './until-signal.ts';
import { clip, parseFlags, toggle, UsageError, value } from '../config/flags.ts';

const USAGE = `usage: hopscope open [options] FILE

Serves the UI over a recording: the journeys play back as they were recorded, with the topology
and names they were traced with. Needs no root, no bpftrace and no lab. A damaged recording plays
up to the damage (what was skipped is said); playback starts when the first browser connects.

  --speed <x>              1 plays at the recorded pace (default), 10 ten times faster
  --jump                   every journey at once (no waiting)
  --start <s>              start s seconds into the recording (what came before arrives at once)
${SERVER_FLAGS_HELP}
  -h, --help`;

const seconds = (what: string, max: number) =>
  value((t) => {
    if (!/^\d{1,7}(\.\d{1,3})?$/.test(t) || Number(t) > max) throw new Error(`expected ${what}, at most ${max}, got "${clip(t, 20)}"`);
    return Number(t);
  });

const OPEN_FLAGS = {
  speed: seconds('a speed factor like 1 or 0.5', 10_000),
  jump: toggle(),
  start: seconds('seconds', 10_000_000),
};

export const command: Command = {
  summary: 'serve the UI over a recording (no root, no tracer)',
  async run(argv: string[]): Promise<number> {
    const { values: v, rest, positionals } = parseFlags(argv, OPEN_FLAGS, { forward: SERVER_FLAGS, positionals: 1 });
    const cfg = parseServerArgs(rest, process.env, { uiDir: UI_DIST, port: 7070 }, 'serve');
    if (cfg.help) {
      console.log(USAGE);
      return 0;
    }
    if (cfg.kubeconfig || cfg.record) throw new UsageError(`${cfg.kubeconfig ? '--kubeconfig' : '--write'} is not for open: a recording carries its names`);
    if (v.jump && v.speed !== undefined) throw new UsageError('--jump and --speed: choose one');
    if (v.speed === 0) throw new UsageError('--speed must be more than 0 (--jump plays everything at once)');
    const file = positionals[0];
    if (!file) throw new UsageError('which recording? hopscope open FILE');
    const log = (l: string) => console.error(`hopscope open: ${l}`);
    serverWarnings(cfg).forEach(log);
    const failed = (e: unknown): Error => {
      const code = (e as NodeJS.ErrnoException).code;
      return new Error(code ? `cannot read ${clip(file)}: ${code}` : `${clip(file)}: ${(e as Error).message}`);
    };
    // Served from its first records while the rest is read: a big recording takes seconds.
    const loading = loadRecordingFile(file);
    const rec = await loading.started.catch((e: unknown) => {
      throw failed(e);
    });
    const header = rec.header!;
    const loaded = loading.done.then(
      (r) => {
        for (const p of r.problems) log(p);
        log(`read ${r.journeys.length} journeys`);
      },
      (e: unknown) => log(`${failed(e).message}; serving the ${rec.journeys.length} journeys read before it`),
    );
    const source = recordingSource(rec, { speed: v.jump ? 0 : (v.speed ?? 1), loaded, ...(v.start !== undefined ? { startAtS: v.start } : {}) });
    const server = await startServer({ host: cfg.host, port: cfg.port, token: cfg.token, uiDir: cfg.uiDir, source, topology: () => source.topology(), lab: null });
    source.playWhen(() => server.fanout.readyClientCount > 0);
    log(`a recording of ${header.source} from ${new Date(header.startedMs).toISOString()}; plays when a browser connects`);
    console.log(`hopscope is up: ${openUrl(server.url, cfg.token)}`);
    return stopOnSignal(log, () => server.close());
  },
};
