import { describe, expect, it } from 'vitest';
import { API_GROUPS, aggregatedDiscovery, discoveryResources } from './k8s-discovery.ts';
import { negotiate } from './k8s-table.ts';

type Agg = { items: { metadata: { name: string }; versions: { version: string; resources: { resource: string; scope: string; responseKind: { kind: string }; subresources?: { subresource: string }[] }[] }[] }[] };

describe('discovery documents', () => {
  it('aggregated discovery names the same resources, kinds and scopes as the legacy lists', () => {
    for (const [which, groups] of [['core', ['']], ['named', API_GROUPS]] as const) {
      const doc = aggregatedDiscovery(which, 'v2') as unknown as Agg;
      expect(doc.items.map((i) => i.metadata.name)).toEqual(groups);
      for (const item of doc.items) {
        const legacy = discoveryResources(item.metadata.name) as { name: string; kind: string; namespaced: boolean }[];
        const flat = item.versions[0]!.resources.flatMap((r) => [
          { name: r.resource, kind: r.responseKind.kind, namespaced: r.scope === 'Namespaced' },
          ...(r.subresources ?? []).map((s) => ({ name: `${r.resource}/${s.subresource}`, kind: 'Scale', namespaced: true })),
        ]);
        expect(flat).toEqual(legacy.map((l) => ({ name: l.name, kind: l.kind, namespaced: l.namespaced })));
      }
    }
    expect(aggregatedDiscovery('named', 'v2beta1').apiVersion).toBe('apidiscovery.k8s.io/v2beta1');
  });

  it("kubectl's discovery Accept picks the aggregated form on /api and /apis only", () => {
    const accept = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
    expect(negotiate(accept, true)).toEqual({ type: 'discovery', version: 'v2' });
    expect(negotiate(accept)).toEqual({ type: 'json' });
    expect(negotiate('application/json, */*', true)).toEqual({ type: 'json' });
  });
});
