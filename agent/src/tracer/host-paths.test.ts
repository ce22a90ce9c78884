import { describe, expect, it } from 'vitest';
import { hostPaths } from './host-paths.ts';

describe('hostPaths', () => {
  it('defaults to the kernel paths', () => {
    expect(hostPaths({})).toEqual({ btf: '/sys/kernel/btf/vmlinux', tracefsDirs: ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'] });
  });
  it('takes overrides from the environment', () => {
    expect(hostPaths({ HOPSCOPE_BTF_PATH: '/boot/vmlinux-6.1.btf', HOPSCOPE_TRACEFS_PATH: '/mnt/tracing' })).toEqual({ btf: '/boot/vmlinux-6.1.btf', tracefsDirs: ['/mnt/tracing'] });
  });
  it('refuses relative, odd or traversing paths with the variable named', () => {
    expect(() => hostPaths({ HOPSCOPE_BTF_PATH: 'vmlinux' })).toThrow(/HOPSCOPE_BTF_PATH/);
    expect(() => hostPaths({ HOPSCOPE_TRACEFS_PATH: '/a/../etc' })).toThrow(/HOPSCOPE_TRACEFS_PATH/);
    expect(() => hostPaths({ HOPSCOPE_TRACEFS_PATH: '/x; rm -rf /' })).toThrow(/HOPSCOPE_TRACEFS_PATH/);
  });
});
