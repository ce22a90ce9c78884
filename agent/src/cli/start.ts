// `hopscope start`: the built-in lab, the trace pipeline against it and the server with the
// UI, in one process; Ctrl-C/SIGTERM tears down server, bpftrace and lab, in that order.
import { fileURLToPath } from 'node:url';
import type { Command } from './command.ts';
import { refusal } from '../tracer/preflight.ts';
import { labUp, loadTopology, type LabHandle } from '../lab/lab.ts';
import { parseServerArgs, openUrl, serverWarnings, SERVER_FLAGS_HELP } from '../server/config.ts';
import { startServer, type RunningServer } from '../server/http.ts';
import { pipelineSource } from '../server/pipeline-source.ts';
import { topologyFromModel } from '../server/topology.ts';
import { labSession, swappableSource, type LabSession } from '../server/lab-session.ts';
import { BUILTIN_LESSONS_DIR, loadLessons } from '../server/lessons.ts';
import { RECORD_FLAGS_HELP } from '../config/record-flags.ts';

export const UI_DIST = fileURLToPath(new URL('../../../ui/dist', import.meta.url));

const USAGE = `usage: hopscope start [options]

Brings up the built-in lab cluster (network namespaces on this machine), traces it and serves
the UI. Prints the URL with its access token. Ctrl-C tears everything down.

  --topology <file>        lab topology (default: the built-in two-node flannel lab)
  --name <name>            lab name (default: the topology's)
${SERVER_FLAGS_HELP}
${RECORD_FLAGS_HELP}
  -h, --help`;

export const command: Command = {
  summary: 'bring up the lab, trace it and serve the UI',
  async run(args: string[]): Promise<number> {
    const cfg = parseServerArgs(args, process.env, { uiDir: UI_DIST, port: 7070 }, 'start');
    if (cfg.help) {
      console.log(USAGE);
      return 0;
    }
    const refused = await refusal('start');
    if (refused) {
      console.error(refused);
      return 1;
    }
    const topology = loadTopology(cfg.topology);
    const log = (l: string) => console.error(`hopscope: ${l}`);
    serverWarnings(cfg).forEach(log);
    log(`bringing up lab "${cfg.labName ?? topology.name}" ...`);
    // We own the signal handling (server and bpftrace go first); the lab still cleans up on a
    // crash, and on any exit before its down() finished.
    const upOptions = { cleanupOnSignal: false, cleanupOnCrash: true, log };
    const first: LabHandle = await labUp(topology, { ...(cfg.labName ? { name: cfg.labName } : {}), ...upOptions });
    // The pipeline reads the lab's state file by name: a rebuilt lab keeps the name.
    const source = swappableSource(() => pipelineSource({ lab: first.name, log }));
    const session: LabSession = labSession({ topology, upOptions, first, source, log });
    const lessons = loadLessons(BUILTIN_LESSONS_DIR);
    for (const p of lessons.problems) log(`lesson ${p.file} not loaded: ${p.error}`);
    let server: RunningServer | undefined;
    let stopping: Promise<void> | undefined;
    const stop = (why: string) =>
      (stopping ??= (async () => {
        log(`${why}: stopping server and tracer, tearing down lab "${first.name}" ...`);
        await server?.close().catch((e: unknown) => log(`server close: ${(e as Error).message}`));
        await session.down().catch((e: unknown) => log(`lab down: ${(e as Error).message}`));
        log('done');
      })());
    const done = new Promise<number>((resolve) => {
      const onSignal = (sig: NodeJS.Signals) => {
        // A second Ctrl-C: do not wait any longer (the lab's exit hook tears it down).
        if (stopping) process.exit(130);
        // Ctrl-C is how start is meant to end: a clean stop is a success (README "Running it").
        void stop(sig).then(() => resolve(0));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    try {
      server = await startServer({
        host: cfg.host,
        port: cfg.port,
        token: cfg.token,
        uiDir: cfg.uiDir,
        source,
        topology: () => topologyFromModel(session.lab().state().model),
        lab: () => session.status(),
        lessons,
        onAction: (a) => session.run(a),
        ...(cfg.record ? { record: { ...cfg.record, source: `lab ${first.name} (${first.state().model.cni}), hopscope start` } } : {}),
      });
    } catch (e) {
      await stop(`start failed (${(e as Error).message})`);
      throw e;
    }
    const st = server.status();
    if (st.tracer !== 'running') log(`tracer ${st.tracer}${st.message ? `: ${st.message}` : ''} (the UI still shows the lab)`);
    console.log(`hopscope is up: ${openUrl(server.url, cfg.token)}`);
    return done;
  },
};
