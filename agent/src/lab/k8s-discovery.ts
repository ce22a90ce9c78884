// The discovery documents of the lab API: the legacy per-group lists (/api/v1, /apis/<g>/v1) that
// kubectl 1.20 reads, and the aggregated apidiscovery.k8s.io document (/api, /apis) that kubectl
// 1.26+ asks for first. Both are made from RESOURCES, so they never disagree. Pure.
import { RESOURCES, RESOURCE_NAMES, type ResourceName } from './k8s-objects.ts';

/** The named API groups the lab serves (the core group is /api/v1). */
export const API_GROUPS = [...new Set(RESOURCE_NAMES.map((r) => RESOURCES[r].group).filter((g) => g !== ''))];

/** The aggregated discovery versions kubectl asks for (v2 first, then v2beta1). */
export type DiscoveryVersion = 'v2' | 'v2beta1';

const VERBS = ['get', 'list', 'watch'];
const SCALE_VERBS = ['get', 'patch', 'update'];
/** What `kubectl get all` lists. */
const IN_ALL: readonly ResourceName[] = ['pods', 'services', 'deployments', 'replicasets'];

/** One group's APIResourceList entries (legacy discovery). */
export function discoveryResources(group: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const r of RESOURCE_NAMES) {
    const i = RESOURCES[r];
    if (i.group !== group) continue;
    out.push({
      name: r,
      singularName: i.singular,
      namespaced: i.namespaced,
      kind: i.kind,
      verbs: VERBS,
      ...(i.shortNames.length ? { shortNames: i.shortNames } : {}),
      ...(IN_ALL.includes(r) ? { categories: ['all'] } : {}),
    });
    if (r === 'deployments') out.push({ name: 'deployments/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: SCALE_VERBS });
  }
  return out;
}

/** A named group's APIGroup document (/apis/<group>). */
export function apiGroup(group: string): Record<string, unknown> {
  const gv = { groupVersion: `${group}/v1`, version: 'v1' };
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: [gv], preferredVersion: gv };
}

function groupDiscovery(group: string): Record<string, unknown> {
  const resources = RESOURCE_NAMES.filter((r) => RESOURCES[r].group === group).map((r) => {
    const i = RESOURCES[r];
    return {
      resource: r,
      responseKind: { group, version: i.version, kind: i.kind },
      scope: i.namespaced ? 'Namespaced' : 'Cluster',
      singularResource: i.singular,
      verbs: VERBS,
      ...(i.shortNames.length ? { shortNames: i.shortNames } : {}),
      ...(IN_ALL.includes(r) ? { categories: ['all'] } : {}),
      ...(r === 'deployments' ? { subresources: [{ subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: SCALE_VERBS }] } : {}),
    };
  });
  return { metadata: { name: group, creationTimestamp: null }, versions: [{ version: 'v1', resources, freshness: 'Current' }] };
}

/** The aggregated discovery document of the core group (`/api`) or of the named groups (`/apis`). */
export function aggregatedDiscovery(which: 'core' | 'named', version: DiscoveryVersion): Record<string, unknown> {
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: which === 'core' ? [groupDiscovery('')] : API_GROUPS.map(groupDiscovery),
  };
}
