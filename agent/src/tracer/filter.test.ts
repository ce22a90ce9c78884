import { describe, expect, it } from 'vitest';
import { compileFilter, FilterError, parseFilterSpec, parseIp, type FilterResolver, type FilterSpec } from './filter.ts';
import { renderHoles, renderProgram } from './program.ts';
import { seededRandom } from './__tests__/seeded-random.ts';

const resolver: FilterResolver = {
  podIps: (ns, name) => (ns === 'shop' && name === 'web-1' ? ['10.244.1.2'] : []),
  serviceIps: (ns, name) => (ns === 'shop' && name === 'web' ? [{ ip: '10.96.0.10', port: 80, proto: 'TCP' }] : []),
};

describe('parseIp', () => {
  it('parses v4 and v6 forms', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, bytes: [10, 1, 2, 3] });
    expect(parseIp('fd00::1')?.bytes).toEqual([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIp('::ffff:10.0.0.1')?.bytes.slice(10)).toEqual([0xff, 0xff, 10, 0, 0, 1]);
    expect(parseIp('10.1.2')).toBeNull();
    expect(parseIp('web')).toBeNull();
  });
});

describe('compileFilter', () => {
  it('resolves pods, services, addresses and CIDRs', () => {
    const f = compileFilter({ from: 'shop/web-1', to: 'svc/shop/web', proto: 'tcp' }, resolver);
    expect(f.from).toEqual({ cidrs: [{ family: 4, bytes: [10, 244, 1, 2], prefix: 32 }], ports: [] });
    expect(f.to).toEqual({ cidrs: [{ family: 4, bytes: [10, 96, 0, 10], prefix: 32 }], ports: [80] });
    expect(f.proto).toBe('tcp');
    const g = compileFilter({ from: '10.1.2.3:8080', to: '10.0.255.7/16', namespace: 'shop' }, resolver);
    expect(g.from).toEqual({ cidrs: [{ family: 4, bytes: [10, 1, 2, 3], prefix: 32 }], ports: [8080] });
    expect(g.to?.cidrs[0]).toEqual({ family: 4, bytes: [10, 0, 0, 0], prefix: 16 });
    expect(compileFilter({ to: '[fd00::1]:53' }, resolver).to?.ports).toEqual([53]);
    expect(compileFilter({ from: 'web-1', namespace: 'shop' }, resolver).from?.cidrs).toHaveLength(1);
  });

  it("widens a Service to its backends, so the DNATed packet and the backend's reply match too", () => {
    const withBackends: FilterResolver = {
      ...resolver,
      serviceEndpoints: (ns, name) =>
        ns === 'shop' && name === 'web' ? [{ ip: '10.244.2.3', port: 8080 }, { ip: '10.244.1.4', port: 8080 }] : [],
    };
    const f = compileFilter({ to: 'svc/shop/web' }, withBackends);
    expect(f.to?.cidrs.map((c) => c.bytes.join('.'))).toEqual(['10.96.0.10', '10.244.2.3', '10.244.1.4']);
    expect(f.to?.ports).toEqual([80, 8080]);
  });

  it('says clearly what is wrong', () => {
    expect(() => compileFilter({ from: 'shop/nope' }, resolver)).toThrow(/pod shop\/nope not found/);
    expect(() => compileFilter({ to: 'svc/shop/nope' }, resolver)).toThrow(/Service shop\/nope not found/);
    // A bare name is a pod in "default" when no namespace is given, as kubectl reads it.
    expect(() => compileFilter({ to: 'web' }, resolver)).toThrow(/pod default\/web not found/);
    expect(() => compileFilter({ to: 'svc/web' }, resolver)).toThrow(/Service default\/web not found/);
    expect(() => compileFilter({ to: 'a/b/c' }, resolver)).toThrow(/"pod" in -n's namespace, default "default"/);
    expect(() => compileFilter({ to: '10.0.0.1/33' }, resolver)).toThrow(/prefix length/);
    expect(() => compileFilter({ to: '10.0.0.1:0' }, resolver)).toThrow(/port must be/);
    expect(() => parseFilterSpec({ proto: 'sctp' })).toThrow(/proto/);
    expect(() => parseFilterSpec({ bogus: 1 })).toThrow(FilterError);
  });
});

// Identifiers and tokens the renderer may put in holes; anything else means input leaked.
const HOLE_TOKEN = /^(\$(fs|fd|fsp|fdp|fpr|os|od|op|cp|ct|ns|a|s6h|s6l|d6h|d6l|sid|skb|q|cv)|@k|uint64|0x[0-9a-f]+|\d+|~?0x[0-9a-f]+|[()&|=!<>%*^~]+)$/;

function tokens(hole: string): string[] {
  return hole.split(/(\s+|\(|\))/).map((t) => t.trim()).filter((t) => t.length > 0);
}

describe('fuzz: random filter strings', () => {
  it('never throws anything but FilterError, and no input reaches the program except digits', () => {
    const rnd = seededRandom(12345);
    const alphabet = 'abcz019./:[]-_ $"\'{}();\\\n%@ñ\u0000svc';
    const pieces = ['10.0.0.1', 'fd00::', '/24', ':80', 'svc/', 'shop/', 'web-1', 'web', '::', '[', ']', '255', '-1', '99999'];
    const any: FilterResolver = {
      // Accept any valid name so that names get as far as the renderer.
      podIps: (ns, name) => (ns.length + name.length) % 2 === 0 ? ['10.244.0.9'] : ['fd00::9'],
      serviceIps: () => [{ ip: '10.96.0.1', port: 53, proto: 'UDP' }],
    };
    const randomString = (): string => {
      let s = '';
      if (rnd(2) === 0) {
        // Plausible: a few pieces glued together.
        const n = 1 + rnd(3);
        for (let i = 0; i < n; i++) s += pieces[rnd(pieces.length)];
        return s;
      }
      const n = rnd(24);
      for (let i = 0; i < n; i++) s += rnd(3) === 0 ? pieces[rnd(pieces.length)] : alphabet[rnd(alphabet.length)];
      return s;
    };
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      // The spec as the CLI builds it from its flags (a --port value that is not a number is NaN).
      const spec: Record<string, unknown> = {};
      if (rnd(3)) spec.from = randomString();
      if (rnd(3)) spec.to = randomString();
      if (rnd(4) === 0) spec.port = [Number(randomString())];
      if (rnd(4) === 0) spec.proto = ['tcp', 'udp', 'icmp', randomString()][rnd(4)]!;
      if (rnd(4) === 0) spec.namespace = rnd(2) ? 'shop' : randomString();
      let holes: Record<string, string>;
      try {
        const kf = compileFilter(spec as FilterSpec, any);
        holes = renderHoles(kf, { probeSet: 'tracepoints', vxlanPorts: [4789] });
        renderProgram(kf, { probeSet: 'tracepoints', vxlanPorts: [4789] });
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(FilterError);
        continue;
      }
      accepted++;
      for (const [hole, text] of Object.entries(holes)) {
        for (const t of tokens(text)) expect(HOLE_TOKEN.test(t), `${hole}: token "${t}" from ${JSON.stringify(spec)}`).toBe(true);
      }
    }
    // About 9% are valid filters (seed 12345): both outcomes are exercised.
    expect(accepted).toBeGreaterThan(500);
  });
});
