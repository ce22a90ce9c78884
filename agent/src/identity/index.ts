// The identity index: Kubernetes informers (list + watch) for pods, services, EndpointSlices and
// nodes feeding the pure index (index-state.ts), plus a netns owner source. Thin I/O: relists on
// 410 (the informer does), restarts with backoff after errors, and reports `synced` honestly.
import { CoreV1Api, DiscoveryV1Api, KubeConfig, ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { PodRef, ServiceRef } from '../protocol/events.ts';
import { WATCHED_KINDS, applyList, applyUpdate, buildLookups, emptyState, lookupService, trimObject, type IndexState, type Lookups, type WatchedKind } from './index-state.ts';
import { nodeNetnsInodes, type NetnsSource } from './netns.ts';
import type { IdentityLookup, NetnsOwner } from './types.ts';

export { labNetnsSource, procNetnsSource, type NetnsSource } from './netns.ts';

/** Counters of one watched kind. */
export interface KindStats {
  synced: boolean;
  objects: number;
  lists: number;
  events: number;
  /** Events that changed nothing: an older or the same version (the informer replays a relist). */
  stale: number;
  errors: number;
  lastError?: string;
}

/** Counters of the whole index. */
export interface IdentityStats {
  synced: boolean;
  kinds: Record<WatchedKind, KindStats>;
  netns: { source: string; owners: number; reads: number; errors: number; lastError?: string };
}

/** The informer-backed IdentityLookup. */
export interface IdentityIndex extends IdentityLookup {
  /** Called after every change (objects, synced state or netns owners); returns an unsubscribe. */
  onChange(cb: () => void): () => void;
  /** Network namespaces whose owner is on this node (its own and its pods'), by inode. */
  nodeNetns(node: string): number[];
  /** Backends of a service from its EndpointSlices. */
  serviceEndpoints(namespace: string, name: string): { ip: string; port: number; proto: 'tcp' | 'udp'; ready: boolean; portName: string; pod?: PodRef }[];
  close(): Promise<void>;
  stats(): IdentityStats;
}

/** Options of createIdentityIndex. */
export interface IdentityIndexOptions {
  /** Kubeconfig file; default as client-node finds one: $KUBECONFIG, ~/.kube/config, the in-cluster service account. */
  kubeconfigPath?: string;
  /** null: there is no cluster to ask (nothing is watched; only netns owners name things). */
  kubeConfig?: KubeConfig | null;
  netns: NetnsSource;
  /** Wait at most this long for the first full sync before resolving unsynced. Default 10 s. */
  initialSyncTimeoutMs?: number;
  /** Re-read netns owners this often even without pod changes. Default 5 s. */
  netnsRefreshMs?: number;
  /** Backoff after errors: first delay and cap. Default 250 ms .. 5 s. */
  backoffMs?: { initial: number; max: number };
}

/**
 * A Watch that can be shut for good. client-node 1.4's ListWatch holds a watch's request only
 * once its fetch has answered, and it opens a watch after its list even when stopped meanwhile:
 * a stop() while it relists or re-watches (its first start, after a cut watch, after a 410)
 * finds nothing to abort, and the watch then opens and stays open. So every watch goes through
 * here: shut() aborts those open and those still connecting once they answer, and opens none after.
 */
class ShuttableWatch extends Watch {
  private readonly open = new Set<AbortController>();
  private readonly connecting = new Set<Promise<AbortController>>();
  private isShut = false;

  /** `trim`: what of an object the informer (and its cache) gets to keep. */
  constructor(kc: KubeConfig, private readonly trim: (o: KubernetesObject) => KubernetesObject) {
    super(kc);
  }

  override async watch(...[path, query, callback, done]: Parameters<Watch['watch']>): Promise<AbortController> {
    // The informer then waits on a request that never ends: it stays idle, as a stopped one should.
    if (this.isShut) return new AbortController();
    let ended = false;
    let mine: AbortController | undefined;
    const trimmed: typeof callback = (phase, obj, raw) =>
      // ERROR (a Status) and BOOKMARK go on as they are: the informer reads their code or version.
      callback(phase, phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? this.trim(obj as KubernetesObject) : obj, raw);
    const connect = super.watch(path, query, trimmed, (err: unknown) => {
      ended = true;
      if (mine) this.open.delete(mine);
      done(err);
    });
    this.connecting.add(connect);
    let controller: AbortController;
    try {
      controller = await connect;
    } finally {
      this.connecting.delete(connect);
    }
    if (this.isShut) controller.abort();
    else if (!ended) this.open.add((mine = controller));
    return controller;
  }

  /**
   * Resolves once no watch is connecting either (at most `graceMs`: the fetch itself cannot be
   * aborted from here, and a server that never answers must not hold a shutdown up).
   */
  async shut(graceMs: number): Promise<void> {
    this.isShut = true;
    for (const c of this.open) c.abort();
    this.open.clear();
    if (this.connecting.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.connecting]), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }
}

/** Longest close() waits for a watch that is still connecting (a live API server answers in ms). */
const SHUT_GRACE_MS = 2000;

const PATHS: Record<WatchedKind, string> = {
  pods: '/api/v1/pods',
  services: '/api/v1/services',
  endpointslices: '/apis/discovery.k8s.io/v1/endpointslices',
  nodes: '/api/v1/nodes',
};

function errText(e: unknown): string {
  const err = e as { message?: string; code?: number; statusCode?: number; body?: unknown };
  const code = err?.code ?? err?.statusCode;
  return `${typeof code === 'number' ? `HTTP ${code}: ` : ''}${err?.message ?? String(e)}`;
}

function isAuthError(e: unknown): boolean {
  const err = e as { code?: number; statusCode?: number };
  return err?.code === 401 || err?.code === 403 || err?.statusCode === 401 || err?.statusCode === 403;
}

/** Build the index and wait (bounded) for its first sync. Rejects on bad credentials. */
export async function createIdentityIndex(opts: IdentityIndexOptions): Promise<IdentityIndex> {
  // NOTE: with no cluster, client-node's default is http://localhost:8080, which would make
  // every start wait the whole initial sync time for an API that is not there.
  const noCluster = opts.kubeConfig === null;
  const kc = opts.kubeConfig ?? new KubeConfig();
  if (!opts.kubeConfig && !noCluster) {
    try {
      if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
      else kc.loadFromDefault();
    } catch (e) {
      throw new Error(`identity index: cannot load kubeconfig ${opts.kubeconfigPath ?? '(default)'}: ${(e as Error).message}`);
    }
    if (!kc.getCurrentCluster()) throw new Error(`identity index: kubeconfig ${opts.kubeconfigPath ?? '(default)'} names no current cluster`);
  }
  // Made only when a lister runs: with no cluster none does (and makeApiClient would throw).
  let clients: { core: CoreV1Api; discovery: DiscoveryV1Api } | undefined;
  const api = () => (clients ??= { core: kc.makeApiClient(CoreV1Api), discovery: kc.makeApiClient(DiscoveryV1Api) });
  const listers: Record<WatchedKind, () => Promise<KubernetesListObject<KubernetesObject>>> = {
    pods: () => api().core.listPodForAllNamespaces(),
    services: () => api().core.listServiceForAllNamespaces(),
    endpointslices: () => api().discovery.listEndpointSliceForAllNamespaces(),
    nodes: () => api().core.listNode(),
  };
  const backoff = opts.backoffMs ?? { initial: 250, max: 5000 };

  const state: IndexState = emptyState();
  let lookups: Lookups | undefined;
  let netnsOwners = new Map<number, NetnsOwner>();
  const listeners = new Set<() => void>();
  let closed = false;
  const netnsStats: IdentityStats['netns'] = { source: opts.netns.name, owners: 0, reads: 0, errors: 0 };

  const notify = (): void => {
    for (const cb of [...listeners]) {
      try {
        cb();
      } catch {
        // a listener's failure is its own; the index goes on
      }
    }
  };
  const changed = (kind: WatchedKind): void => {
    lookups = undefined;
    if (kind === 'pods') scheduleNetnsRead();
    notify();
  };
  const tables = (): Lookups => (lookups ??= buildLookups(state));

  // --- netns owners: re-read on pod changes (debounced), periodically, and on a miss ---
  let netnsTimer: NodeJS.Timeout | undefined;
  let netnsReading = false;
  let netnsAgain = false;
  let lastMissRead = 0;
  async function readNetns(): Promise<void> {
    if (closed) return;
    if (netnsReading) {
      netnsAgain = true;
      return;
    }
    netnsReading = true;
    try {
      const owners = await opts.netns.read({ podByUid: (uid) => tables().podByUid.get(uid), podByContainerId: (id) => tables().podByContainerId.get(id) });
      netnsStats.reads++;
      const before = JSON.stringify([...netnsOwners]);
      netnsOwners = owners;
      netnsStats.owners = owners.size;
      if (JSON.stringify([...owners]) !== before) notify();
    } catch (e) {
      netnsStats.errors++;
      netnsStats.lastError = errText(e);
    } finally {
      netnsReading = false;
    }
    if (netnsAgain) {
      netnsAgain = false;
      void readNetns();
    }
  }
  function scheduleNetnsRead(): void {
    if (closed || netnsTimer) return;
    netnsTimer = setTimeout(() => {
      netnsTimer = undefined;
      void readNetns();
    }, 100);
  }
  const netnsInterval = setInterval(() => void readNetns(), opts.netnsRefreshMs ?? 5000);
  netnsInterval.unref();

  // --- one reflector per kind ---
  class Reflector {
    synced = false;
    stats: KindStats = { synced: false, objects: 0, lists: 0, events: 0, stale: 0, errors: 0 };
    private informer?: { inf: ListWatch<KubernetesObject>; watch: ShuttableWatch };
    private generation = 0;
    private failures = 0;
    private timer?: NodeJS.Timeout;
    firstError?: unknown;

    constructor(private readonly kind: WatchedKind) {}

    private setSynced(v: boolean): void {
      if (this.synced === v) return;
      this.synced = v;
      this.stats.synced = v;
      notify();
    }

    start(): void {
      if (closed) return;
      const gen = ++this.generation;
      const live = (): boolean => !closed && gen === this.generation;
      const kind = this.kind;
      // NOTE: the list goes through us, so a relist (first start, after 410, after an error)
      // replaces the kind wholesale and `synced` is false exactly while it runs.
      const trim = (o: KubernetesObject): KubernetesObject => trimObject(kind, o as never) as KubernetesObject;
      const watch = new ShuttableWatch(kc, trim);
      const inf = new ListWatch<KubernetesObject>(PATHS[kind], watch, async () => {
        if (live()) this.setSynced(false);
        const list = await listers[kind]();
        // NOTE: the informer caches the items it is given, as it caches what a watch delivers:
        // trimmed here (and in the watch), no copy of a whole object stays anywhere.
        list.items = list.items.map(trim);
        if (live()) {
          applyList(state, kind, list.items as never[]);
          this.stats.lists++;
          this.stats.objects = state[kind].size;
          this.failures = 0;
          changed(kind);
          this.setSynced(true);
        }
        return list;
      }, false);
      const onEvent = (type: 'ADDED' | 'MODIFIED' | 'DELETED') => (obj: KubernetesObject) => {
        if (!live()) return;
        this.stats.events++;
        if (applyUpdate(state, { kind, type, object: obj as never })) {
          this.stats.objects = state[kind].size;
          changed(kind);
        } else this.stats.stale++;
      };
      inf.on('add', onEvent('ADDED'));
      inf.on('update', onEvent('MODIFIED'));
      inf.on('delete', onEvent('DELETED'));
      inf.on('error', (err: unknown) => {
        if (live()) this.fail(err);
      });
      this.informer = { inf, watch };
      inf.start().catch((err: unknown) => {
        if (live()) this.fail(err);
      });
    }

    private async halt(informer: Reflector['informer']): Promise<void> {
      if (!informer) return;
      const shut = informer.watch.shut(SHUT_GRACE_MS); // first: no watch opens from here on
      await informer.inf.stop().catch(() => undefined);
      await shut;
    }

    /** The informer gives up after an error: start a fresh one (which relists) after a backoff. */
    private fail(err: unknown): void {
      this.stats.errors++;
      this.stats.lastError = errText(err);
      this.firstError ??= err;
      this.setSynced(false);
      this.generation++; // silence the old informer before stopping it (stop reports an abort)
      void this.halt(this.informer);
      this.informer = undefined;
      const delay = Math.min(backoff.max, backoff.initial * 2 ** this.failures++);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.start(), delay * (0.8 + Math.random() * 0.4));
    }

    async stop(): Promise<void> {
      this.generation++;
      clearTimeout(this.timer);
      const informer = this.informer;
      this.informer = undefined;
      await this.halt(informer);
    }
  }

  const reflectors = Object.fromEntries(WATCHED_KINDS.map((k) => [k, new Reflector(k)])) as Record<WatchedKind, Reflector>;
  // Without a cluster there is nothing to be out of date with: names are as complete as they get.
  const allSynced = (): boolean => !closed && (noCluster || WATCHED_KINDS.every((k) => reflectors[k].synced));

  const index: IdentityIndex = {
    get synced() {
      return allSynced();
    },
    podByIp: (ip) => tables().podByIp.get(ip),
    nodeByIp: (ip) => tables().nodeByIp.get(ip),
    serviceByAddr: (ip, port, proto): ServiceRef | undefined => lookupService(tables(), ip, port, proto),
    netnsOwner: (inode) => {
      const o = netnsOwners.get(inode);
      if (!o && Date.now() - lastMissRead > 1000) {
        // A new pod's netns: look again soon (at most once a second), this lookup stays unnamed.
        lastMissRead = Date.now();
        scheduleNetnsRead();
      }
      return o;
    },
    podIps: (namespace, name) => [...(tables().podIps.get(`${namespace}/${name}`) ?? [])],
    serviceIps: (namespace, name) => [...(tables().serviceIps.get(`${namespace}/${name}`) ?? [])],
    nodeNetns: (node) => nodeNetnsInodes(netnsOwners, node),
    serviceEndpoints: (namespace, name) => [...(tables().endpoints.get(`${namespace}/${name}`) ?? [])],
    onChange: (cb) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    stats: () => ({
      synced: allSynced(),
      kinds: Object.fromEntries(WATCHED_KINDS.map((k) => [k, { ...reflectors[k].stats }])) as Record<WatchedKind, KindStats>,
      netns: { ...netnsStats },
    }),
    close: async () => {
      if (closed) return;
      closed = true;
      clearInterval(netnsInterval);
      clearTimeout(netnsTimer);
      await Promise.all(WATCHED_KINDS.map((k) => reflectors[k].stop()));
      listeners.clear();
    },
  };

  if (!noCluster) for (const k of WATCHED_KINDS) reflectors[k].start();
  const deadline = Date.now() + (opts.initialSyncTimeoutMs ?? 10_000);
  while (!allSynced() && Date.now() < deadline) {
    const authErr = WATCHED_KINDS.map((k) => reflectors[k].firstError).find(isAuthError);
    if (authErr) {
      await index.close();
      throw new Error(`identity index: the Kubernetes API refused our credentials (${errText(authErr)})`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await readNetns();
  return index;
}
