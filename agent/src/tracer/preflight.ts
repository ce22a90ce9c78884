// What the agent needs before it starts (`hopscope serve`, `hopscope start`): root, bpftrace,
// the kernel's BTF, tracefs and setpriv. Missing any of them the agent refuses to start and
// says what to install, rather than coming up with a tracer that can never run.
import { access, constants } from 'node:fs/promises';
import { execa } from 'execa';
import { bpftraceVersion, ensureTracefs } from './capabilities.ts';
import { hostPaths } from './host-paths.ts';

/** Measured facts the decision is made from. */
export interface PrerequisiteFacts {
  root: boolean;
  bpftrace: { ok: boolean; detail: string };
  btf: { ok: boolean; path: string };
  tracefs: { ok: boolean; detail: string };
  setpriv: boolean;
}

/** Pure: one line per missing prerequisite, each saying what to do about it. */
export function prerequisiteProblems(f: PrerequisiteFacts): string[] {
  const out: string[] = [];
  // Tool output (mount's) spans lines; each problem is one line.
  const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
  if (!f.root) {
    out.push('not running as root: bpftrace and network namespaces need it. Run it with sudo (on Kubernetes: the DaemonSet in manifests/, privileged).');
  }
  if (!f.bpftrace.ok) out.push(`bpftrace is missing (${oneLine(f.bpftrace.detail)}): install it (Debian/Ubuntu: apt-get install bpftrace; Fedora: dnf install bpftrace).`);
  if (!f.btf.ok) {
    out.push(`no kernel BTF at ${f.btf.path}: the trace program reads kernel structs through BTF. Use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian/Ubuntu stock kernels have it: apt-get install linux-image-amd64), or set HOPSCOPE_BTF_PATH to where it is.`);
  }
  if (!f.tracefs.ok) {
    out.push(`tracefs is not available (${oneLine(f.tracefs.detail)}): mount it with "mount -t tracefs nodev /sys/kernel/tracing" (kernel with CONFIG_FTRACE), or set HOPSCOPE_TRACEFS_PATH to where it is mounted.`);
  }
  if (!f.setpriv) out.push('setpriv is missing (it stops bpftrace when the agent dies): install util-linux (Debian/Ubuntu: apt-get install util-linux).');
  return out;
}

/** The message the agent prints when it refuses to start. */
export function refusalMessage(command: string, problems: string[]): string {
  return `hopscope ${command}: cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}\n(\`hopscope doctor\` shows everything this machine can and cannot trace.)`;
}

/**
 * For the commands that trace (serve, start, trace): the refusal to print when this machine
 * cannot trace, else undefined. Checked before anything is started or said.
 */
export async function refusal(command: string): Promise<string | undefined> {
  const problems = await checkPrerequisites();
  return problems.length > 0 ? refusalMessage(command, problems) : undefined;
}

/** Measures the prerequisites (cheap: no probe is attached). Mounts tracefs when root and it is not mounted. */
export async function checkPrerequisites(): Promise<string[]> {
  const paths = hostPaths();
  const root = process.getuid?.() === 0;
  const [bpftrace, btf, tracefs, setpriv] = await Promise.all([
    bpftraceVersion(),
    access(paths.btf, constants.R_OK).then(() => true, () => false),
    ensureTracefs(root, paths.tracefsDirs),
    execa('setpriv', ['--version'], { reject: false, timeout: 5000 }).then((r) => r.exitCode === 0, () => false),
  ]);
  return prerequisiteProblems({ root, bpftrace, btf: { ok: btf, path: paths.btf }, tracefs, setpriv });
}
