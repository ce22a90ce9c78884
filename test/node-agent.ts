// `hopscope serve` run on a lab node as the DaemonSet runs it on a cluster node: in that node's
// network namespace, in-cluster configuration from the lab's service-account folder, no lab flag
// and no state file to read (/run hidden in a private mount namespace), plus the hub's agent
// client in the same namespace collecting every journey. Used by the real-node tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Journey } from '../agent/src/protocol/events.ts';
import type { LabState } from '../agent/src/lab/state.ts';
import { journeyFeed, type JourneyFeed } from './podman-kit/lab-node.ts';

/** A running node agent and what it said. */
export interface NodeAgent {
  /** http://127.0.0.1:<port>/ inside the node's namespace. */
  url: string;
  /** Every journey received so far. */
  journeys: Journey[];
  /** The agent's stdout and stderr. */
  out: string[];
  /** GET a path of the agent's API from inside the node's namespace. */
  get(path: string): Promise<unknown>;
  stop(): Promise<void>;
}

/** Start the agent on `node` of the lab; resolves once the websocket client is subscribed. */
export async function startNodeAgent(s: LabState, node: string, token: string, extraArgs: string[] = []): Promise<NodeAgent> {
  const api = s.api!;
  const netns = s.netns.find((n) => n.kind === 'node' && n.owner === node)!.name;
  const mnt = mkdtempSync(join(tmpdir(), 'hopscope-node-sa-'));
  const out: string[] = [];
  let serve: ResultPromise | undefined;
  let client: JourneyFeed | undefined;
  const stop = async () => {
    await client?.stop();
    if (serve && serve.exitCode === undefined) {
      serve.kill('SIGINT');
      await Promise.race([serve, new Promise((r) => setTimeout(r, 20_000))]);
      if (serve.exitCode === undefined) serve.kill('SIGKILL');
    }
    rmSync(mnt, { recursive: true, force: true });
  };
  try {
    // A private mount namespace stands for the pod's: the service-account folder where every
    // in-cluster client looks, /run hidden (no lab state file can be read), tracefs as the
    // DaemonSet mounts it (ip netns exec remounts /sys without it).
    const script = [
      'set -e',
      `mount --bind ${api.serviceAccountDir} ${mnt}`,
      'mount -t tmpfs -o size=1m,mode=755 tmpfs /run',
      'mkdir -p /run/secrets/kubernetes.io/serviceaccount',
      `mount --bind ${mnt} /run/secrets/kubernetes.io/serviceaccount`,
      'mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing',
      `exec ${process.execPath} agent/bin/hopscope.mjs serve --node ${node} --port 0 ${extraArgs.join(' ')}`,
    ].join('\n');
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: mnt, HOPSCOPE_TOKEN: token, KUBERNETES_SERVICE_HOST: api.inLab.host, KUBERNETES_SERVICE_PORT: String(api.inLab.port) };
    serve = execa('ip', ['netns', 'exec', netns, 'unshare', '-m', 'sh', '-c', script], { env, extendEnv: false, reject: false, buffer: false, stdin: 'ignore' });
    serve.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`serve did not come up:\n${out.join('')}`)), 90_000);
      serve!.stdout!.on('data', (d: Buffer) => {
        out.push(d.toString());
        const m = /hopscope is up: (http:\/\/[^/]+\/)/.exec(d.toString());
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      void serve!.then((r) => reject(new Error(`serve exited ${r.exitCode}:\n${out.join('')}`)));
    });
    // The hub's own client (validated frames), in the node's namespace where the agent listens.
    client = journeyFeed('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', 'test/podman-kit/agent-tap.ts', node, url], { PATH: env.PATH, HOPSCOPE_TOKEN: token });
    const feed = client;
    for (const t0 = Date.now(); !feed.stderr.includes('link up'); await new Promise((r) => setTimeout(r, 50))) {
      if (feed.child.exitCode !== null) throw new Error(`agent-tap exited ${feed.child.exitCode}: ${feed.stderr.join(' | ')}`);
      if (Date.now() - t0 > 30_000) throw new Error(`agent-tap did not connect in 30 s: ${feed.stderr.join(' | ')}`);
    }
    const get = async (path: string): Promise<unknown> => {
      const r = await execa('ip', ['netns', 'exec', netns, 'curl', '-sS', '-H', `Authorization: Bearer ${token}`, `${url}${path.replace(/^\//, '')}`]);
      return JSON.parse(r.stdout) as unknown;
    };
    return { url, journeys: feed.journeys, out, get, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
