// Fuzz on the generated program itself: 10k random filters whose every string carries a marker
// ("qzx", in no template), resolved by a resolver that accepts any well-formed name. No
// accepted filter may put the marker (or anything but the template and numbers) in the
// bpftrace program; refused ones throw FilterError and nothing else.
import { describe, expect, it } from 'vitest';
import { compileFilter, FilterError, type FilterResolver, type FilterSpec } from './filter.ts';
import { loadTemplates, renderProgram } from './program.ts';
import { seededRandom } from './__tests__/seeded-random.ts';

describe('fuzz: user text never reaches the bpftrace program', () => {
  it('10k random filters: the program has no trace of the input, only template text and numbers', () => {
    const rnd = seededRandom(777);
    const t = loadTemplates();
    expect(`${t.datapath}${t.natKprobe}`).not.toMatch(/qzx/i);
    const nasty = ['qzx', 'qzx"); system("id', 'qzx}', '{qzx', 'qzx;exit()', '$qzx', 'qzx\n', 'QZX', 'qzx/qzx', 'svc/qzx/qzx', 'default/qzx-1', 'qzx.svc', '10.0.0.1qzx', 'qzx:80', '[qzx]'];
    const glue = ['/', ':', '-', '.', '', '10.0.0.', '::', '/24', 'svc/'];
    const any: FilterResolver = {
      podIps: (ns, name) => ((ns.length + name.length) % 2 === 0 ? ['10.244.0.9'] : ['fd00::9']),
      serviceIps: () => [{ ip: '10.96.0.1', port: 80, proto: 'TCP' }],
    };
    const str = (): string => {
      let s = nasty[rnd(nasty.length)]!;
      for (let i = rnd(3); i > 0; i--) s = rnd(2) ? glue[rnd(glue.length)] + s : s + glue[rnd(glue.length)];
      return s;
    };
    let accepted = 0;
    let programs = 0;
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      // The spec as `hopscope trace` builds it from --from, --to, -n and --proto.
      const spec: Record<string, unknown> = {};
      if (rnd(2)) spec.from = str();
      if (rnd(2)) spec.to = str();
      if (rnd(3) === 0) spec.namespace = str();
      if (rnd(4) === 0) spec.proto = str();
      let program: string;
      try {
        const kf = compileFilter(spec as FilterSpec, any);
        program = renderProgram(kf, { probeSet: rnd(2) ? 'tracepoints' : 'kprobes', vxlanPorts: [4789, 8472], templates: t });
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(FilterError);
        continue;
      }
      accepted++;
      expect(program, JSON.stringify(spec)).not.toMatch(/qzx/i);
      if (!seen.has(program)) {
        seen.add(program);
        programs++;
      }
    }
    // Names did get through the parser and changed the program (as addresses), so the check bit.
    expect(accepted).toBeGreaterThan(1000);
    expect(programs).toBeGreaterThan(2);
  });
});
