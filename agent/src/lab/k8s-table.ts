// Server-side printing: the meta.k8s.io Table a real API server returns when kubectl asks for
// `as=Table`, with the columns and cell values of kubernetes' own printers (pkg/printers/
// internalversion) for the resources the lab serves. kubectl prints these cells as they are, so
// this module is what `kubectl get` shows. Pure: objects and the current time in, JSON out.
import type { K8sObject, ResourceName } from './k8s-objects.ts';

/** One column of a Table. priority 1 columns are shown by `-o wide` only. */
export interface TableColumn {
  name: string;
  type: 'string' | 'integer';
  format: string;
  description: string;
  priority: number;
}

/** The Table API versions kubectl asks for (1.20 and 1.32 both list v1 first, then v1beta1). */
export type TableVersion = 'v1' | 'v1beta1';

/** What each row carries of its object (the `includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

type Cell = string | number;

const NAME = col('Name', 'Name of the object, unique within its namespace.', 0, 'string', 'name');
const AGE = col('Age', 'Time since the object was created (creationTimestamp).');

function col(name: string, description: string, priority = 0, type: TableColumn['type'] = 'string', format = ''): TableColumn {
  return { name, type, format, description, priority };
}

const CONTAINERS = col('Containers', 'Names of each container in the template.', 1);
const IMAGES = col('Images', 'Images referenced by each container in the template.', 1);

/** Columns per resource, in kubectl's order (names as kubectl's headers, upper-cased by kubectl). */
export const TABLE_COLUMNS: Record<ResourceName, TableColumn[]> = {
  pods: [
    NAME,
    col('Ready', 'Ready containers of the pod over all its containers.'),
    col('Status', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'How often the containers of the pod were restarted.'),
    AGE,
    col('IP', 'The pod IP address (status.podIPs[0]).', 1),
    col('Node', 'The node the pod runs on (spec.nodeName).', 1),
    col('Nominated Node', 'The node the scheduler nominated for preemption.', 1),
    col('Readiness Gates', 'Readiness gates that are true over all readiness gates.', 1),
  ],
  services: [
    NAME,
    col('Type', 'How the Service is exposed (spec.type).'),
    col('Cluster-IP', 'The virtual IP of the Service (spec.clusterIPs[0]).'),
    col('External-IP', 'External addresses of the Service.'),
    col('Port(s)', 'Service ports, with the node port where there is one.'),
    AGE,
    col('Selector', 'The pod labels the Service routes to.', 1),
  ],
  endpoints: [NAME, col('Endpoints', 'Addresses and ports of the ready backends.'), AGE],
  endpointslices: [
    NAME,
    col('AddressType', 'The address family of the slice.'),
    col('Ports', 'Ports of the slice.'),
    col('Endpoints', 'Addresses of the endpoints of the slice.'),
    AGE,
  ],
  nodes: [
    NAME,
    col('Status', 'The status of the node'),
    col('Roles', 'The roles of the node'),
    AGE,
    col('Version', 'The kubelet version of the node.'),
    col('Internal-IP', 'The InternalIP address of the node.', 1),
    col('External-IP', 'The ExternalIP address of the node.', 1),
    col('OS-Image', 'The OS image the node reports.', 1),
    col('Kernel-Version', 'The kernel version the node reports.', 1),
    col('Container-Runtime', 'The container runtime the node reports.', 1),
  ],
  namespaces: [NAME, col('Status', 'The status of the namespace'), AGE],
  deployments: [
    NAME,
    col('Ready', 'Ready pods over desired pods.'),
    col('Up-to-date', 'Pods with the newest template.'),
    col('Available', 'Pods available to serve.'),
    AGE,
    CONTAINERS,
    IMAGES,
    col('Selector', 'The label selector of the Deployment.', 1),
  ],
  replicasets: [
    NAME,
    col('Desired', 'Desired pods (spec.replicas).', 0, 'integer'),
    col('Current', 'Pods that exist (status.replicas).', 0, 'integer'),
    col('Ready', 'Ready pods (status.readyReplicas).', 0, 'integer'),
    AGE,
    CONTAINERS,
    IMAGES,
    col('Selector', 'The label selector of the ReplicaSet.', 1),
  ],
  leases: [NAME, col('Holder', 'The holder of the lease.'), AGE],
  events: [
    col('Last Seen', 'Time since the event was last seen.'),
    col('Type', 'Normal or Warning.'),
    col('Reason', 'Why the event happened.'),
    col('Object', 'The object the event is about.'),
    col('Subobject', 'The part of the object the event is about.', 1),
    col('Source', 'The component that reported the event.', 1),
    col('Message', 'What happened.'),
    col('First Seen', 'Time since the event was first seen.', 1),
    col('Count', 'How often the event happened.', 1),
    { ...NAME, priority: 1 },
  ],
};

/**
 * kubectl's age text (apimachinery's HumanDuration): seconds up to 2 minutes, then minutes and
 * seconds up to 10 minutes, minutes up to 3 hours, hours and minutes up to 8 hours, hours up to
 * 2 days, days and hours up to 8 days, days up to 2 years, years and days up to 8, then years.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

function since(timestamp: unknown, now: number): string {
  const t = typeof timestamp === 'string' ? Date.parse(timestamp) : NaN;
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

/** labels.FormatLabels: sorted `k=v` joined by commas, `<none>` when empty. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}=${labels![k]}`).join(',') : '<none>';
}

/** At most three items, then "+ N more..." as kubectl's endpoint columns say it. */
function firstThree(items: string[], empty: string): string {
  if (items.length === 0) return empty;
  const shown = items.slice(0, 3).join(',');
  return items.length > 3 ? `${shown} + ${items.length - 3} more...` : shown;
}

// The wire objects are plain JSON; these views name only the fields a row reads.
interface PodView {
  spec?: { containers?: unknown[]; nodeName?: string; readinessGates?: { conditionType: string }[] };
  status?: {
    phase?: string;
    reason?: string;
    podIPs?: { ip: string }[];
    nominatedNodeName?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { ready?: boolean; restartCount?: number; state?: { running?: unknown; waiting?: { reason?: string }; terminated?: { reason?: string; exitCode?: number; signal?: number } } }[];
  };
}
interface ServiceView {
  spec?: { type?: string; clusterIPs?: string[]; externalIPs?: string[]; ports?: { port: number; nodePort?: number; protocol?: string }[]; selector?: Record<string, string> };
}
interface TemplateView {
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> }; template?: { spec?: { containers?: { name: string; image?: string }[] } } };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
}
interface EndpointsView {
  subsets?: { addresses?: { ip: string }[]; ports?: { port: number }[] }[];
}
interface SliceView {
  addressType?: string;
  ports?: { port?: number; name?: string }[];
  endpoints?: { addresses?: string[] }[];
}
interface NodeView {
  spec?: { unschedulable?: boolean };
  status?: {
    conditions?: { type: string; status: string }[];
    addresses?: { type: string; address: string }[];
    nodeInfo?: { kubeletVersion?: string; osImage?: string; kernelVersion?: string; containerRuntimeVersion?: string };
  };
}
interface EventView {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  involvedObject?: { kind?: string; name?: string; fieldPath?: string };
  source?: { component?: string; host?: string };
}

function podCells(o: K8sObject & PodView, now: number): Cell[] {
  const statuses = o.status?.containerStatuses ?? [];
  let reason = o.status?.reason || o.status?.phase || '';
  let ready = 0;
  let restarts = 0;
  // Last container first, as kubectl does: the first container's state is the one shown.
  for (const c of [...statuses].reverse()) {
    restarts += c.restartCount ?? 0;
    const t = c.state?.terminated;
    if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
    else if (t?.reason) reason = t.reason;
    else if (t) reason = t.signal ? `Signal:${t.signal}` : `ExitCode:${t.exitCode ?? 0}`;
    else if (c.ready && c.state?.running) ready++;
  }
  if (o.metadata.deletionTimestamp) reason = 'Terminating';
  const gates = o.spec?.readinessGates ?? [];
  const gatesTrue = gates.filter((g) => o.status?.conditions?.some((c) => c.type === g.conditionType && c.status === 'True')).length;
  return [
    o.metadata.name,
    `${ready}/${o.spec?.containers?.length ?? 0}`,
    reason,
    String(restarts),
    since(o.metadata.creationTimestamp, now),
    o.status?.podIPs?.[0]?.ip || '<none>',
    o.spec?.nodeName || '<none>',
    o.status?.nominatedNodeName || '<none>',
    gates.length ? `${gatesTrue}/${gates.length}` : '<none>',
  ];
}

function serviceCells(o: K8sObject & ServiceView, now: number): Cell[] {
  const s = o.spec ?? {};
  const external = s.externalIPs?.length ? s.externalIPs.join(',') : s.type === 'LoadBalancer' ? '<pending>' : '<none>';
  const ports = (s.ports ?? []).map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`)).join(',');
  return [o.metadata.name, s.type ?? 'ClusterIP', s.clusterIPs?.[0] ?? '<none>', external, ports || '<none>', since(o.metadata.creationTimestamp, now), formatLabels(s.selector)];
}

function containerCells(o: TemplateView): [string, string] {
  const cs = o.spec?.template?.spec?.containers ?? [];
  return [cs.map((c) => c.name).join(','), cs.map((c) => c.image ?? '').join(',')];
}

function endpointsCells(o: K8sObject & EndpointsView, now: number): Cell[] {
  const list: string[] = [];
  for (const ss of o.subsets ?? []) {
    const addrs = ss.addresses ?? [];
    if (!ss.ports?.length) list.push(...addrs.map((a) => a.ip));
    else for (const p of ss.ports) list.push(...addrs.map((a) => `${a.ip}:${p.port}`));
  }
  return [o.metadata.name, firstThree(list, '<none>'), since(o.metadata.creationTimestamp, now)];
}

function sliceCells(o: K8sObject & SliceView, now: number): Cell[] {
  const ports = (o.ports ?? []).map((p) => (p.port !== undefined ? String(p.port) : (p.name ?? '*')));
  const addrs = (o.endpoints ?? []).flatMap((e) => e.addresses ?? []);
  return [o.metadata.name, o.addressType ?? '', firstThree(ports, '<unset>'), firstThree(addrs, '<unset>'), since(o.metadata.creationTimestamp, now)];
}

function nodeCells(o: K8sObject & NodeView, now: number): Cell[] {
  const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
  const status = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown', ...(o.spec?.unschedulable ? ['SchedulingDisabled'] : [])];
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  const info = o.status?.nodeInfo ?? {};
  const addr = (type: string) => o.status?.addresses?.find((a) => a.type === type)?.address ?? '<none>';
  return [
    o.metadata.name,
    status.join(','),
    roles.size ? [...roles].sort().join(',') : '<none>',
    since(o.metadata.creationTimestamp, now),
    info.kubeletVersion ?? '',
    addr('InternalIP'),
    addr('ExternalIP'),
    info.osImage || '<unknown>',
    info.kernelVersion || '<unknown>',
    info.containerRuntimeVersion || '<unknown>',
  ];
}

function deploymentCells(o: K8sObject & TemplateView, now: number): Cell[] {
  const st = o.status ?? {};
  return [o.metadata.name, `${st.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`, st.updatedReplicas ?? 0, st.availableReplicas ?? 0, since(o.metadata.creationTimestamp, now), ...containerCells(o), formatLabels(o.spec?.selector?.matchLabels)];
}

function replicaSetCells(o: K8sObject & TemplateView, now: number): Cell[] {
  const st = o.status ?? {};
  return [o.metadata.name, o.spec?.replicas ?? 0, st.replicas ?? 0, st.readyReplicas ?? 0, since(o.metadata.creationTimestamp, now), ...containerCells(o), formatLabels(o.spec?.selector?.matchLabels)];
}

function eventCells(o: K8sObject & EventView, now: number): Cell[] {
  const first = since(o.firstTimestamp, now);
  const last = o.lastTimestamp ? since(o.lastTimestamp, now) : first;
  const io = o.involvedObject ?? {};
  const kind = (io.kind ?? '').toLowerCase();
  const source = [o.source?.component, o.source?.host].filter((x) => x).join(', ');
  return [last, o.type ?? '', o.reason ?? '', io.name ? `${kind}/${io.name}` : kind, io.fieldPath ?? '', source, (o.message ?? '').trim(), first, o.count || 1, o.metadata.name];
}

const namespaceCells = (o: K8sObject, now: number): Cell[] => [o.metadata.name, String((o.status as { phase?: string } | undefined)?.phase ?? ''), since(o.metadata.creationTimestamp, now)];
const leaseCells = (o: K8sObject, now: number): Cell[] => [o.metadata.name, String((o.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? ''), since(o.metadata.creationTimestamp, now)];

// A Record over ResourceName: the compiler asks for a printer of every resource, as a switch's
// `never` check would.
const CELLS: Record<ResourceName, (o: K8sObject, now: number) => Cell[]> = {
  pods: podCells,
  services: serviceCells,
  endpoints: endpointsCells,
  endpointslices: sliceCells,
  nodes: nodeCells,
  namespaces: namespaceCells,
  deployments: deploymentCells,
  replicasets: replicaSetCells,
  events: eventCells,
  leases: leaseCells,
};

/** The cells of one object's row, every column included (kubectl hides priority 1 unless -o wide). */
export function rowCells(resource: ResourceName, o: K8sObject, now: number): Cell[] {
  return CELLS[resource](o, now);
}

/** Options of toTable. */
export interface TableOptions {
  version: TableVersion;
  include: IncludeObject;
  /** Milliseconds since the epoch: ages are counted to it. */
  now: number;
  resourceVersion?: string;
}

/** A meta.k8s.io Table of `objects` (already filtered and ordered). */
export function toTable(resource: ResourceName, objects: K8sObject[], o: TableOptions): Record<string, unknown> {
  const apiVersion = `meta.k8s.io/${o.version}`;
  const rows = objects.map((obj) => {
    const row: Record<string, unknown> = { cells: rowCells(resource, obj, o.now) };
    if (o.include === 'Object') row.object = obj;
    else if (o.include === 'Metadata') row.object = { kind: 'PartialObjectMetadata', apiVersion, metadata: obj.metadata };
    return row;
  });
  return {
    kind: 'Table',
    apiVersion,
    metadata: o.resourceVersion !== undefined ? { resourceVersion: o.resourceVersion } : {},
    columnDefinitions: TABLE_COLUMNS[resource],
    rows,
  };
}

/** What a response may be rendered as. */
export type Rendering = { type: 'table'; version: TableVersion } | { type: 'discovery'; version: 'v2' | 'v2beta1' } | { type: 'json' };

/**
 * What a request's Accept header asks for, first acceptable range first: a Table (data reads),
 * aggregated discovery (`/api`, `/apis` when `discovery`), or plain JSON; undefined if none.
 */
export function negotiate(accept: string | undefined, discovery = false): Rendering | undefined {
  if (!accept || !accept.trim()) return { type: 'json' };
  for (const range of accept.split(',')) {
    const [media, ...params] = range.split(';').map((s) => s.trim());
    const p = new Map(params.map((x) => x.split('=').map((y) => y.trim()) as [string, string]));
    if (media !== 'application/json' && media !== '*/*' && media !== 'application/*') continue;
    const as = p.get('as');
    const v = p.get('v');
    if (as === undefined) return { type: 'json' };
    if (!discovery && as === 'Table' && p.get('g') === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1')) return { type: 'table', version: v };
    if (discovery && as === 'APIGroupDiscoveryList' && p.get('g') === 'apidiscovery.k8s.io' && (v === 'v2' || v === 'v2beta1')) return { type: 'discovery', version: v };
  }
  return undefined;
}
