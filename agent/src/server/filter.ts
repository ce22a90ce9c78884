// Per-client journey filtering (pure), and the union of all clients' filters that the tracer
// can apply in the kernel. The kernel filter is a superset: the hub still filters per client.
import type { Endpoint, Journey, L4Proto } from '../protocol/events.ts';
import type { ClientFilter } from '../protocol/messages.ts';

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
