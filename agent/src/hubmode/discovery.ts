// How the hub finds its agents: on a cluster, the pods of the agent DaemonSet through the
// Kubernetes API (listed, then watched: agents come and go with nodes and rollouts); in the lab
// or by hand, a static list. The pod → agent mapping is pure; the watch is thin.
import { CoreV1Api, KubeConfig, makeInformer, type Informer, type ObjectCache, type V1Pod } from '@kubernetes/client-node';

/** One agent the hub should connect to. */
export interface AgentEndpoint {
  /** The node it traces (a DaemonSet pod's node name); names its lane. */
  name: string;
  /** Base URL, e.g. "http://10.0.0.5:4780/". */
  url: string;
}

/** A source of the agent set; `onChange` gets the whole current set each time it changes. */
export interface Discovery {
  readonly describe: string;
  start(onChange: (agents: AgentEndpoint[]) => void): Promise<void>;
  stop(): Promise<void>;
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Parse "node-1=http://127.0.0.1:4781,node-2=http://127.0.0.1:4782". Throws Error. */
export function parseAgentList(text: string): AgentEndpoint[] {
  const out: AgentEndpoint[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`--agents: expected name=url, got "${part.slice(0, 80)}"`);
    const name = part.slice(0, eq);
    if (!NAME.test(name)) throw new Error(`--agents: "${name.slice(0, 60)}" is not a node name`);
    let url: URL;
    try {
      url = new URL(part.slice(eq + 1));
    } catch {
      throw new Error(`--agents: "${part.slice(eq + 1, eq + 81)}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--agents: ${name}: only http:// and https:// agents`);
    if (url.username || url.password || url.search || url.hash) throw new Error(`--agents: ${name}: the URL must be scheme://host:port/ only (the token is given separately)`);
    if (out.some((a) => a.name === name)) throw new Error(`--agents: ${name} is listed twice`);
    out.push({ name, url: `${url.protocol}//${url.host}/` });
  }
  if (out.length === 0) throw new Error('--agents: no agents listed');
  return out;
}

/** A fixed agent set. */
export function staticDiscovery(agents: AgentEndpoint[]): Discovery {
  return {
    describe: `static list (${agents.map((a) => a.name).join(', ')})`,
    start: async (onChange) => onChange(agents),
    stop: async () => {},
  };
}

/**
 * Agents from the DaemonSet's pods: one per pod that is scheduled, has its node's address
 * (hostNetwork: the agent listens there) and is not being deleted. Readiness is left to the
 * connection itself: a starting agent is retried with backoff. Sorted by node name.
 */
export function agentsFromPods(pods: readonly V1Pod[], port: number, scheme: 'http' | 'https' = 'http'): AgentEndpoint[] {
  const byNode = new Map<string, AgentEndpoint>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    const ip = p.status?.hostIP;
    if (!node || !ip || p.metadata?.deletionTimestamp) continue;
    if (p.status?.phase && p.status.phase !== 'Running' && p.status.phase !== 'Pending') continue;
    const host = ip.includes(':') ? `[${ip}]` : ip;
    byNode.set(node, { name: node, url: `${scheme}://${host}:${port}/` });
  }
  return [...byNode.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Options of the Kubernetes discovery. */
export interface K8sDiscoveryOptions {
  kubeconfigPath?: string;
  namespace: string;
  labelSelector: string;
  port: number;
  /** https when the hub has certificates (the agents then serve mutual TLS only). */
  scheme?: 'http' | 'https';
  log?: (line: string) => void;
}

/** Defaults matching manifests/agent-daemonset.yaml. */
export const AGENT_DISCOVERY_DEFAULTS = { namespace: 'hopscope', labelSelector: 'app.kubernetes.io/name=hopscope,app.kubernetes.io/component=agent', port: 4780 };

/** Watch the agent pods (needs only get/list/watch on pods: the read-only RBAC). */
export function k8sDiscovery(opts: K8sDiscoveryOptions): Discovery {
  const kc = new KubeConfig();
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const path = `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/pods`;
  let informer: (Informer<V1Pod> & ObjectCache<V1Pod>) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failures = 0;
  let last = '';
  const log = opts.log ?? (() => {});

  return {
    describe: `pods ${opts.labelSelector} in namespace ${opts.namespace}, ${opts.scheme ?? 'http'} port ${opts.port}`,
    start(onChange) {
      const emit = () => {
        if (!informer) return;
        const agents = agentsFromPods(informer.list(), opts.port, opts.scheme);
        const key = JSON.stringify(agents);
        if (key === last) return;
        last = key;
        onChange(agents);
      };
      const begin = (): Promise<void> => {
        const inf = makeInformer(
          kc,
          path,
          async () => {
            const list = await core.listNamespacedPod({ namespace: opts.namespace, labelSelector: opts.labelSelector });
            failures = 0;
            return list;
          },
          opts.labelSelector,
        );
        informer = inf;
        for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, () => emit());
        inf.on('error', (err: unknown) => {
          if (stopped || informer !== inf) return;
          // The informer stops after an error: start over (it relists) after a backoff.
          log(`agent discovery: ${(err as Error)?.message ?? String(err)}; retrying`);
          informer = undefined;
          void inf.stop().catch(() => undefined);
          timer = setTimeout(() => void begin().catch(() => undefined), Math.min(30_000, 500 * 2 ** failures++));
        });
        return inf.start();
      };
      return begin().then(() => emit());
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await informer?.stop().catch(() => undefined);
    },
  };
}
