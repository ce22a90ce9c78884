// Shared by the server integration tests (server-fanout, security-server): the agent server on
// loopback for the whole file, fed by synthetic journeys (the tracer is not under test), with a
// stand-in UI and the default lab's topology; and `hopscope serve` as a child process, alone or
// on a lab of its own for the whole file (server-serve, serve-malformed-frame).
import { afterAll, beforeAll } from 'vitest';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { startServer, type RunningServer, type ServerOptions } from '../agent/src/server/http.ts';
import type { SyntheticSource } from '../agent/src/server/__tests__/synthetic.ts';
import { topologyFromModel } from '../agent/src/server/topology.ts';
import { expandTopology } from '../agent/src/lab/model.ts';
import { parseTopology } from '../agent/src/lab/topology.ts';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';

export const DEFAULT_TOPOLOGY = topologyFromModel(expandTopology(parseTopology(readFileSync('agent/src/lab/topologies/default.yaml', 'utf8'))));

/** The file's server; read it once beforeAll has run. */
export interface TestServer {
  readonly server: RunningServer;
  readonly source: SyntheticSource;
  /** Websockets the tests open; terminated in afterAll, before the server closes. */
  readonly open: WebSocket[];
}

/**
 * Start the server in beforeAll (stand-in UI whose page title is `title`, the default topology,
 * `options` for the rest) and stop it in afterAll, the UI dir removed.
 */
export function serverForFile(title: string, source: () => SyntheticSource, options: Omit<ServerOptions, 'uiDir' | 'source' | 'topology'>): TestServer {
  let uiDir: string | undefined;
  let running: { server: RunningServer; source: SyntheticSource } | undefined;
  const open: WebSocket[] = [];
  beforeAll(async () => {
    uiDir = await mkdtemp(path.join(tmpdir(), 'hopscope-ui-'));
    await mkdir(path.join(uiDir, 'assets'));
    await writeFile(path.join(uiDir, 'index.html'), `<!doctype html><title>${title}</title>`);
    await writeFile(path.join(uiDir, 'assets', 'app.js'), 'console.log(1)');
    const src = source();
    running = { source: src, server: await startServer({ ...options, uiDir, source: src, topology: () => DEFAULT_TOPOLOGY }) };
  });
  afterAll(async () => {
    for (const ws of open) ws.terminate();
    await running?.server.close();
    if (uiDir) await rm(uiDir, { recursive: true, force: true });
  });
  const up = () => {
    if (!running) throw new Error('the test server is not up (its beforeAll failed or has not run)');
    return running;
  };
  return {
    get server() {
      return up().server;
    },
    get source() {
      return up().source;
    },
    open,
  };
}

/** Poll until `cond` holds (20 ms steps). */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The HTTP status a websocket upgrade is refused with; rejects if it upgrades. */
export function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`${url}: upgraded, expected a refusal`));
    });
    ws.once('error', () => undefined);
  });
}

/**
 * `hopscope serve <args>` as a child process, as a user runs it (HOPSCOPE_TOKEN = token, stderr
 * appended to `log`); resolves once it prints its URL, with the base URL (ending in "/").
 */
export function spawnServe(args: string[], token: string, log: string[]): Promise<{ proc: ChildProcess; base: string }> {
  return spawnHopscope('serve', args, token, log, 60_000);
}

/**
 * `hopscope <command> <args>` (serve, start, open) as spawnServe runs serve, waiting up to `upMs`
 * for its URL; `launcher` runs node (e.g. under `setpriv` as another user).
 */
export async function spawnHopscope(command: string, args: string[], token: string, log: string[], upMs: number, launcher: readonly string[] = ['node']): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(launcher[0]!, [...launcher.slice(1), 'agent/bin/hopscope.mjs', command, ...args], {
    env: { ...process.env, HOPSCOPE_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  const base = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${command} did not come up:\n${log.join('')}`)), upMs);
    proc.stdout!.on('data', (d: Buffer) => {
      const m = /hopscope is up: (http:\/\/[^/]+\/)/.exec(d.toString());
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => reject(new Error(`${command} exited ${code}:\n${log.join('')}`)));
  });
  return { proc, base };
}

/**
 * SIGINT a child still running, and SIGKILL it if it has not exited 20 s later; resolves with its
 * exit code once it has exited (null when killed), so that `proc.signalCode === 'SIGKILL'` tells
 * the caller its own teardown never ran.
 */
export async function stopChild(proc: ChildProcess | undefined): Promise<number | null> {
  if (!proc) return null;
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGINT');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  }
  return proc.exitCode;
}

/** The file's lab and `hopscope serve`; read them once beforeAll has run. */
export interface ServeOnLab {
  readonly lab: LabHandle;
  readonly proc: ChildProcess;
  /** Base URL, ending in "/". */
  readonly base: string;
  /** serve's stderr so far. */
  readonly log: string[];
}

/**
 * In beforeAll: the default lab named `labName`, then `hopscope serve <args(lab)>` with `token`;
 * in afterAll: serve stopped, then the lab down.
 */
export function serveOnLabForFile(labName: string, token: string, args: (lab: LabHandle) => string[]): ServeOnLab {
  const log: string[] = [];
  let lab: LabHandle | undefined;
  let served: { proc: ChildProcess; base: string } | undefined;
  beforeAll(async () => {
    lab = await labUp(loadTopology(), { name: labName });
    served = await spawnServe(args(lab), token, log);
  }, 120_000);
  afterAll(async () => {
    await stopChild(served?.proc);
    await lab?.down();
  }, 60_000);
  const up = () => {
    if (!lab || !served) throw new Error(`lab ${labName} or serve is not up (beforeAll failed or has not run):\n${log.join('')}`);
    return { lab, ...served };
  };
  return {
    get lab() {
      return up().lab;
    },
    get proc() {
      return up().proc;
    },
    get base() {
      return up().base;
    },
    log,
  };
}

/** curl the web Service from default/client (up to 10 times, 700 ms apart) until `cond` holds. */
export async function webTrafficUntil(lab: LabHandle, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10 && !cond(); i++) {
    await lab.exec('default/client', ['curl', '-s', '-o', '/dev/null', '-m', '2', 'http://10.96.0.20/']);
    await new Promise((r) => setTimeout(r, 700));
  }
}
