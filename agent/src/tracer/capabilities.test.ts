import { describe, expect, it } from 'vitest';
import { chooseProbeSet } from './capabilities.ts';

describe('chooseProbeSet', () => {
  it('uses kprobes only where they attach and the NAT function exists', () => {
    const yes = { ok: true, detail: 'attaches' };
    const no = { ok: false, detail: "Error attaching probe: 'kprobe:nf_nat_manip_pkt'" };
    expect(chooseProbeSet({ kprobes: yes, tracepoints: yes, natFunctions: ['nf_nat_manip_pkt'] }).probeSet).toBe('kprobes');
    const a = chooseProbeSet({ kprobes: no, tracepoints: yes, natFunctions: ['nf_nat_manip_pkt'] });
    expect(a.probeSet).toBe('tracepoints');
    expect(a.reason).toContain('kprobes do not attach');
    const b = chooseProbeSet({ kprobes: yes, tracepoints: yes, natFunctions: ['nf_nat_ipv4_manip_pkt'] });
    expect(b).toEqual({ probeSet: 'tracepoints', reason: 'no nf_nat_manip_pkt in this kernel; NAT is read from conntrack on the next hop' });
  });
});
