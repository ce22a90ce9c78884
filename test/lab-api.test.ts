// The lab API against the real Kubernetes client: lists, informers, watches, scale, 410, auth.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, KubeConfig, Watch, makeInformer, type V1EndpointSlice, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenBelowEphemeral } from './ports.ts';
import { startLabApi, writeKubeconfig, type LabApi } from '../agent/src/lab/api-server.ts';
import { makeLabTls } from '../agent/src/lab/tls.ts';
import { caFetch } from './api-helpers.ts';
import { expandTopology, scaleDeployment, type ClusterModel } from '../agent/src/lab/model.ts';
import { parseTopology } from '../agent/src/lab/topology.ts';

const TOKEN = `lab-api-test-${process.pid}-${Date.now()}`;
// One CA for every server of this file: a kubeconfig written for one trusts the others.
const TLS = makeLabTls({ commonName: 'lab-api-test', ips: ['127.0.0.1'], dnsNames: ['localhost'] });
const fetch = caFetch(TLS.caPem);
const base = (): ClusterModel => expandTopology(parseTopology(readFileSync(new URL('../agent/src/lab/topologies/default.yaml', import.meta.url), 'utf8')));

async function until<T>(what: string, f: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let dir: string;
let model: ClusterModel;
let api: LabApi;
let kc: KubeConfig;
const stoppers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hopscope-lab-api-'));
  model = base();
  api = await startLabApi({
    model,
    token: TOKEN,
    tls: TLS,
    socketPath: join(dir, 'api.sock'),
    onScale: async (ns, name, replicas) => (model = scaleDeployment(model, ns, name, replicas).model),
  });
  writeKubeconfig(join(dir, 'kubeconfig'), { url: api.url, token: TOKEN, ca: api.ca }, 'lab-test');
  kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'kubeconfig'));
});

afterAll(async () => {
  for (const s of stoppers) await s().catch(() => undefined);
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('lab API with @kubernetes/client-node', () => {
  it('binds loopback over HTTPS and writes a 0600 kubeconfig carrying its CA', () => {
    expect(api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(statSync(join(dir, 'kubeconfig')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'kubeconfig'), 'utf8')).toContain(`certificate-authority-data: ${Buffer.from(TLS.caPem).toString('base64')}`);
  });

  it('serves the same API on its Unix socket (TLS included), and a client without the CA gets no answer', async () => {
    expect(statSync(join(dir, 'api.sock')).mode & 0o777).toBe(0o600);
    const viaSocket = caFetch(TLS.caPem, { socketPath: join(dir, 'api.sock') });
    const r = await viaSocket(`${api.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { items: unknown[] }).items).toHaveLength(model.nodes.length);
    const other = makeLabTls({ commonName: 'not-the-lab', ips: ['127.0.0.1'], dnsNames: [] });
    await expect(caFetch(other.caPem)(`${api.url}/version`, { headers: { authorization: `Bearer ${TOKEN}` } })).rejects.toMatchObject({
      cause: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    });
  });

  it('lists pods, services, endpointslices and nodes as the model has them', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const pods = await core.listPodForAllNamespaces();
    expect(Number(pods.metadata?.resourceVersion)).toBeGreaterThan(0);
    expect(pods.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}@${p.status?.podIP}/${p.spec?.nodeName}`).sort()).toEqual(
      model.pods.map((p) => `${p.namespace}/${p.name}@${p.ip}/${p.node}`).sort(),
    );
    const ns = await core.listNamespacedPod({ namespace: 'kube-system' });
    expect(ns.items.map((p) => p.metadata?.name)).toEqual(['coredns']);
    const svcs = await core.listServiceForAllNamespaces();
    expect(svcs.items.map((s) => `${s.metadata?.name}=${s.spec?.clusterIP}`).sort()).toEqual(['kube-dns=10.96.0.10', 'web-nodeport=10.96.0.30', 'web=10.96.0.20']);
    expect(svcs.items.find((s) => s.metadata?.name === 'web-nodeport')?.spec?.ports?.[0]?.nodePort).toBe(30080);
    const slices = await kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces({ labelSelector: 'kubernetes.io/service-name=web' });
    expect(slices.items).toHaveLength(1);
    expect(slices.items[0]!.endpoints.map((e) => e.addresses[0]).sort()).toEqual(model.pods.filter((p) => p.labels.app === 'web').map((p) => p.ip).sort());
    const nodes = await core.listNode();
    expect(nodes.items.map((n) => n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address)).toEqual(['10.0.0.1', '10.0.0.2']);
    const dep = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace: 'default', name: 'web' });
    expect(dep.spec?.replicas).toBe(2);
  });

  it('filters by fieldSelector spec.nodeName and metadata.name, and gets single objects', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const onNode2 = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-2' });
    expect(onNode2.items.map((p) => p.metadata?.name).sort()).toEqual(model.pods.filter((p) => p.node === 'node-2').map((p) => p.name).sort());
    const one = await core.listNamespacedService({ namespace: 'default', fieldSelector: 'metadata.name=web' });
    expect(one.items.map((s) => s.metadata?.name)).toEqual(['web']);
    const pod = await core.readNamespacedPod({ namespace: 'default', name: 'client' });
    expect(pod.status?.podIP).toBe(model.pods.find((p) => p.name === 'client')!.ip);
    const node = await core.readNode({ name: 'node-1' });
    expect(node.spec?.podCIDR).toBe('10.244.1.0/24');
    await expect(core.readNamespacedPod({ namespace: 'default', name: 'nope' })).rejects.toMatchObject({ code: 404 });
  });

  it('serves the discovery documents kubectl reads, and Tables when asked for them', async () => {
    const get = async (path: string, accept = 'application/json') => {
      const r = await fetch(api.url + path, { headers: { authorization: `Bearer ${TOKEN}`, accept } });
      expect(r.status, path).toBe(200);
      return (await r.json()) as Record<string, unknown>;
    };
    expect(await get('/version')).toMatchObject({ major: '1', gitVersion: expect.stringMatching(/^v1\./) });
    expect(await get('/api')).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await get('/apis')) as { groups: { name: string }[] };
    expect(groups.groups.map((g) => g.name).sort()).toEqual(['apps', 'coordination.k8s.io', 'discovery.k8s.io']);
    const v1 = (await get('/api/v1')) as { resources: { name: string; namespaced: boolean; verbs: string[] }[] };
    expect(v1.resources.find((r) => r.name === 'pods')).toMatchObject({ namespaced: true, verbs: expect.arrayContaining(['list', 'watch']) });
    expect(v1.resources.find((r) => r.name === 'nodes')).toMatchObject({ namespaced: false });
    const apps = (await get('/apis/apps/v1')) as { resources: { name: string }[] };
    expect(apps.resources.map((r) => r.name)).toEqual(expect.arrayContaining(['deployments', 'deployments/scale', 'replicasets']));
    expect(((await get('/apis/discovery.k8s.io/v1')) as { resources: { name: string }[] }).resources.map((r) => r.name)).toEqual(['endpointslices']);
    expect(v1.resources.map((r) => r.name)).toEqual(expect.arrayContaining(['endpoints', 'events']));
    // What `kubectl get pods -o wide` asks for: a Table (test/lab-kubectl.test.ts has the real kubectl
    // print it); plain JSON for a client that asks for nothing else, 406 for what is not served.
    const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    const table = (await get('/api/v1/namespaces/default/pods?limit=500', accept)) as { rows: { cells: unknown[] }[] };
    expect(table).toMatchObject({ kind: 'Table', apiVersion: 'meta.k8s.io/v1' });
    expect(table.rows.map((r) => r.cells[0]).sort()).toEqual(model.pods.filter((p) => p.namespace === 'default').map((p) => p.name).sort());
    expect(await get('/api/v1/namespaces/default/pods')).toMatchObject({ kind: 'PodList', apiVersion: 'v1' });
    const proto = await fetch(`${api.url}/api/v1/pods`, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/vnd.kubernetes.protobuf' } });
    expect(proto.status).toBe(406);
    // kubectl 1.26+ asks /apis for aggregated discovery first; client-go knows it by its content type.
    const agg = await fetch(`${api.url}/apis`, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } });
    expect(agg.headers.get('content-type')).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const aggBody = (await agg.json()) as { kind: string; items: { metadata: { name: string } }[] };
    expect(aggBody.kind).toBe('APIGroupDiscoveryList');
    expect(aggBody.items.map((i) => i.metadata.name).sort()).toEqual(groups.groups.map((g) => g.name).sort());
  });

  it('streams new pods and updated EndpointSlices to informers after a scale through the PATCH route', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const disc = kc.makeApiClient(DiscoveryV1Api);
    const pods = makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
    const slices = makeInformer(kc, '/apis/discovery.k8s.io/v1/endpointslices', () => disc.listEndpointSliceForAllNamespaces());
    stoppers.push(() => pods.stop(), () => slices.stop());
    const added: V1Pod[] = [];
    const deleted: V1Pod[] = [];
    const sliceUpdates: V1EndpointSlice[] = [];
    pods.on('add', (p) => added.push(p));
    pods.on('delete', (p) => deleted.push(p));
    slices.on('update', (s) => sliceUpdates.push(s));
    await pods.start();
    await slices.start();
    await until('initial pods', () => added.length === model.pods.length);

    const scale = await kc.makeApiClient(AppsV1Api).patchNamespacedDeploymentScale({
      namespace: 'default',
      name: 'web',
      body: [{ op: 'replace', path: '/spec/replicas', value: 4 }],
    });
    expect(scale.spec?.replicas).toBe(4);
    expect(scale.status?.replicas).toBe(4);
    const webIps = model.pods.filter((p) => p.labels.app === 'web').map((p) => p.ip).sort();
    expect(webIps).toHaveLength(4);
    await until('two new web pods', () => added.filter((p) => p.metadata?.labels?.app === 'web').length === 4);
    const webSlice = await until('web slice with 4 endpoints', () =>
      sliceUpdates.find((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === 'web' && s.endpoints.length === 4),
    );
    expect(webSlice.endpoints.map((e) => e.addresses[0]).sort()).toEqual(webIps);
    expect(pods.list().length).toBe(model.pods.length);

    // Scale down with a merge patch over raw HTTP: pods are DELETED, slices shrink.
    const r = await fetch(`${api.url}/apis/apps/v1/namespaces/default/deployments/web/scale`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { replicas: 1 } }),
    });
    expect(r.status).toBe(200);
    await until('three web pods deleted', () => deleted.length === 3);
    await until('web slice with 1 endpoint', () => slices.get(webSlice.metadata!.name!, 'default')?.endpoints.length === 1);
    expect(pods.list().map((p) => p.metadata?.name).sort()).toEqual(model.pods.map((p) => p.name).sort());
  });

  it('refuses bad scale requests without changing the model', async () => {
    const before = model;
    const req = (path: string, body: string, type = 'application/merge-patch+json') =>
      fetch(`${api.url}${path}`, { method: 'PATCH', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': type }, body });
    expect((await req('/apis/apps/v1/namespaces/default/deployments/nope/scale', '{"spec":{"replicas":1}}')).status).toBe(404);
    const bad = await req('/apis/apps/v1/namespaces/default/deployments/web/scale', '{"spec":{"replicas":-1}}');
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ kind: 'Status', code: 422 });
    // The model's own limit (0..20) comes back as 422 from onScale.
    expect((await req('/apis/apps/v1/namespaces/default/deployments/web/scale', '{"spec":{"replicas":99}}')).status).toBe(422);
    expect((await req('/apis/apps/v1/namespaces/default/deployments/web/scale', 'not json')).status).toBe(400);
    expect(model).toBe(before);
    const sel = await fetch(`${api.url}/api/v1/pods?fieldSelector=spec.bogus%3Dx`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(sel.status).toBe(400);
  });

  it('watches with a fieldSelector only see matching pods', async () => {
    const seen: string[] = [];
    const watch = new Watch(kc);
    const ctl = await watch.watch('/api/v1/pods', { fieldSelector: 'spec.nodeName=node-2' }, (type, obj: V1Pod) => seen.push(`${type} ${obj.spec?.nodeName}`), () => undefined);
    stoppers.push(async () => ctl.abort());
    await until('initial node-2 pods', () => seen.length === model.pods.filter((p) => p.node === 'node-2').length);
    await fetch(`${api.url}/apis/apps/v1/namespaces/default/deployments/web/scale`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 2 } }),
    });
    await until('new node-2 pod', () => seen.length === model.pods.filter((p) => p.node === 'node-2').length);
    ctl.abort();
    expect(new Set(seen)).toEqual(new Set(['ADDED node-2']));
  });

  it('streams raw watch events with watch=1, and BOOKMARKs only when asked', async () => {
    const ctl = new AbortController();
    stoppers.push(async () => ctl.abort());
    const open = async (query: string) => {
      const r = await fetch(`${api.url}/api/v1/namespaces/kube-system/services?watch=1&${query}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ctl.signal });
      expect(r.status).toBe(200);
      const lines: { type: string; object: { metadata: { name?: string; resourceVersion: string } } }[] = [];
      void (async () => {
        let buf = '';
        for await (const chunk of r.body!) {
          buf += Buffer.from(chunk).toString('utf8');
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            lines.push(JSON.parse(buf.slice(0, i)));
            buf = buf.slice(i + 1);
          }
        }
      })().catch(() => undefined);
      return lines;
    };
    const withMarks = await open('allowWatchBookmarks=true');
    const plain = await open('');
    await until('initial ADDED', () => withMarks.length === 1 && plain.length === 1);
    expect(withMarks[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'kube-dns' } } });
    // A change elsewhere (web's endpoints): no kube-system service changed, only the version moved.
    await fetch(`${api.url}/apis/apps/v1/namespaces/default/deployments/web/scale`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { replicas: 3 } }),
    });
    await until('bookmark', () => withMarks.length === 2);
    const rv = (await kc.makeApiClient(CoreV1Api).listNamespacedService({ namespace: 'kube-system' })).metadata!.resourceVersion;
    expect(withMarks[1]).toEqual({ type: 'BOOKMARK', object: { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: rv } } });
    expect(plain).toHaveLength(1);
    ctl.abort();
  });

  it('refuses a missing or wrong token with 401', async () => {
    const tries: Record<string, string>[] = [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: TOKEN }];
    for (const headers of tries) {
      const r = await fetch(`${api.url}/api/v1/pods`, { headers });
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    }
    const wrong = new KubeConfig();
    wrong.loadFromString(readFileSync(join(dir, 'kubeconfig'), 'utf8').replace(TOKEN, 'not-the-token'));
    await expect(wrong.makeApiClient(CoreV1Api).listNode()).rejects.toMatchObject({ code: 401 });
  });
});

describe('resourceVersion expiry', () => {
  it('answers a stale resourceVersion with 410 Gone, and an informer relists', async () => {
    let m = base();
    // Restarted on its port below: one no outgoing connection can take meanwhile.
    const { value: small, port } = await listenBelowEphemeral((p) => startLabApi({ model: m, token: TOKEN, tls: TLS, historyLimit: 4, port: p }));
    stoppers.push(() => small.close());
    const cfg = new KubeConfig();
    cfg.loadFromString(readFileSync(join(dir, 'kubeconfig'), 'utf8').replace(api.url, small.url));
    const core = cfg.makeApiClient(CoreV1Api);
    const stale = (await core.listPodForAllNamespaces()).metadata!.resourceVersion!;
    for (const n of [3, 4, 1]) small.setModel((m = scaleDeployment(m, 'default', 'web', n).model));

    // A list of that exact version is gone too: HTTP 410 with a Status, as the real API answers.
    await expect(core.listPodForAllNamespaces({ resourceVersion: stale, resourceVersionMatch: 'Exact' })).rejects.toMatchObject({ code: 410 });
    const gone = await fetch(`${small.url}/api/v1/pods?resourceVersion=${stale}&resourceVersionMatch=Exact`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(gone.status).toBe(410);
    expect(await gone.json()).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });

    const events: { type: string; code?: number }[] = [];
    const done = new Promise<unknown>((resolve) => {
      void new Watch(cfg).watch('/api/v1/pods', { resourceVersion: stale }, (type, obj: { code?: number }) => events.push({ type, code: obj.code }), resolve);
    });
    await done;
    expect(events).toEqual([{ type: 'ERROR', code: 410 }]);

    // An informer whose version went stale (here: the server restarted) relists and converges.
    let lists = 0;
    const inf = makeInformer(cfg, '/api/v1/pods', () => {
      lists++;
      return core.listPodForAllNamespaces();
    });
    const errors: unknown[] = [];
    inf.on('error', (e) => errors.push(e));
    stoppers.push(() => inf.stop());
    await inf.start();
    await until('first list', () => inf.list().length === m.pods.length);
    await small.close();
    await until('watch error after the server went away', () => errors.length > 0);
    m = scaleDeployment(m, 'default', 'web', 3).model;
    const again = await startLabApi({ model: m, token: TOKEN, tls: TLS, port });
    stoppers.push(() => again.close());
    await inf.start();
    await until('relist after 410', () => lists === 2 && inf.list().length === m.pods.length);
    expect(inf.list().map((p) => p.metadata?.name).sort()).toEqual(m.pods.map((p) => p.name).sort());
  });
});
