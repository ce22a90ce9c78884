import { describe, expect, it } from 'vitest';
import { prerequisiteProblems, refusalMessage, type PrerequisiteFacts } from './preflight.ts';

const ok: PrerequisiteFacts = {
  root: true,
  bpftrace: { ok: true, detail: 'bpftrace v0.17.0' },
  btf: { ok: true, path: '/sys/kernel/btf/vmlinux' },
  tracefs: { ok: true, detail: 'mounted at /sys/kernel/tracing' },
  setpriv: true,
};

describe('prerequisiteProblems', () => {
  it('finds nothing missing on a ready machine', () => {
    expect(prerequisiteProblems(ok)).toEqual([]);
  });
  it('names each missing piece and what to install', () => {
    const p = prerequisiteProblems({
      root: false,
      bpftrace: { ok: false, detail: 'bpftrace not found' },
      btf: { ok: false, path: '/nope/vmlinux' },
      tracefs: { ok: false, detail: 'not mounted' },
      setpriv: false,
    });
    expect(p).toHaveLength(5);
    expect(p[0]).toMatch(/not running as root.*sudo/);
    expect(p[1]).toMatch(/bpftrace is missing.*apt-get install bpftrace/);
    expect(p[2]).toMatch(/no kernel BTF at \/nope\/vmlinux.*CONFIG_DEBUG_INFO_BTF/);
    expect(p[3]).toMatch(/tracefs.*mount -t tracefs/);
    expect(p[4]).toMatch(/setpriv.*util-linux/);
    expect(refusalMessage('serve', p)).toMatch(/^hopscope serve: cannot start:\n {2}- not running as root/);
  });
});
