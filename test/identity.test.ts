// The identity index against the lab API: built from informers, follows scaling, survives cut
// watches, a 410 and a server restart, and names real network namespaces from a lab state file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenBelowEphemeral } from './ports.ts';
import type { LabApi } from '../agent/src/lab/api-server.ts';
import { expandTopology, scaleDeployment, type ClusterModel } from '../agent/src/lab/model.ts';
import { parseTopology } from '../agent/src/lab/topology.ts';
import type { IdentityIndex } from '../agent/src/identity/index.ts';

// The state file goes to a private directory: other engineers' `lab down` must not see this lab.
const dir = mkdtempSync(join(tmpdir(), 'hopscope-identity-'));
process.env.HOPSCOPE_LABS_DIR = dir;
const { startLabApi, writeKubeconfig } = await import('../agent/src/lab/api-server.ts');
const { makeLabTls } = await import('../agent/src/lab/tls.ts');
// One CA across the API's restarts, as a real API server keeps its certificate.
const TLS = makeLabTls({ commonName: 'identity-test', ips: ['127.0.0.1'], dnsNames: [] });
const { writeLabState } = await import('../agent/src/lab/state.ts');
const { createIdentityIndex, labNetnsSource } = await import('../agent/src/identity/index.ts');

const TOKEN = `identity-test-${process.pid}`;
const LAB = `idtest${process.pid % 100000}`;
// Real, unlinked network namespaces standing in for two lab pods and a node (no "hs-" prefix:
// they are not a lab run's namespaces and `lab down` leaves them alone).
const NETNS = { client: `hsid${process.pid}-client`, web: `hsid${process.pid}-web`, node: `hsid${process.pid}-node1` };

let model: ClusterModel;
let api: LabApi;
let port: number;
let index: IdentityIndex;
const kubeconfig = join(dir, 'kubeconfig');
const syncedLog: boolean[] = [];
let changes = 0;

async function until(what: string, f: () => boolean, ms = 10_000): Promise<number> {
  const start = Date.now();
  while (!f()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}; stats ${JSON.stringify(index?.stats())}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

/** Every pod, node and service of the model is named exactly as the model says, and nothing else. */
function indexMatches(m: ClusterModel, gone: string[] = []): boolean {
  return (
    index.synced &&
    m.pods.every((p) => {
      const r = index.podByIp(p.ip);
      return r?.name === p.name && r.namespace === p.namespace && r.node === p.node && index.podIps(p.namespace, p.name).join() === p.ip;
    }) &&
    gone.every((ip) => index.podByIp(ip) === undefined) &&
    m.services.every((s) => [...new Set(index.serviceEndpoints(s.namespace, s.name).map((e) => e.ip))].sort().join() === s.endpoints.map((e) => e.ip).sort().join())
  );
}

const startApi = async (p?: number) =>
  startLabApi({
    model,
    token: TOKEN,
    tls: TLS,
    port: p,
    historyLimit: 10,
    onScale: async (ns, name, replicas) => (model = scaleDeployment(model, ns, name, replicas).model),
  });

beforeAll(async () => {
  model = expandTopology(parseTopology(readFileSync(new URL('../agent/src/lab/topologies/default.yaml', import.meta.url), 'utf8')));
  // The restart test listens on this port again after closing it.
  ({ value: api, port } = await listenBelowEphemeral(startApi));
  writeKubeconfig(kubeconfig, { url: api.url, token: TOKEN, ca: api.ca }, LAB);
  for (const n of Object.values(NETNS)) execFileSync('ip', ['netns', 'add', n]);
  const inode = (n: string) => statSync(`/run/netns/${n}`).ino;
  const web = model.pods.find((p) => p.deployment)!;
  writeLabState({
    version: 1,
    name: LAB,
    runId: '0000',
    prefix: `hsid${process.pid}-`,
    phase: 'ready',
    createdAt: new Date().toISOString(),
    controllerPid: process.pid,
    detached: false,
    netns: [
      { name: NETNS.client, kind: 'pod', owner: 'default/client', node: 'node-1', inode: inode(NETNS.client) },
      { name: NETNS.web, kind: 'pod', owner: `default/${web.name}`, node: web.node, inode: inode(NETNS.web) },
      { name: NETNS.node, kind: 'node', owner: 'node-1', inode: inode(NETNS.node) },
    ],
    workloads: [],
    // Only the kubeconfig is read here; the in-lab parts (forwarder, service account) are not run.
    api: {
      url: api.url,
      token: TOKEN,
      kubeconfig,
      caFile: join(dir, 'ca.crt'),
      socket: join(dir, 'api.sock'),
      serviceAccountDir: join(dir, 'serviceaccount'),
      inLab: { host: '10.0.0.254', port: 6443, url: 'https://10.0.0.254:6443', kubeconfig, forwarderPid: 0, forwarderLog: join(dir, 'api-forwarder.log') },
    },
    logDir: dir,
    model,
  });
  index = await createIdentityIndex({ kubeconfigPath: kubeconfig, netns: labNetnsSource(LAB) });
  let last = index.synced;
  index.onChange(() => {
    changes++;
    if (index.synced !== last) syncedLog.push((last = index.synced));
  });
});

afterAll(async () => {
  await index?.close();
  await api?.close();
  for (const n of Object.values(NETNS)) {
    try {
      execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('identity index over the lab API', () => {
  it('is built and synced: pods, nodes, services (ClusterIP and NodePort) and netns owners', () => {
    expect(index.synced).toBe(true);
    expect(indexMatches(model)).toBe(true);
    expect(index.podByIp('10.0.0.1')).toBeUndefined();
    expect(index.nodeByIp('10.0.0.1')).toBe('node-1');
    expect(index.nodeByIp('10.0.0.2')).toBe('node-2');
    expect(index.nodeByIp('10.0.0.100')).toBeUndefined();
    expect(index.serviceByAddr('10.96.0.10', 53, 'udp')).toEqual({ namespace: 'kube-system', name: 'kube-dns', port: 53, portName: 'dns' });
    expect(index.serviceByAddr('10.96.0.10', 53, 'tcp')).toEqual({ namespace: 'kube-system', name: 'kube-dns', port: 53, portName: 'dns-tcp' });
    expect(index.serviceByAddr('10.96.0.20', 8080, 'tcp')).toBeUndefined();
    expect(index.serviceByAddr('10.0.0.2', 30080, 'tcp')).toMatchObject({ namespace: 'default', name: 'web-nodeport', port: 30080 });
    expect(index.serviceByAddr('10.0.0.100', 30080, 'tcp')).toBeUndefined();
    expect(index.serviceIps('default', 'web')).toEqual([{ ip: '10.96.0.20', port: 80, proto: 'tcp' }]);
    expect(index.serviceIps('default', 'web-nodeport')).toEqual([
      { ip: '10.96.0.30', port: 80, proto: 'tcp' },
      { ip: '10.0.0.1', port: 30080, proto: 'tcp' },
      { ip: '10.0.0.2', port: 30080, proto: 'tcp' },
    ]);
    expect(index.podIps('default', 'nope')).toEqual([]);
    const client = statSync(`/run/netns/${NETNS.client}`).ino;
    expect(index.netnsOwner(client)).toEqual({ pod: { namespace: 'default', name: 'client', node: 'node-1' }, node: 'node-1', label: 'client (default)' });
    expect(index.netnsOwner(statSync(`/run/netns/${NETNS.node}`).ino)).toEqual({ node: 'node-1', label: 'node-1' });
    expect(index.netnsOwner(1)).toBeUndefined();
    expect(index.stats()).toMatchObject({ synced: true, kinds: { pods: { synced: true, objects: model.pods.length, lists: 1 } }, netns: { owners: 3 } });
  });

  it('names follow a scale up and down through the API', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const apps = kc.makeApiClient(AppsV1Api);
    const before = changes;
    await apps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'web', body: [{ op: 'replace', path: '/spec/replicas', value: 4 }] });
    expect(model.pods.filter((p) => p.deployment).length).toBe(4);
    await until('index has the 4 web pods', () => indexMatches(model));
    expect(changes).toBeGreaterThan(before);
    const web4 = model.pods.filter((p) => p.deployment).map((p) => p.ip);
    await apps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'web', body: [{ op: 'replace', path: '/spec/replicas', value: 1 }] });
    const kept = model.pods.filter((p) => p.deployment).map((p) => p.ip);
    await until('removed web pods are unnamed', () => indexMatches(model, web4.filter((ip) => !kept.includes(ip))));
    expect(index.serviceEndpoints('default', 'web')).toHaveLength(1);
    expect(syncedLog).toEqual([]); // live watches: never unsynced
  });

  it('a cut watch resumes, and a version that fell out of the history (410) relists', async () => {
    const lists = index.stats().kinds.pods.lists;
    // Graceful cut: the informers re-watch from their resourceVersion and miss nothing.
    api.dropWatches();
    model = scaleDeployment(model, 'default', 'web', 2).model;
    await new Promise((r) => setTimeout(r, 200));
    api.setModel(model);
    await until('index follows after a cut watch', () => indexMatches(model));
    // Pods changed within the history: their informer resumed without a relist. (Services and
    // nodes did not change for longer than the 10-event history, so those relist: that is 410 too.)
    expect(index.stats().kinds.pods.lists).toBe(lists);

    // Cut, then more changes than the history holds before anyone can reconnect: 410 → relist.
    const gone = model.pods.filter((p) => p.deployment).map((p) => p.ip);
    api.dropWatches();
    model = scaleDeployment(model, 'default', 'web', 0).model;
    model = scaleDeployment(model, 'default', 'web', 3).model;
    api.setModel(model);
    const took = await until('index relisted after 410', () => index.stats().kinds.pods.lists > lists && indexMatches(model, gone.filter((ip) => !model.pods.some((p) => p.ip === ip))));
    expect(took).toBeLessThan(10_000);
    expect(index.stats().kinds.pods.errors).toBe(0); // a 410 is a relist, not an error
    expect(syncedLog[0]).toBe(false);
    expect(syncedLog.at(-1)).toBe(true);
  });

  it('a restarted API server: synced goes false, then the index reconnects with backoff and is correct again', async () => {
    syncedLog.length = 0;
    await api.close();
    await until('unsynced after the server went away', () => !index.synced);
    expect(index.podByIp(model.pods[0]!.ip)?.name).toBe(model.pods[0]!.name); // stale names are kept, flagged by synced
    model = scaleDeployment(model, 'default', 'web', 1).model;
    await new Promise((r) => setTimeout(r, 400)); // a couple of failed reconnects
    api = await startApi(port);
    const took = await until('correct after restart', () => indexMatches(model));
    expect(took).toBeLessThan(10_000);
    expect(syncedLog[0]).toBe(false);
    expect(syncedLog.at(-1)).toBe(true);
    const s = index.stats();
    expect(s.kinds.pods.errors).toBeGreaterThan(0);
    expect(s.kinds.pods.lastError).toBeTruthy();
  });

  describe('close()', () => {
    // An API server of their own: the count of open watches is then only the indexes under test.
    // (Counted on the shared server, it also held the main index's watches, which may still be
    // connecting when the test starts: a baseline of 3 that became 4.)
    let own: LabApi;
    let ownKubeconfig: string;
    beforeAll(async () => {
      own = await startLabApi({ model, token: TOKEN });
      ownKubeconfig = join(dir, 'kubeconfig-close');
      writeKubeconfig(ownKubeconfig, { url: own.url, token: TOKEN, ca: own.ca }, LAB);
    });
    afterAll(async () => {
      await own?.close();
    });
    /** Every watch the closed indexes opened has ended, and none opens later. */
    async function noWatchesLeft(): Promise<void> {
      const deadline = Date.now() + 5000;
      while (own.openWatches() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(own.openWatches()).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
      expect(own.openWatches()).toBe(0);
    }

    it('ends its watches, also those still connecting', async () => {
      // Closing at a spread of moments after start hits the window where a watch is connecting.
      for (let delayMs = 0; delayMs < 40; delayMs += 2) {
        const idx = await createIdentityIndex({ kubeconfigPath: ownKubeconfig, netns: labNetnsSource(LAB), initialSyncTimeoutMs: 0 });
        await new Promise((r) => setTimeout(r, delayMs));
        await idx.close();
      }
      await noWatchesLeft();
    });

    it('ends the watches its informers reopen after a cut watch', async () => {
      // After a cut the informer re-watches on its own (not from start()): a close while that
      // watch connects left it open for good.
      for (let delayMs = 0; delayMs < 10; delayMs++) {
        const idx = await createIdentityIndex({ kubeconfigPath: ownKubeconfig, netns: labNetnsSource(LAB) });
        expect(idx.synced).toBe(true);
        await until('the new index watches all 4 kinds', () => own.openWatches() === 4);
        own.dropWatches();
        await new Promise((r) => setTimeout(r, delayMs));
        await idx.close();
        await noWatchesLeft();
      }
    });
  });

  it('refuses bad credentials at start with a clear error', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(readFileSync(kubeconfig, 'utf8').replace(TOKEN, 'wrong-token'));
    await expect(createIdentityIndex({ kubeConfig: kc, netns: labNetnsSource(LAB), initialSyncTimeoutMs: 5000 })).rejects.toThrow(/refused our credentials.*401/);
    await expect(createIdentityIndex({ kubeconfigPath: join(dir, 'nope'), netns: labNetnsSource(LAB) })).rejects.toThrow(/cannot load kubeconfig .*nope/);
  });

  it('reports netns owner read errors without losing the owners it has', async () => {
    const missing = await createIdentityIndex({ kubeconfigPath: kubeconfig, netns: labNetnsSource(`${LAB}-missing`) });
    try {
      expect(missing.synced).toBe(true);
      // Every read failed. How many there were depends on timing: the pods' list schedules a
      // read 100 ms on, which comes before or after the first one (errors 2 rather than 1).
      const netns = missing.stats().netns;
      expect(netns).toMatchObject({ owners: 0, reads: 0, lastError: expect.stringContaining(`no lab "${LAB}-missing"`) });
      expect(netns.errors).toBeGreaterThanOrEqual(1);
    } finally {
      await missing.close();
    }
  });
});
