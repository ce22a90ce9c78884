import { describe, expect, it } from 'vitest';
import { labCgroupRoots, parseCgroupMounts, parseProcCgroup } from './cgroups.ts';

// This machine's layout (cgroup v1 controllers, name=systemd, cgroup2 at unified) and a
// systemd host with cgroup v2 only, where this process sits in a service's group.
const HYBRID_MOUNTS = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 23 0:40 / /proc rw - proc proc rw`;
const HYBRID_SELF = `9:name=systemd:/
4:memory:/process_api/8d0d83edd877d5adb45f2c9b3238ee37
3:cpuset:/
1:cpu:/
0::/
`;

describe('cgroup hierarchies', () => {
  it('parses /proc/<pid>/cgroup', () => {
    expect(parseProcCgroup('10:cpu,cpuacct:/a/b\n0::/x\nbogus\n')).toEqual([
      { id: 10, controllers: ['cpu', 'cpuacct'], path: '/a/b' },
      { id: 0, controllers: [], path: '/x' },
    ]);
  });

  it('puts the lab tree below this process\'s own group in every hierarchy (a memory limit above it still holds)', () => {
    const roots = labCgroupRoots(parseProcCgroup(HYBRID_SELF), parseCgroupMounts(HYBRID_MOUNTS), 'hs-lab.ab12-kubelet');
    expect(roots).toEqual([
      '/sys/fs/cgroup/systemd/hs-lab.ab12-kubelet',
      '/sys/fs/cgroup/memory/process_api/8d0d83edd877d5adb45f2c9b3238ee37/hs-lab.ab12-kubelet',
      '/sys/fs/cgroup/cpuset/hs-lab.ab12-kubelet',
      '/sys/fs/cgroup/cpu/hs-lab.ab12-kubelet',
      '/sys/fs/cgroup/unified/hs-lab.ab12-kubelet',
    ]);
  });

  it('on a cgroup v2 host uses the one hierarchy, and a mount showing a subtree (cgroup namespace) maps paths', () => {
    const v2 = '28 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot';
    expect(labCgroupRoots(parseProcCgroup('0::/system.slice/lab.service\n'), parseCgroupMounts(v2), 'x-kubelet')).toEqual(['/sys/fs/cgroup/system.slice/lab.service/x-kubelet']);
    const nested = '28 23 0:26 /kubelet.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw';
    expect(labCgroupRoots(parseProcCgroup('0::/kubelet.slice/a\n'), parseCgroupMounts(nested), 'x-kubelet')).toEqual(['/sys/fs/cgroup/a/x-kubelet']);
    // A hierarchy of ours that is not mounted is skipped, not guessed.
    expect(labCgroupRoots(parseProcCgroup('5:pids:/\n'), parseCgroupMounts(v2), 'x-kubelet')).toEqual([]);
  });
});
