// The websocket protocol between the agent and the UI, version 1. Both sides validate what they
// receive with these zod schemas; the TypeScript unions are inferred from them so there is one
// definition. Every union is discriminated on `type`.
import { z } from 'zod';
import type { Endpoint, Journey } from './events.ts';
import { cniModes, kubeProxyModes } from './lab-modes.ts';

/** Protocol version spoken by this build; a client with another version is refused. */
export const PROTOCOL_VERSION = 1;

/** Largest client message the server accepts (bytes); larger frames close the socket. */
export const MAX_CLIENT_MESSAGE_BYTES = 16 * 1024;

// Kubernetes object names (RFC 1123 subdomain, as pods and services use).
const k8sName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Kubernetes name (lower-case letters, digits, "-", ".")');
const port = z.number().int().min(1).max(65535);
const l4Proto = z.enum(['tcp', 'udp', 'icmp', 'other']);

/** What one client wants to see. Absent fields match everything. */
export const clientFilterSchema = z
  .object({
    namespace: k8sName.optional(),
    /** Exact pod name, or a Deployment name (matches its pods "name-<hash>-<suffix>"). */
    pod: k8sName.optional(),
    service: k8sName.optional(),
    port: port.optional(),
    proto: z.enum(['tcp', 'udp', 'icmp']).optional(),
    onlyDrops: z.boolean().default(false),
    onlyNat: z.boolean().default(false),
  })
  .strict();
/** What one client wants to see. Absent fields match everything. */
export type ClientFilter = z.infer<typeof clientFilterSchema>;

/** The filter that matches every journey. */
export const MATCH_ALL: ClientFilter = { onlyDrops: false, onlyNat: false };

const serviceRef = z.object({ namespace: k8sName, name: k8sName }).strict();
// DNS names for `dig`: labels of letters, digits and "-", dot separated; never a flag.
const dnsName = z
  .string()
  .max(253)
  .regex(/^(?!-)[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*\.?$/, 'must be a DNS name');

const ipv4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'must be an IPv4 address')
  .refine((s) => s.split('.').every((o) => Number(o) <= 255), 'octet out of range');
/** Where an inspection runs: a node's network namespace or a pod's. */
const inspectAt = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('node'), node: k8sName }).strict(),
  z.object({ kind: z.literal('pod'), namespace: k8sName, name: k8sName }).strict(),
]);
/** Devices a neighbour listing may be narrowed to (fixed names: nothing typed reaches `ip`). */
export const NEIGH_DEVICES = ['flannel.1', 'vxlan.calico', 'cni0', 'eth0'] as const;

/**
 * What a lesson may ask the lab to show: a fixed set of commands, filled with names and
 * addresses validated here and looked up in the lab (protocol/inspect.ts renders them).
 */
export const inspectCheckSchema = z.discriminatedUnion('what', [
  /** kube-proxy's rules of one Service on a node (iptables-save or nft, by the lab's mode). */
  z.object({ what: z.literal('service-rules'), node: k8sName, service: serviceRef }).strict(),
  /** `kubectl get endpoints` of a Service, against the lab's API. */
  z.object({ what: z.literal('endpoints'), service: serviceRef }).strict(),
  /** The VXLAN device's forwarding database on a node: which node address each MAC is behind. */
  z.object({ what: z.literal('vxlan-fdb'), node: k8sName }).strict(),
  /** Neighbour (ARP) entries, of one address and/or one device. */
  z.object({ what: z.literal('neigh'), at: inspectAt, address: ipv4.optional(), dev: z.enum(NEIGH_DEVICES).optional() }).strict(),
  /** The route the kernel picks for an address. */
  z.object({ what: z.literal('route-get'), at: inspectAt, dst: ipv4 }).strict(),
  /** The whole routing table. */
  z.object({ what: z.literal('routes'), at: inspectAt }).strict(),
  /** MACs the node's bridge learned (its own permanent entries left out). */
  z.object({ what: z.literal('bridge-fdb'), node: k8sName }).strict(),
  /** conntrack entries of connections first addressed to an address (and port). */
  z.object({ what: z.literal('conntrack'), node: k8sName, proto: z.enum(['tcp', 'udp']), origDst: ipv4, origDport: port.optional() }).strict(),
  /** Listening sockets in a pod. */
  z.object({ what: z.literal('listening'), at: inspectAt }).strict(),
]);
/** A command a lesson asks the lab to run. */
export type InspectCheck = z.infer<typeof inspectCheckSchema>;

/** Traffic and changes the UI can ask the lab to make. */
export const labActionSchema = z.discriminatedUnion('kind', [
  /** HTTP GET to a Service's ClusterIP from a pod (default: the lab's client pod). */
  z.object({ kind: z.literal('curl'), service: serviceRef, port: port.optional(), from: k8sName.optional() }).strict(),
  /** TCP connect straight to a pod's port, bypassing Services (a closed port shows a NO_SOCKET drop). */
  z.object({ kind: z.literal('connect'), pod: serviceRef, port, from: k8sName.optional() }).strict(),
  /** Resolve a name through the cluster DNS Service from a pod. */
  z.object({ kind: z.literal('dig'), name: dnsName, from: k8sName.optional() }).strict(),
  /** HTTP GET to a NodePort on a node's address from the external host. */
  z.object({ kind: z.literal('nodeport'), service: serviceRef, node: k8sName.optional() }).strict(),
  /** Scale a Deployment. */
  z.object({ kind: z.literal('scale'), namespace: k8sName, deployment: k8sName, replicas: z.number().int().min(0).max(20) }).strict(),
  /** Rebuild the lab (`hopscope start` only) with another CNI and kube-proxy mode; the tracer follows. */
  z.object({ kind: z.literal('rebuild'), cni: z.enum(cniModes), kubeProxy: z.enum(kubeProxyModes) }).strict(),
  /** Run one of the fixed inspection commands in the lab; the answer is its transcript. */
  z.object({ kind: z.literal('inspect'), check: inspectCheckSchema }).strict(),
]);
/** Traffic and changes the UI can ask the lab to make. */
export type LabAction = z.infer<typeof labActionSchema>;

/** Messages the UI sends. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), version: z.number().int(), token: z.string().max(256).optional() }).strict(),
  z.object({ type: z.literal('subscribe'), filter: clientFilterSchema }).strict(),
  z.object({ type: z.literal('pause') }).strict(),
  z.object({ type: z.literal('resume') }).strict(),
  z.object({ type: z.literal('action'), id: z.string().min(1).max(64), action: labActionSchema }).strict(),
  /** Replaying a recording (`hopscope open`): play (at `speed`, 1 = as recorded), pause, or jump to the end. */
  z.object({ type: z.literal('replay'), control: z.enum(['play', 'pause', 'end']), speed: z.number().min(0.1).max(1000).optional() }).strict(),
]);
/** Messages the UI sends. */
export type ClientMessage = z.infer<typeof clientMessageSchema>;
/** A replay control from the UI. */
export type ReplayControl = Omit<Extract<ClientMessage, { type: 'replay' }>, 'type'>;

/** What the agent reports about itself. */
/**
 * How a server is reached: plain HTTP on loopback, mutual TLS, or plain HTTP beyond loopback
 * because the user said --insecure (the UI shows that in red). The hub reports its links to the
 * agents the same way.
 */
export const transportSchema = z.object({
  mode: z.enum(['loopback', 'mtls', 'insecure']),
  /** In words, e.g. "mutual TLS (node-1, certificate expires 2027-01-01T00:00:00.000Z)". */
  detail: z.string(),
  /** Expiry of this server's (or the hub's client) certificate and of the CA, ISO 8601. */
  certExpires: z.string().optional(),
  caExpires: z.string().optional(),
  expired: z.boolean().optional(),
  /** Connections refused for their certificate (none, another CA's, expired, not the hub's) or for speaking plain HTTP. */
  refusedCert: z.number().optional(),
  refusedPlain: z.number().optional(),
  /** Times rotated certificates were taken without a restart. */
  reloads: z.number().optional(),
});
export type Transport = z.infer<typeof transportSchema>;

export const agentStatusSchema = z.object({
  /** Tracer state: starting, running, restarting after a crash, stopped, or not available. */
  tracer: z.enum(['starting', 'running', 'restarting', 'stopped', 'unavailable']),
  probeSet: z.enum(['tracepoints', 'kprobes']).nullable(),
  bpftraceVersion: z.string().nullable(),
  sampling: z.object({
    /** True when the kernel sampler passes only some packets of a flow. */
    enabled: z.boolean(),
    /** Human description, e.g. "first 8 packets per flow, then 1 in 64". */
    description: z.string(),
    /** Packets counted but not printed (cumulative). */
    suppressed: z.number(),
  }),
  counters: z.object({
    eventsIn: z.number(),
    journeysOut: z.number(),
    /** bpftrace's own "Lost N events" (perf ring overflow), cumulative. */
    lostEvents: z.number(),
    bpftraceRestarts: z.number(),
    /** Journeys dropped by stage: "hub-slow-client" and "hub-pending" (the websocket fan-out; labels kept from before it had that name), "pipeline" (correlation bounds), ... */
    dropped: z.record(z.string(), z.number()),
    clients: z.number(),
  }),
  /** The lab the agent traces, if any. */
  lab: z
    .object({
      name: z.string(),
      nodes: z.array(z.string()),
      cni: z.string(),
      kubeProxy: z.string().optional(),
      /** Set while the lab is rebuilt in another mode (what it becomes). */
      rebuilding: z.object({ cni: z.string(), kubeProxy: z.string() }).optional(),
    })
    .nullable(),
  /** Why the tracer is not running, when it is not. */
  message: z.string().optional(),
  /** The last time nothing was traced (bpftrace died and was restarted, or a filter change restarted it). */
  lastGap: z.object({ fromMs: z.number(), toMs: z.number(), reason: z.string() }).optional(),
  /** How this server (the hub: its agent links) is reached; absent in older agents. */
  transport: transportSchema.optional(),
  /** Set when the server replays a recording (`hopscope open`) instead of tracing. */
  recording: z
    .object({
      /** What was recorded ("lab demo (flannel-vxlan), hopscope start"). */
      source: z.string(),
      /** Wall-clock ms the recording started, and the recorded moment being played now. */
      startedMs: z.number(),
      atMs: z.number(),
      /** Journeys played so far and in all (read so far, while `loading`). */
      played: z.number(),
      journeys: z.number(),
      loading: z.boolean(),
      /** 1 = recorded speed; 0 = all at once. */
      speed: z.number(),
      state: z.enum(['waiting', 'playing', 'paused', 'ended']),
    })
    .optional(),
});
/** What the agent reports about itself. */
export type AgentStatus = z.infer<typeof agentStatusSchema>;

// The Journey schema mirrors events.ts; `satisfies` below keeps the two in step.
const podRef = z.object({ namespace: z.string(), name: z.string(), node: z.string().optional() });
const endpoint = z.object({
  ip: z.string(),
  port: z.number().optional(),
  pod: podRef.optional(),
  service: z.object({ namespace: z.string(), name: z.string(), port: z.number().optional(), portName: z.string().optional() }).optional(),
  node: z.string().optional(),
  external: z.boolean().optional(),
});
const l4Header = z.discriminatedUnion('proto', [
  z.object({ proto: z.literal('tcp'), sport: z.number(), dport: z.number(), flags: z.string(), seq: z.number(), ack: z.number() }),
  z.object({ proto: z.literal('udp'), sport: z.number(), dport: z.number() }),
  z.object({ proto: z.literal('icmp'), icmpType: z.number(), code: z.number(), id: z.number(), seq: z.number() }),
  z.object({ proto: z.literal('other'), number: z.number() }),
]);
const ipPacket = z.object({
  family: z.union([z.literal(4), z.literal(6)]),
  src: z.string(),
  dst: z.string(),
  ipId: z.number(),
  ttl: z.number(),
  len: z.number(),
  l4: l4Header,
});
const encapsulation = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('vxlan'), vni: z.number(), inner: ipPacket }),
  z.object({ kind: z.literal('ipip'), inner: ipPacket }),
]);
const kubeProxyRule = z.object({
  mode: z.enum(['iptables', 'nftables', 'ipvs']),
  chains: z.array(z.string()).max(16),
  source: z.enum(['api', 'node']),
  ruleText: z.string().optional(),
  pick: z.object({ index: z.number().int().min(1), of: z.number().int().min(1), probability: z.number().min(0).max(1).optional() }).optional(),
  disagreements: z
    .array(
      z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('backend-not-endpoint'), detail: z.string() }),
        z.object({ kind: z.literal('chain-missing'), chain: z.string(), detail: z.string() }),
      ]),
    )
    .max(16)
    .optional(),
});
const hop = z.object({
  kind: z.enum(['pod-egress', 'egress', 'host-veth', 'bridge', 'route', 'dnat', 'snat', 'reverse-nat', 'encap', 'underlay', 'decap', 'deliver', 'loopback', 'drop']),
  tsNs: z.number(),
  deltaNs: z.number(),
  hook: z.enum(['xmit', 'recv', 'drop']),
  netns: z.number(),
  where: z.object({ pod: podRef.optional(), node: z.string().optional(), label: z.string() }),
  dev: z.string(),
  ifindex: z.number(),
  packet: ipPacket,
  encap: encapsulation.optional(),
  nat: z.object({ before: endpoint, after: endpoint, rule: z.string().optional(), kubeProxy: kubeProxyRule.optional() }).optional(),
  drop: z.object({ reason: z.string(), location: z.string() }).optional(),
  agent: z.string().optional(),
});
/** Validates a Journey received over the wire. */
export const journeySchema = z.object({
  type: z.literal('journey'),
  id: z.string(),
  fingerprint: z.string(),
  verdict: z.enum(['delivered', 'dropped', 'in-flight', 'unknown']),
  startNs: z.number(),
  endNs: z.number(),
  proto: l4Proto,
  src: endpoint,
  dst: endpoint,
  backend: endpoint.optional(),
  hops: z.array(hop),
  replyTo: z.string().optional(),
  identityUnknown: z.boolean().optional(),
  sampledOut: z.number().optional(),
  missingAgents: z.array(z.string()).optional(),
});
// Compile-time check that the schema produces exactly the shared Journey type.
type _JourneyCheck = [z.infer<typeof journeySchema>] extends [Journey] ? ([Journey] extends [z.infer<typeof journeySchema>] ? true : never) : never;
const _journeyCheck: _JourneyCheck = true;
void _journeyCheck;

/** Messages the agent sends. */
export const serverMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('welcome'), version: z.number().int(), clientId: z.string(), status: agentStatusSchema }),
  /** Journeys for this client since its last batch; `seq` increases by one per batch per client. */
  z.object({ type: z.literal('batch'), seq: z.number().int(), journeys: z.array(journeySchema), dropped: z.number().int() }),
  z.object({ type: z.literal('status'), status: agentStatusSchema }),
  /** This client was too slow: `count` journeys were dropped for it since the last notice. */
  z.object({ type: z.literal('missed'), count: z.number().int(), total: z.number().int() }),
  z.object({ type: z.literal('actionResult'), id: z.string(), ok: z.boolean(), output: z.string(), error: z.string().optional() }),
  /** The cluster changed (pods added/removed): refetch /api/topology. */
  z.object({ type: z.literal('topologyChanged') }),
  z.object({ type: z.literal('error'), reason: z.string() }),
]);
/** Messages the agent sends. */
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/** Result of parsing one frame: the message, or a short reason fit for a close frame. */
export type ParseResult<T> = { ok: true; message: T } | { ok: false; reason: string };

function parseWith<T>(schema: z.ZodType<T>, text: string): ParseResult<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, message: r.data };
  const issue = r.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return { ok: false, reason: `invalid message: ${where}${issue?.message ?? 'unknown'}` };
}

/** Parse and validate a frame the UI sent. */
export function parseClientMessage(text: string): ParseResult<ClientMessage> {
  return parseWith(clientMessageSchema, text);
}

/** Parse and validate a frame the agent sent. */
export function parseServerMessage(text: string): ParseResult<ServerMessage> {
  return parseWith(serverMessageSchema, text);
}

/** A stable key for a filter: equal filters share one serialised broadcast. */
export function filterKey(f: ClientFilter): string {
  return JSON.stringify([f.namespace ?? '', f.pod ?? '', f.service ?? '', f.port ?? 0, f.proto ?? '', f.onlyDrops, f.onlyNat]);
}

/** GET /api/topology: the cluster as the UI draws it. */
export const topologySchema = z.object({
  name: z.string(),
  cni: z.string(),
  nodes: z.array(z.object({ name: z.string(), address: z.string(), podCIDR: z.string().optional() })),
  pods: z.array(
    z.object({ namespace: z.string(), name: z.string(), node: z.string(), ip: z.string(), deployment: z.string().optional() }),
  ),
  services: z.array(
    z.object({
      namespace: z.string(),
      name: z.string(),
      type: z.string(),
      clusterIP: z.string(),
      ports: z.array(z.object({ name: z.string().optional(), protocol: z.string(), port: z.number(), targetPort: z.number(), nodePort: z.number().optional() })),
      /** Backend pods as namespace/name. */
      endpoints: z.array(z.object({ namespace: z.string(), name: z.string(), ip: z.string(), node: z.string() })),
    }),
  ),
  externals: z.array(z.object({ name: z.string(), address: z.string() })),
  deployments: z.array(z.object({ namespace: z.string(), name: z.string(), replicas: z.number() })),
});
/** The cluster as the UI draws it. */
export type TopologyView = z.infer<typeof topologySchema>;

/** GET /api/status: agent status plus what this kernel and bpftrace can do. */
export const statusResponseSchema = z.object({
  version: z.number(),
  status: agentStatusSchema,
  capabilities: z.record(z.string(), z.unknown()),
});
/** GET /api/status body. */
export type StatusResponse = z.infer<typeof statusResponseSchema>;

// Per-client filtering lives with the filter's definition so the agent's websocket fan-out and the UI's
// local list apply exactly the same rule.
function podMatches(ep: Endpoint | undefined, pod: string, namespace: string | undefined): boolean {
  const p = ep?.pod;
  if (!p) return false;
  if (namespace && p.namespace !== namespace) return false;
  // A Deployment name matches its pods ("web" → "web-7c9f8d6b5-x2x4k").
  return p.name === pod || p.name.startsWith(`${pod}-`);
}

function serviceMatches(ep: Endpoint | undefined, service: string, namespace: string | undefined): boolean {
  const s = ep?.service;
  return !!s && s.name === service && (!namespace || s.namespace === namespace);
}

function inNamespace(ep: Endpoint | undefined, namespace: string): boolean {
  return ep?.pod?.namespace === namespace || ep?.service?.namespace === namespace;
}

/** Whether a journey is one the client asked to see. */
export function matchJourney(j: Journey, f: ClientFilter): boolean {
  const ends = [j.src, j.dst, j.backend];
  if (f.proto && j.proto !== f.proto) return false;
  if (f.onlyDrops && j.verdict !== 'dropped') return false;
  if (f.onlyNat && !j.hops.some((h) => h.nat)) return false;
  if (f.port !== undefined && !ends.some((e) => e?.port === f.port)) return false;
  if (f.pod !== undefined) {
    const pod = f.pod;
    if (!ends.some((e) => podMatches(e, pod, f.namespace))) return false;
  } else if (f.service === undefined && f.namespace !== undefined) {
    const ns = f.namespace;
    if (!ends.some((e) => inNamespace(e, ns))) return false;
  }
  if (f.service !== undefined) {
    const svc = f.service;
    if (!ends.some((e) => serviceMatches(e, svc, f.namespace))) return false;
  }
  return true;
}

