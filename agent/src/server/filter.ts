// Per-client journey filtering (pure), and the union of all clients' filters that the tracer
// can apply in the kernel. The kernel filter is a superset: the websocket fan-out still filters per client.
import type { L4Proto } from '../protocol/events.ts';
import { matchJourney, type ClientFilter } from '../protocol/messages.ts';

export { matchJourney };

/**
 * The kernel-side filter that covers every client: protocols and ports the tracer needs to
 * print, `null` meaning "all". Pods and services stay names here; turning them into addresses
 * needs the identity index and belongs to the tracer's filter compiler.
 */
export interface FilterUnion {
  protos: L4Proto[] | null;
  ports: number[] | null;
  /** Pods (namespace/name or deployment prefix) some client asked for, or null for any. */
  pods: { namespace?: string; name: string }[] | null;
  services: { namespace?: string; name: string }[] | null;
  /** True only when every client wants drops only. */
  onlyDrops: boolean;
}

/** Union of client filters; an empty list (nobody watching) yields "all" so status stays live. */
export function unionFilters(filters: ClientFilter[]): FilterUnion {
  const all: FilterUnion = { protos: null, ports: null, pods: null, services: null, onlyDrops: false };
  if (filters.length === 0) return all;
  const protos = new Set<L4Proto>();
  const ports = new Set<number>();
  const pods = new Map<string, { namespace?: string; name: string }>();
  const services = new Map<string, { namespace?: string; name: string }>();
  let anyProto = false;
  let anyPort = false;
  let anyPod = false;
  let anyService = false;
  for (const f of filters) {
    if (f.proto) protos.add(f.proto);
    else anyProto = true;
    if (f.port !== undefined) ports.add(f.port);
    else anyPort = true;
    // A client filtering by pod still sees every address of that pod; one filtering by
    // service needs the service's traffic. A client with neither needs everything.
    if (f.pod !== undefined) pods.set(`${f.namespace ?? ''}/${f.pod}`, f.namespace ? { namespace: f.namespace, name: f.pod } : { name: f.pod });
    if (f.service !== undefined)
      services.set(`${f.namespace ?? ''}/${f.service}`, f.namespace ? { namespace: f.namespace, name: f.service } : { name: f.service });
    if (f.pod === undefined && f.service === undefined) {
      anyPod = true;
      anyService = true;
    }
  }
  const sortedPorts = [...ports].sort((a, b) => a - b);
  return {
    protos: anyProto ? null : [...protos].sort(),
    ports: anyPort ? null : sortedPorts,
    pods: anyPod ? null : [...pods.values()],
    services: anyService ? null : [...services.values()],
    onlyDrops: filters.every((f) => f.onlyDrops),
  };
}

/** Whether two unions are the same (avoids restarting the tracer for nothing). */
export function sameUnion(a: FilterUnion, b: FilterUnion): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
