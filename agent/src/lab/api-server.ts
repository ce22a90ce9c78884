// The lab's Kubernetes-compatible API: serves a ClusterModel over HTTPS (list, get, watch,
// Deployment scale) so @kubernetes/client-node and kubectl work against the lab as against a
// real cluster. Thin HTTPS on node:https; objects, selectors and history are pure modules.
// Besides its TCP port it may listen on a Unix socket: the lab's in-namespace forwarder relays
// connections from inside the lab there (TLS still ends here, so clients verify the lab CA).
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { release } from 'node:os';
import { dirname } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { ClusterModel } from './model.ts';
import { LAB_KUBE_VERSION, RESOURCES, RESOURCE_NAMES, apiVersionOf, type K8sObject, type ResourceName } from './k8s-objects.ts';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector, type FieldRequirement, type LabelRequirement } from './k8s-selectors.ts';
import { ObjectStore, type StoreEvent } from './k8s-store.ts';
import { negotiate, toTable, type IncludeObject, type TableVersion } from './k8s-table.ts';
import { API_GROUPS, aggregatedDiscovery, apiGroup, discoveryResources, type DiscoveryVersion } from './k8s-discovery.ts';
import { makeLabTls, type LabTls } from './tls.ts';

/** A running lab API server. */
export interface LabApi {
  /** Base URL, e.g. https://127.0.0.1:41234 */
  url: string;
  /** PEM of the CA that signed the serving certificate (what a client must trust). */
  ca: string;
  /** Replace the served model; the differences go out to watches as events. */
  setModel(m: ClusterModel): void;
  /** End every open watch stream (as a restarting API server would); clients re-watch. */
  dropWatches(): void;
  /** Watch streams open right now. */
  openWatches(): number;
  close(): Promise<void>;
}

/** Options of startLabApi. */
export interface LabApiOptions {
  model: ClusterModel;
  /** Bearer token clients must present. */
  token: string;
  /** Default 127.0.0.1: the lab API is for this machine only. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Apply a Deployment scale (build/remove pods) and return the new model. Without it scale is refused. */
  onScale?: (namespace: string, name: string, replicas: number) => Promise<ClusterModel>;
  /** Watch events kept for resuming watches; older resourceVersions get 410 Gone. Default 1000. */
  historyLimit?: number;
  /** Serving certificate and its CA; default a fresh CA and a certificate for the host. */
  tls?: LabTls;
  /** Also accept connections on this Unix socket (created mode 0600; removed on close). */
  socketPath?: string;
}

const MAX_BODY = 64 * 1024;
/** A watcher whose socket buffers more than this is cut off (it re-watches or relists). */
const MAX_WATCH_BUFFER = 4 * 1024 * 1024;
/** Open watches at once; more get 429 (each holds a socket and a slot in every broadcast). */
const MAX_WATCHES = 256;
/** Connections at once on TCP and the socket together; more are closed at accept. */
const MAX_CONNECTIONS = 512;

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** One path segment, percent-decoded; a bad escape is the client's error (400), not ours. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'BadRequest', `path segment "${s.slice(0, 100)}" is not valid percent-encoded UTF-8`);
  }
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function sendDiscovery(res: ServerResponse, which: 'core' | 'named', version: DiscoveryVersion): void {
  // NOTE: client-go tells the aggregated form from the legacy one by this content type alone.
  sendJson(res, 200, aggregatedDiscovery(which, version), `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`);
}

function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

function tokenDigest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** What a request addresses, after the /api/v1 or /apis/<group>/v1 prefix. */
type Target =
  | { type: 'list'; resource: ResourceName; namespace?: string }
  | { type: 'get'; resource: ResourceName; namespace?: string; name: string }
  | { type: 'scale'; namespace: string; name: string };

function resourceIn(group: string, name: string | undefined): ResourceName | undefined {
  return RESOURCE_NAMES.find((r) => r === name && RESOURCES[r].group === group);
}

function parseTarget(group: string, rest: string[]): Target | undefined {
  const [a, b, c, d, e, ...more] = rest;
  if (more.length > 0) return undefined;
  if (a === 'namespaces' && b !== undefined && c !== undefined) {
    if (group === 'apps' && c === 'deployments' && d !== undefined && e === 'scale') return { type: 'scale', namespace: b, name: d };
    if (e !== undefined) return undefined;
    const resource = resourceIn(group, c);
    if (!resource || !RESOURCES[resource].namespaced) return undefined;
    return d === undefined ? { type: 'list', resource, namespace: b } : { type: 'get', resource, namespace: b, name: d };
  }
  if (c !== undefined) return undefined;
  const resource = resourceIn(group, a);
  if (!resource) return undefined;
  if (b === undefined) return { type: 'list', resource };
  if (RESOURCES[resource].namespaced) return undefined;
  return { type: 'get', resource, name: b };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'RequestEntityTooLarge', `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A client's value quoted in an error: short, and safe for any depth (JSON.stringify recurses). */
function brief(v: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = undefined;
  }
  if (text === undefined) return typeof v;
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

/** replicas from a Scale PUT, a merge/strategic/apply patch or a JSON patch. */
export function replicasFromScaleBody(method: string, contentType: string, body: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'BadRequest', 'body is not valid JSON');
  }
  let value: unknown;
  if (method === 'PATCH' && contentType.startsWith('application/json-patch+json')) {
    if (!Array.isArray(parsed)) throw new HttpError(400, 'BadRequest', 'a JSON patch must be an array of operations');
    for (const op of parsed as unknown[]) {
      const o = typeof op === 'object' && op !== null ? (op as { op?: unknown; path?: unknown; value?: unknown }) : {};
      if ((o.op === 'replace' || o.op === 'add') && o.path === '/spec/replicas') value = o.value;
      else throw new HttpError(422, 'Invalid', `only replace/add of /spec/replicas is supported, got ${brief(op)}`);
    }
  } else {
    value = (parsed as { spec?: { replicas?: unknown } } | null)?.spec?.replicas;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
    throw new HttpError(422, 'Invalid', `spec.replicas must be a non-negative integer, got ${brief(value)}`);
  return value;
}

interface Watcher {
  resource: ResourceName;
  namespace?: string;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
  res: ServerResponse;
  /** The client asked for BOOKMARK events (allowWatchBookmarks=true). */
  bookmarks: boolean;
  /** The client asked for Table output (kubectl get -w): each event's object is a one-row Table. */
  table?: { version: TableVersion; include: IncludeObject };
}

function bookmark(r: ResourceName, rv: number): { type: 'BOOKMARK'; object: unknown } {
  return { type: 'BOOKMARK', object: { kind: RESOURCES[r].kind, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(rv) } } };
}

function matches(w: Pick<Watcher, 'namespace' | 'labels' | 'fields'>, o: K8sObject): boolean {
  if (w.namespace !== undefined && o.metadata.namespace !== w.namespace) return false;
  return matchLabels(w.labels, o.metadata.labels) && matchFields(w.fields, o);
}

/** The event a filtered watch sees for a store event (an object leaving the filter is DELETED for it). */
function filteredEvent(w: Watcher, e: StoreEvent): { type: string; object: K8sObject } | undefined {
  const now = matches(w, e.object);
  if (e.type !== 'MODIFIED' || !e.previous) return now ? { type: e.type, object: e.object } : undefined;
  const before = matches(w, e.previous);
  if (now && before) return { type: 'MODIFIED', object: e.object };
  if (now) return { type: 'ADDED', object: e.object };
  if (before) return { type: 'DELETED', object: e.object };
  return undefined;
}

const INCLUDE_OBJECT: readonly IncludeObject[] = ['None', 'Metadata', 'Object'];

/**
 * Whether a read asks for a Table (kubectl's `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`)
 * and what its rows carry of their objects; undefined for plain JSON. Refuses (406) an Accept
 * header that allows neither, as the real API does.
 */
function tableRequest(req: IncomingMessage, q: URLSearchParams): { version: TableVersion; include: IncludeObject } | undefined {
  const accept = req.headers.accept;
  const want = negotiate(accept);
  if (!want) throw new HttpError(406, 'NotAcceptable', `only application/json and application/json;as=Table;g=meta.k8s.io;v=v1|v1beta1 are served, not "${String(accept).slice(0, 200)}"`);
  if (want.type !== 'table') return undefined;
  // Rows carry their object's metadata unless asked otherwise: kubectl reads the namespace (-A)
  // and the labels (--show-labels, -L) from there.
  const include = q.get('includeObject') ?? 'Metadata';
  if (!(INCLUDE_OBJECT as readonly string[]).includes(include)) throw new HttpError(400, 'BadRequest', `includeObject must be one of ${INCLUDE_OBJECT.join(', ')}`);
  return { version: want.version, include: include as IncludeObject };
}

/** Start the lab API on loopback. */
export async function startLabApi(opts: LabApiOptions): Promise<LabApi> {
  if (!opts.token) throw new Error('lab API: a non-empty token is required');
  const tls = opts.tls ?? makeLabTls({ commonName: 'lab-api', ips: [opts.host ?? '127.0.0.1'], dnsNames: ['localhost'] });
  const wantToken = tokenDigest(`Bearer ${opts.token}`);
  const startTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  // NOTE: resourceVersions start from the clock so that after a restart every version a client
  // holds is older than the new history: its watch gets 410 and it relists, as after etcd compaction.
  const store = new ObjectStore(opts.model, {
    time: startTime,
    kernelVersion: release(),
    rvBase: Date.now() * 1000,
    historyLimit: opts.historyLimit ?? 1000,
  });
  const watchers = new Set<Watcher>();
  const sockets = new Set<Socket>();
  let scaleQueue: Promise<unknown> = Promise.resolve();
  let closed = false;

  const apply = (m: ClusterModel): void => {
    const events = store.setModel(m, new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
    if (events.length === 0) return;
    for (const w of watchers) {
      for (const e of events) if (e.resource === w.resource) writeEvent(w, filteredEvent(w, e));
      // A bookmark moves the client's version forward even when none of its objects changed, so
      // a re-watch after a cut does not fall out of the bounded history (what the real API does).
      if (w.bookmarks) writeEvent(w, bookmark(w.resource, store.resourceVersion));
    }
  };

  function writeEvent(w: Watcher, ev: { type: string; object: unknown } | undefined): void {
    if (!ev || w.res.destroyed) return;
    const asTable = w.table && ev.type !== 'ERROR' && ev.type !== 'BOOKMARK';
    const object = asTable ? toTable(w.resource, [ev.object as K8sObject], { ...w.table!, now: Date.now(), resourceVersion: (ev.object as K8sObject).metadata.resourceVersion }) : ev.object;
    w.res.write(`${JSON.stringify({ type: ev.type, object })}\n`);
    if (w.res.writableLength > MAX_WATCH_BUFFER) {
      // A reader this slow would make us hold unbounded memory; it relists or re-watches.
      watchers.delete(w);
      w.res.destroy();
    }
  }

  function startWatch(t: Extract<Target, { type: 'list' }>, q: URLSearchParams, res: ServerResponse, labels: LabelRequirement[], fields: FieldRequirement[], table: Watcher['table']): void {
    if (watchers.size >= MAX_WATCHES) throw new HttpError(429, 'TooManyRequests', `too many open watches (limit ${MAX_WATCHES})`);
    const w: Watcher = { resource: t.resource, namespace: t.namespace, labels, fields, res, bookmarks: q.get('allowWatchBookmarks') === 'true', table };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const rvText = q.get('resourceVersion');
    if (!rvText || rvText === '0') {
      // No version: the current state as ADDED events, then changes (what the real API does).
      for (const o of store.list(t.resource)) if (matches(w, o)) writeEvent(w, { type: 'ADDED', object: o });
    } else {
      const since = /^\d+$/.test(rvText) ? store.eventsSince(Number(rvText)) : 'expired';
      if (since === 'expired') {
        const msg = `too old resource version: ${rvText} (${store.oldestResumable})`;
        writeEvent(w, { type: 'ERROR', object: status(410, 'Expired', msg) });
        res.end();
        return;
      }
      for (const e of since) if (e.resource === t.resource) writeEvent(w, filteredEvent(w, e));
    }
    watchers.add(w);
    // The client's own limit, capped at a day (setTimeout overflows past 2^31 ms).
    const timeout = Math.min(Number(q.get('timeoutSeconds') ?? '0') || 0, 86_400);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      watchers.delete(w);
      if (timer) clearTimeout(timer);
    });
  }

  async function scale(req: IncomingMessage, res: ServerResponse, t: Extract<Target, { type: 'scale' }>): Promise<void> {
    const key = `${t.namespace}/${t.name}`;
    const scaleObject = (): Record<string, unknown> => {
      const d = store.get('deployments', key);
      if (!d) throw new HttpError(404, 'NotFound', `deployments.apps "${t.name}" not found`);
      const spec = d.spec as { replicas: number; selector: { matchLabels: Record<string, string> } };
      return {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: { name: t.name, namespace: t.namespace, uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion, creationTimestamp: d.metadata.creationTimestamp },
        spec: { replicas: spec.replicas },
        status: {
          replicas: (d.status as { replicas: number }).replicas,
          selector: Object.entries(spec.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(','),
        },
      };
    };
    if (req.method === 'GET') return sendJson(res, 200, scaleObject());
    if (req.method !== 'PATCH' && req.method !== 'PUT') throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not allowed on scale`);
    const body = await readBody(req);
    scaleObject(); // 404 before anything else
    if (!opts.onScale) throw new HttpError(403, 'Forbidden', 'this lab API is read-only (no scale handler)');
    const replicas = replicasFromScaleBody(req.method, String(req.headers['content-type'] ?? ''), body);
    const onScale = opts.onScale;
    // One scale at a time: each builds on the model the previous one produced.
    const run = scaleQueue.then(async () => {
      let m: ClusterModel;
      try {
        m = await onScale(t.namespace, t.name, replicas);
      } catch (e) {
        throw new HttpError(422, 'Invalid', (e as Error).message);
      }
      if (!closed) apply(m);
    });
    scaleQueue = run.catch(() => undefined);
    await run;
    sendJson(res, 200, scaleObject());
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = tokenDigest(String(req.headers.authorization ?? ''));
    if (!timingSafeEqual(auth, wantToken)) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
    const url = new URL(req.url ?? '/', 'http://lab');
    const parts = url.pathname.split('/').filter((s) => s.length > 0).map(decodeSegment);
    const q = url.searchParams;
    const isGet = req.method === 'GET';
    const path = `/${parts.join('/')}`;
    const group = API_GROUPS.find((g) => g === parts[1]);
    if (isGet) {
      // kubectl 1.26+ asks /api and /apis for aggregated discovery first (one request for all).
      const wants = path === '/api' || path === '/apis' ? negotiate(req.headers.accept, true) : undefined;
      const discovery = wants?.type === 'discovery' ? wants.version : undefined;
      switch (path) {
        case '/version':
          return sendJson(res, 200, {
            ...LAB_KUBE_VERSION,
            gitCommit: '',
            gitTreeState: 'clean',
            buildDate: startTime,
            goVersion: '',
            compiler: '',
            platform: 'linux/amd64',
          });
        case '/api':
          if (discovery) return sendDiscovery(res, 'core', discovery);
          return sendJson(res, 200, {
            kind: 'APIVersions',
            versions: ['v1'],
            serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: String(req.headers.host ?? '') }],
          });
        case '/apis':
          if (discovery) return sendDiscovery(res, 'named', discovery);
          return sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: API_GROUPS.map(apiGroup) });
        case '/api/v1':
          return sendJson(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'v1', resources: discoveryResources('') });
      }
      if (parts[0] === 'apis' && group && parts.length === 2) return sendJson(res, 200, apiGroup(group));
      if (parts[0] === 'apis' && group && parts.length === 3 && parts[2] === 'v1')
        return sendJson(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${group}/v1`, resources: discoveryResources(group) });
    }
    let target: Target | undefined;
    if (parts[0] === 'api' && parts[1] === 'v1') target = parseTarget('', parts.slice(2));
    else if (parts[0] === 'apis' && group && parts[2] === 'v1') target = parseTarget(group, parts.slice(3));
    if (!target) throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${req.method} ${path})`);
    if (target.type === 'scale') return scale(req, res, target);
    if (!isGet) throw new HttpError(405, 'MethodNotAllowed', `the lab API is read-only: ${req.method} ${path} is not allowed`);
    const info = RESOURCES[target.resource];
    const table = tableRequest(req, q);
    if (target.type === 'get') {
      const key = target.namespace ? `${target.namespace}/${target.name}` : target.name;
      const o = store.get(target.resource, key);
      if (!o) throw new HttpError(404, 'NotFound', `${target.resource} "${target.name}" not found`);
      return sendJson(res, 200, table ? toTable(target.resource, [o], { ...table, now: Date.now(), resourceVersion: o.metadata.resourceVersion }) : o);
    }
    let labels: LabelRequirement[];
    let fields: FieldRequirement[];
    try {
      labels = parseLabelSelector(q.get('labelSelector') ?? '');
      fields = parseFieldSelector(q.get('fieldSelector') ?? '', info.fields);
    } catch (e) {
      throw new HttpError(400, 'BadRequest', (e as Error).message);
    }
    const watch = q.get('watch');
    if (watch === '1' || watch === 'true') return startWatch(target, q, res, labels, fields, table);
    // Only the newest state is kept: an exact older version is gone, as after etcd compaction.
    const exact = q.get('resourceVersionMatch') === 'Exact' ? q.get('resourceVersion') : null;
    if (exact !== null && exact !== String(store.resourceVersion))
      throw new HttpError(410, 'Expired', `too old resource version: ${exact} (${store.resourceVersion})`);
    const filter = { namespace: target.namespace, labels, fields };
    const items = store.list(target.resource).filter((o) => matches(filter, o));
    if (table) return sendJson(res, 200, toTable(target.resource, items, { ...table, now: Date.now(), resourceVersion: String(store.resourceVersion) }));
    sendJson(res, 200, {
      kind: `${info.kind}List`,
      apiVersion: apiVersionOf(target.resource),
      metadata: { resourceVersion: String(store.resourceVersion) },
      items,
    });
  }

  const server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = e instanceof HttpError ? e : new HttpError(500, 'InternalError', (e as Error).message);
      if (res.headersSent) res.destroy();
      else sendJson(res, err.code, status(err.code, err.reason, err.message));
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // A handshake that fails (a client not trusting the CA) is the client's problem, not ours.
  server.on('tlsClientError', (_e, s) => s.destroy());
  const listen = (srv: { once: NetServer['once']; off: NetServer['off'] }, start: (done: () => void) => void): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      start(() => {
        srv.off('error', reject);
        resolve();
      });
    });
  await listen(server, (done) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', done));
  let unix: NetServer | undefined;
  if (opts.socketPath) {
    const path = opts.socketPath;
    // Connections on the socket are handed to the HTTPS server as if they came in on its port.
    const u = createNetServer((s) => {
      if (sockets.size >= MAX_CONNECTIONS) s.destroy();
      else server.emit('connection', s);
    });
    rmSync(path, { force: true });
    try {
      await listen(u, (done) => u.listen(path, done));
      chmodSync(path, 0o600);
    } catch (e) {
      await new Promise<void>((r) => server.close(() => r()));
      throw new Error(`lab API: cannot listen on ${path}: ${(e as Error).message}`);
    }
    unix = u;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  return {
    url: `https://${host}:${addr.port}`,
    ca: tls.caPem,
    setModel: (m) => {
      if (!closed) apply(m);
    },
    dropWatches: () => {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    openWatches: () => watchers.size,
    close: async () => {
      closed = true;
      for (const w of watchers) w.res.destroy();
      watchers.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      const unixDone = new Promise<void>((resolve) => (unix ? unix.close(() => resolve()) : resolve()));
      for (const s of sockets) s.destroy();
      await Promise.all([done, unixDone]);
      if (opts.socketPath) rmSync(opts.socketPath, { force: true });
    },
  };
}

/** Write a kubeconfig for the lab API (mode 0600: it holds the token); it carries the CA inline. */
export function writeKubeconfig(path: string, api: { url: string; token: string; ca: string }, name: string): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: api.url, 'certificate-authority-data': Buffer.from(api.ca).toString('base64') } }],
    users: [{ name, user: { token: api.token } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, toYaml(doc), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

