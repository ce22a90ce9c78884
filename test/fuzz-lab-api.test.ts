// The lab API against seeded garbage: 10k authenticated requests over keep-alive connections
// from several clients at once, with generated paths (odd segments, bad percent-encoding),
// queries (label and field selectors, resourceVersions, timeouts, watch flags) and Deployment
// scale bodies (near-valid patches with one thing wrong at any depth, random JSON, invalid UTF-8,
// over the size bound) under every content type. Every answer is a Kubernetes Status with a 4xx
// code naming what was wrong (never a 500, never a dropped connection), and a well-behaved
// client beside them keeps listing and keeps its watch fed with the scales it makes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { startLabApi, type LabApi } from '../agent/src/lab/api-server.ts';
import { expandTopology, scaleDeployment, type ClusterModel } from '../agent/src/lab/model.ts';
import { parseTopology } from '../agent/src/lab/topology.ts';
import { MAX_GAP_MS, fuzzJsonText, fuzzString, heapAfterGc, invalidUtf8, longestGap, mutateJson, rng, type Rng } from './fuzz-helpers.ts';

const TOKEN = 'fuzz-lab-api-token-0123456789';
const SEED = Number(process.env.HOPSCOPE_FUZZ_SEED ?? 20261206);
const REQUESTS = 10_000;
const WORKERS = 6;

let model: ClusterModel;
let api: LabApi;

beforeAll(async () => {
  model = expandTopology(parseTopology(readFileSync('agent/src/lab/topologies/default.yaml', 'utf8')));
  api = await startLabApi({
    model,
    token: TOKEN,
    onScale: async (ns, name, replicas) => (model = scaleDeployment(model, ns, name, replicas).model),
  });
});

afterAll(async () => {
  await api?.close();
});

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Answer {
  status: number;
  body: string;
}

function send(agent: Agent, q: Req, watch = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(api.url);
    const req = request({ agent, ca: api.ca, host: u.hostname, port: u.port, method: q.method, path: q.path, headers: q.headers }, (res) => {
      const chunks: Buffer[] = [];
      // A watch streams until its timeout: its status and first line say enough.
      if (watch && res.statusCode === 200) {
        res.once('data', (d: Buffer) => {
          resolve({ status: 200, body: d.toString() });
          res.destroy();
        });
        return;
      }
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(q.body);
  });
}

const NAMES = ['default', 'web', 'client', 'kube-system', 'kube-dns', 'node-1', 'web-0'];
const PATHS = [
  '/version', '/api', '/apis', '/api/v1', '/apis/apps', '/apis/apps/v1', '/apis/discovery.k8s.io/v1',
  '/api/v1/pods', '/api/v1/namespaces/default/pods', '/api/v1/namespaces/default/pods/web-0', '/api/v1/nodes', '/api/v1/nodes/node-1',
  '/api/v1/namespaces', '/api/v1/namespaces/default/services/web', '/apis/apps/v1/namespaces/default/deployments',
  '/apis/apps/v1/namespaces/default/deployments/web/scale', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices',
];
const QUERY_KEYS = ['labelSelector', 'fieldSelector', 'resourceVersion', 'resourceVersionMatch', 'watch', 'timeoutSeconds', 'allowWatchBookmarks', 'limit', 'continue', 'as'];
const SELECTOR_BITS = ['app', '=', '==', '!=', 'in', 'notin', '(', ')', ',', ' ', '!', 'web', 'metadata.name', 'status.phase', 'spec.nodeName', 'x/y', '-', '.'];

/** A path segment as a client could send it: encoded text, bad escapes, or nothing. */
function segment(r: Rng): string {
  switch (r.int(5)) {
    case 0:
      return encodeURIComponent(fuzzString(r, 40).replace(/[\uD800-\uDFFF]/g, 'x'));
    case 1:
      return r.pick(['%', '%zz', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%00', '..', '.', '%2F']);
    case 2:
      return '';
    default:
      return r.pick(NAMES);
  }
}

function queryValue(r: Rng): string {
  switch (r.int(6)) {
    case 0: {
      let s = '';
      for (let i = 0, n = r.int(8); i < n; i++) s += r.pick(SELECTOR_BITS);
      return s;
    }
    case 1:
      return fuzzString(r, 60);
    case 2:
      return r.pick(['0', '-1', '1', 'true', '1e400', 'NaN', '99999999999999999999999', '4294967296', '']);
    default:
      return String(r.int(100));
  }
}

function path(r: Rng): string {
  let p = r.pick(PATHS);
  if (r.chance(0.35)) {
    const parts = p.split('/');
    const i = 1 + r.int(parts.length - 1);
    if (r.chance(0.7)) parts[i] = segment(r);
    else parts.splice(i, 0, segment(r));
    p = parts.join('/');
  }
  const params: string[] = [];
  for (let i = 0, n = r.int(4); i < n; i++) {
    const key = r.chance(0.85) ? r.pick(QUERY_KEYS) : segment(r);
    // Mostly well-encoded values, sometimes raw escapes that are not.
    params.push(`${key}=${r.chance(0.9) ? encodeURIComponent(queryValue(r).replace(/[\uD800-\uDFFF]/g, 'x')) : r.pick(['%', '%G1', '%E0%A4'])}`);
  }
  // Watches end by themselves within a second (timeoutSeconds), or are cut by the client.
  if (params.some((x) => x.startsWith('watch='))) params.push('timeoutSeconds=1');
  return params.length ? `${p}?${params.join('&')}` : p;
}

const SCALE_BODIES: Record<string, unknown>[] = [
  { spec: { replicas: 2 } },
  { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 3 } },
  { ops: [{ op: 'replace', path: '/spec/replicas', value: 2 }] },
];
const CONTENT_TYPES = ['application/json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml', 'text/plain', ''];

function body(r: Rng): Buffer {
  switch (r.int(6)) {
    case 0:
    case 1:
    case 2: {
      const text = mutateJson(r, r.pick(SCALE_BODIES));
      // The JSON patch is an array at the top: the template wraps it for mutateJson.
      return Buffer.from(text.startsWith('{"ops":') ? text.slice('{"ops":'.length, -1) : text);
    }
    case 3:
      return Buffer.from(fuzzJsonText(r, 5));
    case 4:
      return invalidUtf8(r);
    default:
      return r.chance(0.2) ? Buffer.alloc(64 * 1024 + 1 + r.int(1000), 0x20) : Buffer.from(fuzzString(r, 500));
  }
}

function generate(r: Rng): Req {
  const k = r.int(100);
  const headers: Record<string, string> = { Authorization: r.chance(0.97) ? `Bearer ${TOKEN}` : `Bearer ${fuzzString(r, 20).replace(/[^\x21-\x7e]/g, 'x')}` };
  if (k < 55) return { method: r.chance(0.9) ? 'GET' : r.pick(['HEAD', 'DELETE', 'POST', 'OPTIONS']), path: path(r), headers };
  const scalePath = r.chance(0.85) ? '/apis/apps/v1/namespaces/default/deployments/web/scale' : path(r);
  const b = body(r);
  return {
    method: r.pick(['PATCH', 'PATCH', 'PUT', 'POST']),
    path: scalePath,
    headers: { ...headers, 'Content-Type': r.pick(CONTENT_TYPES), 'Content-Length': String(b.length) },
    body: b,
  };
}

const ALLOWED = new Set([200, 400, 401, 404, 405, 410, 413, 422, 429]);

interface Tally {
  n: number;
  byStatus: Map<number, number>;
  bad: string[];
}

function check(t: Tally, q: Req, a: Answer): void {
  t.n++;
  t.byStatus.set(a.status, (t.byStatus.get(a.status) ?? 0) + 1);
  const what = `${q.method} ${q.path.slice(0, 200)} → ${a.status} ${a.body.slice(0, 200)}`;
  if (!ALLOWED.has(a.status)) t.bad.push(what);
  if (q.method === 'HEAD' || a.status === 200) return;
  try {
    const s = JSON.parse(a.body) as { kind?: unknown; code?: unknown; message?: unknown };
    if (s.kind !== 'Status' || s.code !== a.status || typeof s.message !== 'string' || s.message.length === 0) t.bad.push(`not a Status: ${what}`);
  } catch {
    t.bad.push(`not JSON: ${what}`);
  }
}

async function worker(r: Rng, t: Tally, share: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < share; i++) {
      const q = generate(r);
      const watch = /[?&]watch=(1|true)(&|$)/.test(q.path);
      let a: Answer;
      try {
        a = await send(agent, q, watch);
      } catch (e) {
        // A 413 may be answered before the whole body is read: the server then ends the
        // connection under the rest of our upload. Anything else dropping the connection is a bug.
        if (q.body && q.body.length > 64 * 1024) {
          t.n++;
          continue;
        }
        t.bad.push(`${q.method} ${q.path.slice(0, 200)}: ${(e as Error).message}`);
        continue;
      }
      check(t, q, a);
    }
  } finally {
    agent.destroy();
  }
}

describe('lab API fuzz', () => {
  it(`answers ${REQUESTS} generated requests from ${WORKERS} clients with a Status, never a 500 (seed ${SEED}); a well-behaved client keeps working`, async () => {
    const good = new Agent({ keepAlive: true });
    const auth = { Authorization: `Bearer ${TOKEN}` };
    // The well-behaved client's watch on deployments: it must see the scales it makes below.
    const modified: number[] = [];
    let watchBuf = '';
    const watchReq = request(`${api.url}/apis/apps/v1/namespaces/default/deployments?watch=true`, { headers: auth, ca: api.ca }, (res) => {
      res.on('data', (d: Buffer) => {
        watchBuf += d.toString();
        let nl: number;
        while ((nl = watchBuf.indexOf('\n')) >= 0) {
          const ev = JSON.parse(watchBuf.slice(0, nl)) as { type: string; object: { metadata: { name: string } } };
          watchBuf = watchBuf.slice(nl + 1);
          if (ev.type === 'MODIFIED' && ev.object.metadata.name === 'web') modified.push(Date.now());
        }
      });
    });
    watchReq.on('error', () => undefined);
    watchReq.end();

    let running = true;
    const goodFailures: string[] = [];
    let goodRounds = 0;
    const goodLoop = (async () => {
      for (let i = 0; running; i++) {
        const list = await send(good, { method: 'GET', path: '/api/v1/namespaces/default/pods', headers: auth });
        if (list.status !== 200 || !(JSON.parse(list.body) as { items: { metadata: { name: string } }[] }).items.some((p) => p.metadata.name === 'client'))
          goodFailures.push(`list: ${list.status} ${list.body.slice(0, 200)}`);
        // Replicas 1 and 2 in turn (the fuzzers scale it too: most of these still change it).
        const body = Buffer.from(JSON.stringify({ spec: { replicas: 1 + (i % 2) } }));
        const scaled = await send(good, {
          method: 'PATCH',
          path: '/apis/apps/v1/namespaces/default/deployments/web/scale',
          headers: { ...auth, 'Content-Type': 'application/merge-patch+json', 'Content-Length': String(body.length) },
          body,
        });
        if (scaled.status !== 200) goodFailures.push(`scale: ${scaled.status} ${scaled.body.slice(0, 200)}`);
        goodRounds++;
        await new Promise((res) => setTimeout(res, 100));
      }
    })();

    const warm: Tally = { n: 0, byStatus: new Map(), bad: [] };
    await worker(rng(SEED - 1), warm, 200);
    const heapBefore = heapAfterGc();
    const t: Tally = { n: 0, byStatus: new Map(), bad: [] };
    const started = Date.now();
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(rng(SEED + w), t, Math.ceil(REQUESTS / WORKERS))));
    const ended = Date.now();
    running = false;
    await goodLoop;
    console.log(`lab API fuzz: ${t.n} requests in ${((ended - started) / 1000).toFixed(1)} s, by status ${JSON.stringify(Object.fromEntries(t.byStatus))}; good client ${goodRounds} rounds`);

    // One line per kind of failure (the status and the start of the message), with an example.
    const kinds = new Map<string, string>();
    for (const b of t.bad) kinds.set(b.replace(/^.*? → /, '').slice(0, 120), b);
    expect([...kinds.values()]).toEqual([]);
    expect(t.n).toBeGreaterThanOrEqual(REQUESTS);
    expect(t.byStatus.get(200) ?? 0).toBeGreaterThan(REQUESTS / 20);
    expect(goodFailures).toEqual([]);
    // The watch saw the good client's scales throughout the run.
    expect(longestGap(modified, started, ended)).toBeLessThan(MAX_GAP_MS);
    watchReq.destroy();
    good.destroy();

    await new Promise((res) => setTimeout(res, 1500));
    expect(api.openWatches()).toBe(0);
    const grown = heapAfterGc() - heapBefore;
    console.log(`lab API fuzz: heap grew ${(grown / 1e6).toFixed(1)} MB`);
    expect(grown).toBeLessThan(32e6);
  }, 120_000);
});
