// Kubernetes watch faults under correlation: a real identity index against the lab's
// Kubernetes-compatible API feeding the real correlator. While the index is not synced (API
// gone, or relisting after 410 Gone) journeys are flagged identityUnknown; once it is correct
// again (within 10 s) journeys carry the new names, unflagged.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabApi, writeKubeconfig, type LabApi } from '../agent/src/lab/api-server.ts';
import { makeLabTls } from '../agent/src/lab/tls.ts';
import { expandTopology, scaleDeployment, type ClusterModel } from '../agent/src/lab/model.ts';
import { parseTopology } from '../agent/src/lab/topology.ts';
import { createIdentityIndex, type IdentityIndex, type NetnsSource } from '../agent/src/identity/index.ts';
import { createCorrelator, type Correlator } from '../agent/src/journeys/correlate.ts';
import { free, hop, tcp } from '../agent/src/journeys/testdata.ts';
import type { Journey } from '../agent/src/protocol/events.ts';

const TOKEN = `reliability-identity-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'hopscope-relid-'));
const kubeconfig = join(dir, 'kubeconfig');
// Names come from addresses here; no network namespaces are involved.
const noNetns: NetnsSource = { name: 'none', read: async () => new Map() };

let model: ClusterModel;
let api: LabApi;
let port: number;
let index: IdentityIndex;
let correlator: Correlator;
const out: Journey[] = [];
let skb = 0x1000;
let ts = 1_000_000_000;

// One CA across the API's restarts, as a real API server keeps its certificate.
const TLS = makeLabTls({ commonName: 'reliability-identity', ips: ['127.0.0.1'], dnsNames: [] });
const startApi = (p?: number) => startLabApi({ model, token: TOKEN, tls: TLS, port: p, historyLimit: 5 });

/** One packet from the client pod to `dstIp`, through the real correlator; its journey. */
function packet(dstIp: string): Journey {
  const client = model.pods.find((p) => p.name === 'client')!;
  const s = (++skb).toString(16);
  const before = out.length;
  correlator.push(hop((ts += 1000), 'xmit', 4026530001, 2, 'eth0', s, tcp(client.ip, 40000 + (skb % 1000), dstIp, 8080, { ipId: skb & 0xffff })));
  correlator.push(free((ts += 1000), s));
  expect(out.length).toBe(before + 1);
  return out.at(-1)!;
}

const webPods = () => model.pods.filter((p) => p.deployment?.name === 'web');

async function until(what: string, f: () => boolean, ms = 10_000): Promise<number> {
  const start = Date.now();
  while (!f()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}; ${JSON.stringify(index.stats())}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

/** The index names every pod of the model as the model does, and the `gone` addresses not at all. */
const correct = (gone: string[] = []) =>
  index.synced && model.pods.every((p) => index.podByIp(p.ip)?.name === p.name) && gone.every((ip) => !model.pods.some((p) => p.ip === ip) ? index.podByIp(ip) === undefined : true);

beforeAll(async () => {
  model = expandTopology(parseTopology(readFileSync('agent/src/lab/topologies/default.yaml', 'utf8')));
  api = await startApi();
  port = Number(new URL(api.url).port);
  writeKubeconfig(kubeconfig, { url: api.url, token: TOKEN, ca: api.ca }, 'relid');
  index = await createIdentityIndex({ kubeconfigPath: kubeconfig, netns: noNetns, backoffMs: { initial: 100, max: 1000 } });
  correlator = createCorrelator({ identity: index, onJourney: (j) => out.push(j) });
});

afterAll(async () => {
  await index?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('identity faults under correlation', () => {
  it('synced: journeys are named and not flagged', () => {
    const web = webPods()[0]!;
    const j = packet(web.ip);
    expect(j.dst.pod?.name).toBe(web.name);
    expect(j.src.pod?.name).toBe('client');
    expect(j.identityUnknown ?? false).toBe(false);
  });

  it('410 Gone: journeys seen while the index relists are flagged; correct again within 10 s', async () => {
    const flagged: Journey[] = [];
    const old = webPods().map((p) => p.ip);
    // Whenever the index says it is not synced, a packet arrives right then.
    const off = index.onChange(() => {
      if (!index.synced) flagged.push(packet(old[0]!));
    });
    try {
      // More changes than the API's history holds while the watches are down: their
      // resourceVersion is gone (410) and the informers must relist.
      api.dropWatches();
      for (const n of [0, 3, 1, 4]) {
        model = scaleDeployment(model, 'default', 'web', n).model;
        api.setModel(model);
      }
      const took = await until('index relisted and correct', () => index.stats().kinds.pods.lists > 1 && correct(old));
      expect(took).toBeLessThan(10_000);
    } finally {
      off();
    }
    expect(flagged.length).toBeGreaterThan(0);
    expect(flagged.every((j) => j.identityUnknown === true && j.dst.pod === undefined)).toBe(true);
    const now = webPods()[0]!;
    const j = packet(now.ip);
    expect(j.identityUnknown ?? false).toBe(false);
    expect(j.dst.pod?.name).toBe(now.name);
  });

  it('API server gone: journeys flagged while it is away; after it returns the index is correct within 10 s and journeys carry the new names', async () => {
    const before = webPods();
    await api.close();
    await until('unsynced after the API went away', () => !index.synced);
    // The cluster changes while nobody can watch it.
    model = scaleDeployment(model, 'default', 'web', 0).model;
    model = scaleDeployment(model, 'default', 'web', 2).model;
    const during = packet(before[0]!.ip);
    expect(during.identityUnknown).toBe(true);
    // The pod that had this IP may be gone: no name rather than a possibly wrong one.
    expect(during.dst.pod).toBeUndefined();
    api = await startApi(port);
    const took = await until('correct after the API returned', () => correct(before.map((p) => p.ip)));
    expect(took).toBeLessThan(10_000);
    for (const p of webPods()) {
      const j = packet(p.ip);
      expect(j.identityUnknown ?? false).toBe(false);
      expect(j.dst.pod?.name).toBe(p.name);
    }
    // An address whose pod went away is no longer named after it.
    const goneIp = before.map((p) => p.ip).find((ip) => !model.pods.some((p) => p.ip === ip));
    if (goneIp) expect(packet(goneIp).dst.pod).toBeUndefined();
  });
});
