import { describe, expect, it } from 'vitest';
import { matchJourney, unionFilters } from './filter.ts';
import { syntheticJourney } from './__tests__/synthetic.ts';
import type { ClientFilter } from '../protocol/messages.ts';

const f = (x: Partial<ClientFilter>): ClientFilter => ({ onlyDrops: false, onlyNat: false, ...x });
const ok = syntheticJourney(1);
const dropped = syntheticJourney(2, { dropped: true });

describe('matchJourney', () => {
  it.each([
    ['everything', f({}), true, true],
    ['service web', f({ service: 'web' }), true, true],
    ['service web in kube-system', f({ service: 'web', namespace: 'kube-system' }), false, false],
    ['pod client', f({ pod: 'client' }), true, true],
    ['deployment name matches its pods', f({ pod: 'web' }), true, true],
    ['pod prefix without dash does not', f({ pod: 'we' }), false, false],
    ['namespace default', f({ namespace: 'default' }), true, true],
    ['namespace kube-system', f({ namespace: 'kube-system' }), false, false],
    ['service port 80', f({ port: 80 }), true, true],
    ['backend port 8080', f({ port: 8080 }), true, true],
    ['port 53', f({ port: 53 }), false, false],
    ['udp', f({ proto: 'udp' }), false, false],
    ['tcp', f({ proto: 'tcp' }), true, true],
    ['only drops', f({ onlyDrops: true }), false, true],
    ['only NAT', f({ onlyNat: true }), true, true],
  ])('%s', (_name, filter, wantOk, wantDropped) => {
    expect(matchJourney(ok, filter)).toBe(wantOk);
    expect(matchJourney(dropped, filter)).toBe(wantDropped);
  });

  it('only NAT refuses a journey without a rewrite', () => {
    const plain = { ...ok, hops: ok.hops.filter((h) => !h.nat) };
    expect(matchJourney(plain, f({ onlyNat: true }))).toBe(false);
  });
});

describe('unionFilters', () => {
  it('is everything when nobody filters or one client takes all', () => {
    expect(unionFilters([])).toEqual({ protos: null, ports: null, pods: null, services: null, onlyDrops: false });
    expect(unionFilters([f({ port: 80 }), f({})]).ports).toBeNull();
  });
  it('collects protocols, ports, pods and services as a superset', () => {
    const u = unionFilters([f({ port: 80, proto: 'tcp', service: 'web', namespace: 'default' }), f({ port: 53, proto: 'udp', pod: 'client' })]);
    expect(u).toEqual({
      protos: ['tcp', 'udp'],
      ports: [53, 80],
      pods: [{ name: 'client' }],
      services: [{ namespace: 'default', name: 'web' }],
      onlyDrops: false,
    });
  });
  it('asks the kernel for drops only when every client wants only drops', () => {
    expect(unionFilters([f({ onlyDrops: true }), f({ onlyDrops: true })]).onlyDrops).toBe(true);
    expect(unionFilters([f({ onlyDrops: true }), f({})]).onlyDrops).toBe(false);
  });
});
