import { describe, expect, it } from 'vitest';
import { bpftraceEnv, explainAttachFailure } from './runner.ts';

describe('explainAttachFailure', () => {
  it('turns LLVM\'s stack-limit advice into what a user can change: the filter', () => {
    const stderr = [
      "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace.",
      'error: <unknown>:0:0: in function tracepoint:net:netif_receive_skb i64 (i8*): Looks like the BPF stack limit of 512 bytes is exceeded. Please move large on stack variables into BPF per-cpu array map.',
    ];
    const m = explainAttachFailure(1, stderr);
    expect(m).toMatch(/^bpftrace exited before attaching \(code 1\): the filter is too big/);
    expect(m).toContain('fewer addresses and ports');
    expect(m).not.toContain('RLIMIT_MEMLOCK');
  });

  it('passes any other failure on as bpftrace said it', () => {
    expect(explainAttachFailure('SIGKILL', ['ERROR: tracepoint not found: net:nope'])).toBe('bpftrace exited before attaching (code SIGKILL): ERROR: tracepoint not found: net:nope');
  });
});

describe('bpftraceEnv', () => {
  it('names the map bound as each bpftrace version reads it (0.17 the old name, 0.23 the new one, which does not warn)', () => {
    expect(bpftraceEnv('0.17.0', 65536)).toEqual({ BPFTRACE_MAP_KEYS_MAX: '65536' });
    expect(bpftraceEnv('0.23.2', 65536)).toEqual({ BPFTRACE_MAX_MAP_KEYS: '65536' });
    expect(bpftraceEnv('1.0.0', 10)).toEqual({ BPFTRACE_MAX_MAP_KEYS: '10' });
    expect(bpftraceEnv(null, 10)).toEqual({ BPFTRACE_MAX_MAP_KEYS: '10' });
  });
});
