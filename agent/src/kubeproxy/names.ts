// kube-proxy's chain names, computed as kube-proxy computes them, from what the Kubernetes API
// says (a Service port and its endpoints): deterministic, so an agent names the chain of any
// DNAT without reading the node's rules. Facts from kubernetes' pkg/proxy/iptables/proxier.go
// and pkg/proxy/nftables/proxier.go, checked against real nodes' rules (names.test.ts). Pure.
import { createHash } from 'node:crypto';

/** Which of kube-proxy's modes programs the node. */
export type KubeProxyMode = 'iptables' | 'nftables' | 'ipvs';
export const KUBE_PROXY_MODES: readonly KubeProxyMode[] = ['iptables', 'nftables', 'ipvs'];

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The first `len` characters of base32(sha256(s)) (RFC 4648 alphabet), as kube-proxy's hashes. */
export function base32Sha256(s: string, len: number): string {
  const digest = createHash('sha256').update(s).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5 && out.length < len) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= len) break;
  }
  return out;
}

/** One port of one Service, as kube-proxy keys it. */
export interface ServicePortKey {
  namespace: string;
  name: string;
  /** The Service port's name; "" for an unnamed port (kube-proxy leaves it empty too). */
  portName: string;
  proto: 'tcp' | 'udp' | 'sctp';
}

/** kube-proxy's ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port. */
export function servicePortName(k: ServicePortKey): string {
  return `${k.namespace}/${k.name}${k.portName ? `:${k.portName}` : ''}`;
}

const iptHash = (k: ServicePortKey, endpoint = ''): string => base32Sha256(servicePortName(k) + k.proto + endpoint, 16);

/** KUBE-SVC-<hash>: the Service port's cluster chain (picks an endpoint). */
export const svcChain = (k: ServicePortKey): string => `KUBE-SVC-${iptHash(k)}`;
/** KUBE-EXT-<hash>: NodePort / external IP / load-balancer entry (masquerade, then KUBE-SVC). */
export const extChain = (k: ServicePortKey): string => `KUBE-EXT-${iptHash(k)}`;
/** KUBE-FW-<hash>: load-balancer source ranges. */
export const fwChain = (k: ServicePortKey): string => `KUBE-FW-${iptHash(k)}`;
/** KUBE-SEP-<hash> of one endpoint "ip:port" (the DNAT). */
export const sepChain = (k: ServicePortKey, ip: string, port: number): string => `KUBE-SEP-${iptHash(k, `${ip}:${port}`)}`;

/** kube-proxy's computeProbability: 1/n with ten decimals (iptables-save prints eleven). */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

// nftables mode: "<8 of the hash of the base>-<base>", the base being
// "ns/name/proto/portName" (portName empty for an unnamed port), "…__ip/port" for an endpoint.
// IPv6 colons become dots there (nft chain names allow no colon); names never reach 240
// characters for IPv4, so kube-proxy's truncation does not apply.
const nftBase = (k: ServicePortKey): string => `${k.namespace}/${k.name}/${k.proto}/${k.portName}`;
const hashed = (base: string): string => `${base32Sha256(base, 8)}-${base}`;

/** service-<hash>-ns/name/proto/port: the Service port's cluster chain (numgen vmap). */
export const nftServiceChain = (k: ServicePortKey): string => `service-${hashed(nftBase(k))}`;
/** external-<hash>-…: the NodePort / external entry chain. */
export const nftExternalChain = (k: ServicePortKey): string => `external-${hashed(nftBase(k))}`;
/** endpoint-<hash>-ns/name/proto/port__ip/port: one endpoint's chain (the DNAT). */
export const nftEndpointChain = (k: ServicePortKey, ip: string, port: number): string =>
  `endpoint-${hashed(`${nftBase(k)}__${ip.replaceAll(':', '.')}/${port}`)}`;

/** `--kube-proxy-mode` text → the mode (throws naming the choices). */
export function readKubeProxyMode(text: string): KubeProxyMode {
  const m = KUBE_PROXY_MODES.find((x) => x === text);
  if (!m) throw new Error(`expected ${KUBE_PROXY_MODES.join(', ')}, got "${text.slice(0, 40)}"`);
  return m;
}
