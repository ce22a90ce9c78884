// The expanded cluster model: a validated Topology with Deployments turned into pods,
// addresses assigned and Service endpoints resolved. Pure; the lab builder realises it
// with namespaces and the lab API server serves it as Kubernetes objects.
import { createHash } from 'node:crypto';
import type { Topology, Workload } from './topology.ts';

/** A node of the lab cluster. */
export interface ModelNode {
  name: string;
  uid: string;
  address: string;
  podCIDR: string;
  /** First address of the pod CIDR: the bridge/gateway address pods route through. */
  gateway: string;
}

/** A container: one process in its pod's network namespace. */
export interface ModelContainer {
  name: string;
  run: Workload;
}

/** A pod with its address, node and host-side veth. */
export interface ModelPod {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  ip: string;
  labels: Record<string, string>;
  containers: ModelContainer[];
  /** Owning Deployment (pods created from a Deployment carry a ReplicaSet owner). */
  deployment?: { name: string; replicaSet: string; podTemplateHash: string };
  /** Host-side veth name as the CNI would name it (≤ 15 chars). */
  hostVeth: string;
  /** Order of creation, for stable listing and scale-down of the newest pods. */
  ordinal: number;
}

/** One backend of a Service port. */
export interface ModelEndpoint {
  podNamespace: string;
  podName: string;
  ip: string;
  node: string;
}

/** A Service with its resolved endpoints. */
export interface ModelService {
  namespace: string;
  name: string;
  uid: string;
  type: 'ClusterIP' | 'NodePort';
  clusterIP: string;
  selector: Record<string, string>;
  ports: { name?: string; protocol: 'TCP' | 'UDP'; port: number; targetPort: number; nodePort?: number }[];
  endpoints: ModelEndpoint[];
}

/** An external host on the underlay (stands for a client outside the cluster). */
export interface ModelExternal {
  name: string;
  address: string;
}

/** The whole lab cluster. */
export interface ClusterModel {
  name: string;
  cni: Topology['cni'];
  kubeProxy: Topology['kubeProxy'];
  clusterDomain: string;
  serviceCIDR: string;
  underlayCIDR: string;
  /**
   * Mixed into pod uids, so two runs of a lab (or two labs on one machine) never share a pod uid,
   * as real uids are random: the agent finds pods by the uid in a process's cgroup.
   */
  uidSeed?: string;
  nodes: ModelNode[];
  pods: ModelPod[];
  services: ModelService[];
  externals: ModelExternal[];
  /** Deployments with their template, so scaling can add pods. */
  deployments: Topology['deployments'];
}

/** Short stable hex digest, for names and uids derived from identity. */
export function shortHash(s: string, len = 10): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}

function podUid(model: Pick<ClusterModel, 'uidSeed'>, namespace: string, name: string): string {
  return uid('pod', model.uidSeed ? `${model.uidSeed}/${namespace}/${name}` : `${namespace}/${name}`);
}

function uid(kind: string, id: string): string {
  const h = shortHash(`${kind}/${id}`, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** IPv4 text to a 32-bit unsigned number. */
export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** 32-bit unsigned number to IPv4 text. */
export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** Whether an IPv4 address lies inside a CIDR. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(base!) & mask) >>> 0);
}

function cidrRange(cidr: string): { first: number; last: number } {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const net = ipToInt(base!) - (ipToInt(base!) % size);
  return { first: net, last: net + size - 1 };
}

/**
 * The lab's control-plane address: the last host address of the underlay (10.0.0.254 in a /24),
 * held by the underlay bridge, where the API forwarder listens, as a control-plane node's
 * address is on a real cluster's node network.
 */
export function controlPlaneAddress(underlayCIDR: string): string {
  const { first, last } = cidrRange(underlayCIDR);
  if (last - first < 3) throw new Error(`underlayCIDR ${underlayCIDR} is too small for a control-plane address`);
  return intToIp(last - 1);
}

const KUBE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function kubeSuffix(seed: string, len: number): string {
  const h = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < len; i++) out += KUBE_ALPHABET[h[i]! % KUBE_ALPHABET.length];
  return out;
}

function hostVethName(cni: Topology['cni'], ns: string, name: string): string {
  // flannel's bridge CNI names veths vethXXXXXXXX; Calico names them cali + 11 hex.
  return cni.startsWith('calico') ? `cali${shortHash(`${ns}/${name}`, 11)}` : `veth${shortHash(`${ns}/${name}`, 8)}`;
}

function allocateIp(model: Pick<ClusterModel, 'pods' | 'nodes'>, node: ModelNode): string {
  const used = new Set(model.pods.filter((p) => p.node === node.name).map((p) => p.ip));
  const { first, last } = cidrRange(node.podCIDR);
  for (let n = first + 2; n < last; n++) {
    const ip = intToIp(n);
    if (!used.has(ip)) return ip;
  }
  throw new Error(`node ${node.name}: pod CIDR ${node.podCIDR} is full`);
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

/** Recompute every Service's endpoints from the current pods (as the EndpointSlice controller does). */
export function resolveEndpoints(model: ClusterModel): ClusterModel {
  const services = model.services.map((s) => ({
    ...s,
    endpoints: model.pods
      .filter((p) => p.namespace === s.namespace && matches(s.selector, p.labels))
      .sort((a, b) => a.ordinal - b.ordinal)
      .map((p) => ({ podNamespace: p.namespace, podName: p.name, ip: p.ip, node: p.node })),
  }));
  return { ...model, services };
}

function deploymentPod(
  model: ClusterModel,
  d: Topology['deployments'][number],
  index: number,
  ordinal: number,
): ModelPod {
  const candidates = d.nodes && d.nodes.length > 0 ? d.nodes : model.nodes.map((n) => n.name);
  const nodeName = candidates[index % candidates.length]!;
  const node = model.nodes.find((n) => n.name === nodeName)!;
  const podTemplateHash = kubeSuffix(`${d.namespace}/${d.name}/template`, 10);
  const replicaSet = `${d.name}-${podTemplateHash}`;
  let name = `${replicaSet}-${kubeSuffix(`${d.namespace}/${d.name}/${index}`, 5)}`;
  // A replica index reused after scale-down gets a fresh suffix, as Kubernetes would.
  for (let salt = 1; model.pods.some((p) => p.namespace === d.namespace && p.name === name); salt++)
    name = `${replicaSet}-${kubeSuffix(`${d.namespace}/${d.name}/${index}/${salt}`, 5)}`;
  return {
    namespace: d.namespace,
    name,
    uid: podUid(model, d.namespace, name),
    node: nodeName,
    ip: allocateIp(model, node),
    labels: { ...d.labels, 'pod-template-hash': podTemplateHash },
    containers: d.containers,
    deployment: { name: d.name, replicaSet, podTemplateHash },
    hostVeth: hostVethName(model.cni, d.namespace, name),
    ordinal,
  };
}

/** Expand a validated topology into the cluster model. Throws if addresses run out or collide. */
export function expandTopology(t: Topology, opts: { uidSeed?: string } = {}): ClusterModel {
  const nodes: ModelNode[] = t.nodes.map((n) => ({
    name: n.name,
    uid: uid('node', n.name),
    address: n.address,
    podCIDR: n.podCIDR,
    gateway: intToIp(cidrRange(n.podCIDR).first + 1),
  }));
  for (const n of nodes) {
    if (!inCidr(n.address, t.underlayCIDR)) throw new Error(`node ${n.name}: address ${n.address} is outside underlayCIDR ${t.underlayCIDR}`);
    for (const m of nodes)
      if (m !== n && (inCidr(m.gateway, n.podCIDR) || inCidr(n.gateway, m.podCIDR)))
        throw new Error(`nodes ${n.name} and ${m.name}: pod CIDRs overlap`);
  }
  for (const e of t.externals)
    if (!inCidr(e.address, t.underlayCIDR)) throw new Error(`external ${e.name}: address ${e.address} is outside underlayCIDR ${t.underlayCIDR}`);
  const controlPlane = controlPlaneAddress(t.underlayCIDR);
  for (const h of [...t.nodes, ...t.externals])
    if (h.address === controlPlane) throw new Error(`${h.name}: address ${h.address} is the lab's control-plane address (the API server); use another`);
  for (const s of t.services)
    if (!inCidr(s.clusterIP, t.serviceCIDR)) throw new Error(`service ${s.name}: clusterIP ${s.clusterIP} is outside serviceCIDR ${t.serviceCIDR}`);

  let model: ClusterModel = {
    name: t.name,
    cni: t.cni,
    kubeProxy: t.kubeProxy,
    clusterDomain: t.clusterDomain,
    serviceCIDR: t.serviceCIDR,
    underlayCIDR: t.underlayCIDR,
    ...(opts.uidSeed ? { uidSeed: opts.uidSeed } : {}),
    nodes,
    pods: [],
    services: t.services.map((s) => ({
      namespace: s.namespace,
      name: s.name,
      uid: uid('service', `${s.namespace}/${s.name}`),
      type: s.type,
      clusterIP: s.clusterIP,
      selector: s.selector,
      ports: s.ports,
      endpoints: [],
    })),
    externals: t.externals.map((e) => ({ name: e.name, address: e.address })),
    deployments: t.deployments,
  };
  let ordinal = 0;
  for (const p of t.pods) {
    const node = nodes.find((n) => n.name === p.node)!;
    const pod: ModelPod = {
      namespace: p.namespace,
      name: p.name,
      uid: podUid(model, p.namespace, p.name),
      node: p.node,
      ip: allocateIp(model, node),
      labels: p.labels,
      containers: p.containers,
      hostVeth: hostVethName(t.cni, p.namespace, p.name),
      ordinal: ordinal++,
    };
    model = { ...model, pods: [...model.pods, pod] };
  }
  for (const d of t.deployments)
    for (let i = 0; i < d.replicas; i++) model = { ...model, pods: [...model.pods, deploymentPod(model, d, i, ordinal++)] };
  return resolveEndpoints(model);
}

/** Pods of a Deployment, oldest first. */
export function deploymentPods(model: ClusterModel, namespace: string, name: string): ModelPod[] {
  return model.pods
    .filter((p) => p.deployment?.name === name && p.namespace === namespace)
    .sort((a, b) => a.ordinal - b.ordinal);
}

/**
 * Scale a Deployment to `replicas`: new pods are spread over its nodes, the newest pods are
 * removed first. Returns the new model and what changed, so the builder can add/remove netns.
 */
export function scaleDeployment(
  model: ClusterModel,
  namespace: string,
  name: string,
  replicas: number,
): { model: ClusterModel; added: ModelPod[]; removed: ModelPod[] } {
  const d = model.deployments.find((x) => x.name === name && x.namespace === namespace);
  if (!d) throw new Error(`no deployment ${namespace}/${name} (have: ${model.deployments.map((x) => `${x.namespace}/${x.name}`).join(', ') || 'none'})`);
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 20) throw new Error(`replicas must be an integer 0..20, got ${replicas}`);
  const current = deploymentPods(model, namespace, name);
  const added: ModelPod[] = [];
  const removed: ModelPod[] = [];
  let next = model;
  if (replicas > current.length) {
    let ordinal = Math.max(-1, ...model.pods.map((p) => p.ordinal)) + 1;
    for (let i = current.length; i < replicas; i++) {
      const pod = deploymentPod(next, d, i, ordinal++);
      added.push(pod);
      next = { ...next, pods: [...next.pods, pod] };
    }
  } else {
    removed.push(...current.slice(replicas));
    const gone = new Set(removed.map((p) => p.uid));
    next = { ...next, pods: next.pods.filter((p) => !gone.has(p.uid)) };
  }
  const deployments = next.deployments.map((x) => (x === d ? { ...x, replicas } : x));
  return { model: resolveEndpoints({ ...next, deployments }), added, removed };
}
