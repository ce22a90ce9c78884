import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../tracer/capabilities.ts';
import { missing } from './doctor.ts';

const ok = { ok: true, detail: 'ok' };
const base: Capabilities = {
  kernel: '6.18', littleEndian: true, root: true, btf: ok, tracefs: { ...ok, path: '/sys/kernel/tracing' },
  bpftrace: { ...ok, version: '0.17.0' }, tracepoints: ok, kprobes: ok, fentry: ok,
  natFunctions: ['nf_nat_manip_pkt'], probeSet: 'kprobes', probeSetReason: 'kprobes attach',
};

describe('doctor: missing', () => {
  it('names the package or step for each gap', () => {
    expect(missing(base, true)).toEqual([]);
    const m = missing({ ...base, bpftrace: { ok: false, detail: 'no', version: null }, btf: { ok: false, detail: 'no' }, probeSet: 'tracepoints' }, false);
    expect(m.join('\n')).toMatch(/apt-get install bpftrace/);
    expect(m.join('\n')).toMatch(/apt-get install util-linux/);
    expect(m.join('\n')).toMatch(/CONFIG_DEBUG_INFO_BTF/);
    expect(m.join('\n')).toMatch(/NAT is read from conntrack/);
  });
});
