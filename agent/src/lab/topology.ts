// The lab topology: a Kubernetes-shaped cluster described in YAML, validated with zod.
// This module is pure: parse + validate + expand (Deployments → pods, addresses assigned).
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { cniModes, kubeProxyModes } from '../protocol/lab-modes.ts';

const ipv4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'must be an IPv4 address')
  .refine((s) => s.split('.').every((o) => Number(o) <= 255), 'octet out of range');
const cidr4 = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'must be an IPv4 CIDR like 10.244.1.0/24')
  .refine((s) => {
    const [a, p] = s.split('/');
    return a!.split('.').every((o) => Number(o) <= 255) && Number(p) >= 8 && Number(p) <= 30;
  }, 'octet or prefix out of range (prefix 8..30)');
/** DNS-1123 label, as Kubernetes requires for names. */
const dnsName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lower case, digits, -)');
const labels = z.record(z.string().regex(/^[A-Za-z0-9._/-]{1,63}$/), z.string().max(63)).default({});
const port = z.number().int().min(1).max(65535);

/** What a container process does. */
export const workloadSchema = z.discriminatedUnion('kind', [
  /** HTTP server answering with the pod's name. */
  z.object({ kind: z.literal('http'), port: port.default(8080), bind: ipv4.default('0.0.0.0') }),
  /** DNS responder for the lab's Services (the kube-dns backend). */
  z.object({ kind: z.literal('dns'), port: port.default(53) }),
  /** Periodic HTTP client (e.g. a sidecar talking to its pod's server over lo). */
  z.object({
    kind: z.literal('client'),
    target: z.string().min(1),
    intervalMs: z.number().int().min(100).max(3_600_000).default(5000),
  }),
  /** Nothing runs; the pod is a place to exec commands from (curl, dig). */
  z.object({ kind: z.literal('idle') }),
]);
export type Workload = z.infer<typeof workloadSchema>;

const containerSchema = z.object({ name: dnsName, run: workloadSchema });

const podSchema = z.object({
  name: dnsName,
  namespace: dnsName.default('default'),
  node: dnsName,
  labels,
  containers: z.array(containerSchema).min(1).max(4),
});

const deploymentSchema = z.object({
  name: dnsName,
  namespace: dnsName.default('default'),
  replicas: z.number().int().min(0).max(20),
  labels,
  /** Nodes the replicas are spread over, round robin; default all nodes. */
  nodes: z.array(dnsName).optional(),
  containers: z.array(containerSchema).min(1).max(4),
});

const servicePortSchema = z.object({
  name: dnsName.optional(),
  protocol: z.enum(['TCP', 'UDP']).default('TCP'),
  port,
  targetPort: port,
  nodePort: z.number().int().min(30000).max(32767).optional(),
});

const serviceSchema = z.object({
  name: dnsName,
  namespace: dnsName.default('default'),
  type: z.enum(['ClusterIP', 'NodePort']).default('ClusterIP'),
  clusterIP: ipv4,
  selector: z.record(z.string(), z.string()),
  ports: z.array(servicePortSchema).min(1),
});

const nodeSchema = z.object({
  name: dnsName,
  /** Pod CIDR of the node (flannel/calico block); pods get addresses from .2 upwards. */
  podCIDR: cidr4,
  /** Node address on the underlay. */
  address: ipv4,
});

const externalSchema = z.object({ name: dnsName, address: ipv4 });

export { cniModes, kubeProxyModes };

export const topologySchema = z
  .object({
    name: dnsName.max(20).default('lab'),
    cni: z.enum(cniModes).default('flannel-vxlan'),
    kubeProxy: z.enum(kubeProxyModes).default('iptables'),
    clusterDomain: z.string().regex(/^[a-z0-9.-]+$/).default('cluster.local'),
    serviceCIDR: cidr4.default('10.96.0.0/16'),
    /** Underlay network all nodes and externals share. */
    underlayCIDR: cidr4.default('10.0.0.0/24'),
    nodes: z.array(nodeSchema).min(1).max(6),
    pods: z.array(podSchema).default([]),
    deployments: z.array(deploymentSchema).default([]),
    services: z.array(serviceSchema).default([]),
    externals: z.array(externalSchema).default([]),
  })
  .superRefine((t, ctx) => {
    const nodeNames = new Set(t.nodes.map((n) => n.name));
    const uniq = (what: string, names: string[]) => {
      const seen = new Set<string>();
      for (const n of names) {
        if (seen.has(n)) ctx.addIssue({ code: 'custom', message: `duplicate ${what} "${n}"` });
        seen.add(n);
      }
    };
    uniq('node', t.nodes.map((n) => n.name));
    uniq('pod', [...t.pods.map((p) => `${p.namespace}/${p.name}`), ...t.deployments.map((d) => `${d.namespace}/${d.name}`)]);
    uniq('service', t.services.map((s) => `${s.namespace}/${s.name}`));
    uniq('address', [...t.nodes.map((n) => n.address), ...t.externals.map((e) => e.address)]);
    for (const p of t.pods)
      if (!nodeNames.has(p.node)) ctx.addIssue({ code: 'custom', message: `pod ${p.name}: unknown node "${p.node}"` });
    for (const d of t.deployments)
      for (const n of d.nodes ?? [])
        if (!nodeNames.has(n)) ctx.addIssue({ code: 'custom', message: `deployment ${d.name}: unknown node "${n}"` });
  });

/** A validated topology as written by the user (Deployments not yet expanded). */
export type Topology = z.infer<typeof topologySchema>;
/** Topology input before defaults are applied. */
export type TopologyInput = z.input<typeof topologySchema>;

/** Parse and validate a topology from YAML text; throws an Error with every problem listed. */
export function parseTopology(yamlText: string): Topology {
  let raw: unknown;
  try {
    raw = parseYaml(yamlText);
  } catch (e) {
    throw new Error(`topology: not valid YAML: ${(e as Error).message}`);
  }
  return validateTopology(raw);
}

/** Validate an already-parsed topology object. */
export function validateTopology(raw: unknown): Topology {
  const r = topologySchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new Error(`topology is invalid:\n${lines.join('\n')}`);
  }
  return r.data;
}
