// Where the agent looks for the kernel facts it needs (BTF, tracefs). One place, read from the
// environment and validated, so a node with an unusual layout (or a test) can point elsewhere.
// Pure.
import { TRACEFS_DIRS } from './drop-reasons.ts';

/** Kernel paths the agent checks and reads. */
export interface HostPaths {
  /** The kernel's BTF (`/sys/kernel/btf/vmlinux`): the program casts kernel structs with it. */
  btf: string;
  /** Where tracefs may be mounted, in order of preference; the first is where it is mounted when none is. */
  tracefsDirs: string[];
}

const SAFE_PATH = /^\/[A-Za-z0-9_.\-/]{0,255}$/;

function pathFromEnv(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!SAFE_PATH.test(v) || v.split('/').includes('..')) throw new Error(`${name}: expected an absolute path of A-Z a-z 0-9 _ . - /, got "${v.slice(0, 80)}"`);
  return v;
}

/** HOPSCOPE_BTF_PATH and HOPSCOPE_TRACEFS_PATH override the defaults; throws on a malformed value. */
export function hostPaths(env: Record<string, string | undefined> = process.env): HostPaths {
  const btf = pathFromEnv(env, 'HOPSCOPE_BTF_PATH') ?? '/sys/kernel/btf/vmlinux';
  const tracefs = pathFromEnv(env, 'HOPSCOPE_TRACEFS_PATH');
  return { btf, tracefsDirs: tracefs ? [tracefs] : [...TRACEFS_DIRS] };
}
