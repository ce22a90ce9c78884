// The Kubernetes Secrets of hopscope's mutual TLS, as `kubectl hopscope install` and
// `hopscope certs` write them (tls.yaml, a resource of the kustomization):
//   hopscope-ca         ca.crt, ca.key   kept to issue certificates for new nodes and renewals;
//                                       mounted by no pod
//   hopscope-agent-tls  ca.crt, <node>.crt, <node>.key for every node   (the DaemonSet mounts it)
//   hopscope-hub-tls    ca.crt, hub.crt, hub.key                         (the hub mounts it)
// Each run issues new leaves (a renewal: the pods take them without a restart); the CA is
// kept when one is given.
import { issueCert, makeCa, type CertAuthority } from './certs.ts';
import { HUB_IDENTITY } from './material.ts';

export const CA_SECRET = 'hopscope-ca';
export const AGENT_TLS_SECRET = 'hopscope-agent-tls';
export const HUB_TLS_SECRET = 'hopscope-hub-tls';
/** Where the manifests mount the TLS Secrets (agent and hub alike). */
export const TLS_MOUNT = '/etc/hopscope/tls';

const NODE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Validity of what `install` issues: the CA ten years, the leaves one year. */
export const CA_DAYS = 3650;
export const LEAF_DAYS = 365;

/** Issue the leaves for `nodes` (and the hub) under `ca`, or a new CA. Throws for a bad node name. */
export function issueClusterTls(o: { nodes: string[]; ca?: CertAuthority; leafDays?: number }): { ca: CertAuthority; agents: Record<string, { certPem: string; keyPem: string }>; hub: { certPem: string; keyPem: string } } {
  if (o.nodes.length === 0) throw new Error('no nodes: an agent certificate is issued for each node');
  for (const n of o.nodes) if (!NODE.test(n)) throw new Error(`"${n.slice(0, 80)}" is not a node name`);
  const ca = o.ca ?? makeCa('hopscope-ca', { days: CA_DAYS });
  const validity = { days: o.leafDays ?? LEAF_DAYS };
  const agents: Record<string, { certPem: string; keyPem: string }> = {};
  for (const node of [...new Set(o.nodes)].sort()) agents[node] = issueCert(ca, { commonName: `hopscope-agent ${node}`, dnsNames: [node], usage: 'server', validity });
  const hub = issueCert(ca, { commonName: HUB_IDENTITY, dnsNames: [HUB_IDENTITY], usage: 'client', validity });
  return { ca, agents, hub };
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function secret(name: string, namespace: string, files: Record<string, string>): string {
  const data = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, b64(v)]));
  // JSON is YAML: kubectl (and kustomize v2 inside kubectl 1.20) read it as such.
  return JSON.stringify({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'hopscope' } }, data }, null, 2);
}

/** tls.yaml: the three Secrets. Pure. */
export function tlsSecretsYaml(t: ReturnType<typeof issueClusterTls>, namespace = 'hopscope'): string {
  const agentFiles: Record<string, string> = { 'ca.crt': t.ca.certPem };
  for (const [node, c] of Object.entries(t.agents)) {
    agentFiles[`${node}.crt`] = c.certPem;
    agentFiles[`${node}.key`] = c.keyPem;
  }
  return [
    '# hopscope mutual TLS (made by `hopscope certs` / `kubectl hopscope install`): holds private keys, never commit it.',
    secret(CA_SECRET, namespace, { 'ca.crt': t.ca.certPem, 'ca.key': t.ca.keyPem }),
    '---',
    secret(AGENT_TLS_SECRET, namespace, agentFiles),
    '---',
    secret(HUB_TLS_SECRET, namespace, { 'ca.crt': t.ca.certPem, 'hub.crt': t.hub.certPem, 'hub.key': t.hub.keyPem }),
    '',
  ].join('\n');
}

/** The CA out of `kubectl get secret hopscope-ca -o json` (empty text: none yet). Throws for a broken one. */
export function caFromSecretJson(text: string): CertAuthority | undefined {
  if (!text.trim()) return undefined;
  let data: Record<string, string> | undefined;
  try {
    data = (JSON.parse(text) as { data?: Record<string, string> }).data;
  } catch {
    throw new Error(`secret ${CA_SECRET}: not JSON`);
  }
  const cert = data?.['ca.crt'];
  const key = data?.['ca.key'];
  if (!cert || !key) throw new Error(`secret ${CA_SECRET} lacks ca.crt or ca.key`);
  return { certPem: Buffer.from(cert, 'base64').toString('utf8'), keyPem: Buffer.from(key, 'base64').toString('utf8') };
}
