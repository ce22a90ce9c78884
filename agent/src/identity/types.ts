// What correlation needs to know about the cluster. The identity index (Kubernetes informers,
// plus the netns map of the node or the lab) implements it; tests use plain objects.
import type { PodRef, ServiceRef } from '../protocol/events.ts';

/** Who owns a network namespace on this node. */
export interface NetnsOwner {
  pod?: PodRef;
  node?: string;
  /** Short human label: "client (default)", "node-1", "ext-client". */
  label: string;
}

/** Read-only lookups used to name what the tracer sees. */
export interface IdentityLookup {
  /** False while the index is (re)listing after a lost watch: names may be stale or missing. */
  readonly synced: boolean;
  /** Pod owning this IP (pod IPs are unique in a cluster). */
  podByIp(ip: string): PodRef | undefined;
  /** Node owning this address (InternalIP). */
  nodeByIp(ip: string): string | undefined;
  /** Service addressed by a ClusterIP:port/proto, or a NodePort on any node address. */
  serviceByAddr(ip: string, port: number, proto: 'tcp' | 'udp'): ServiceRef | undefined;
  /** Owner of a network namespace (by inode number). */
  netnsOwner(inode: number): NetnsOwner | undefined;
  /** Pod IPs and node addresses of a pod / service, for turning filters into addresses. */
  podIps(namespace: string, name: string): string[];
  serviceIps(namespace: string, name: string): { ip: string; port: number; proto: 'tcp' | 'udp' }[];
}
