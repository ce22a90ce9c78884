// Removing a lab: everything recorded in its state file and everything carrying its namespace
// prefix, so a run killed with -9 (or one that crashed before writing its state) is cleaned up
// too. Only processes that are provably the lab's are killed: those inside its namespaces and
// its controller (checked by command line), never anything found by name.
import { readFileSync, rmSync } from 'node:fs';
import { LABS_DIR, listLabNames, readLabState, statePath, type LabState } from './state.ts';
import { deleteNetns, killPids, listNetns, netnsPids, processNetnsInode } from './netns.ts';
import { parseNetnsName } from './naming.ts';
import { findLabCgroupRoots, removeCgroupTree } from './cgroups.ts';
import { join } from 'node:path';

/** What a teardown removed. */
export interface TeardownReport {
  lab: string;
  netns: string[];
  killed: number[];
  /** Cgroup directories that could not be removed (still busy), with the reason. */
  cgroupsLeft: string[];
}

function isLabController(pid: number, lab: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => a.includes('hopscope')) && argv.includes(lab);
  } catch {
    return false;
  }
}

/**
 * Tear down a lab from its state (if any) plus every namespace named for that lab. `exceptPid`
 * is the calling process (an in-process lab tears itself down without killing itself).
 */
export function teardownLab(lab: string, state: LabState | undefined, opts: { killController?: boolean } = {}): TeardownReport {
  const names = new Set<string>(state?.netns.map((n) => n.name) ?? []);
  for (const n of listNetns()) if (parseNetnsName(n)?.lab === lab) names.add(n);
  const inodes = new Set(state?.netns.map((n) => n.inode) ?? []);
  const pids: number[] = [];
  // Recorded workloads are killed only while they still sit in one of the lab's namespaces
  // (a recycled pid belongs to someone else).
  const recorded = [
    ...(state?.workloads.map((w) => w.pid) ?? []),
    ...(state?.sandboxes?.map((x) => x.pid) ?? []),
    ...(state?.api?.inLab?.forwarderPid ? [state.api.inLab.forwarderPid] : []),
  ];
  for (const pid of recorded) {
    const ino = processNetnsInode(pid);
    if (ino !== undefined && inodes.has(ino)) pids.push(pid);
  }
  for (const n of names) pids.push(...netnsPids(n));
  if (opts.killController && state && state.controllerPid !== process.pid && isLabController(state.controllerPid, lab)) pids.push(state.controllerPid);
  const killed = [...new Set(pids)].filter((p) => p !== process.pid);
  killPids(killed);
  // Groups empty once their processes are gone; the roots are the state's plus any the lab's
  // name finds (a run killed before it wrote its state).
  const cgroupsLeft: string[] = [];
  for (const root of new Set([...(state?.cgroups?.roots ?? []), ...findLabCgroupRoots(lab)])) cgroupsLeft.push(...removeCgroupTree(root));
  deleteNetns([...names]);
  rmSync(statePath(lab), { force: true });
  rmSync(join(LABS_DIR, `${lab}.kubeconfig`), { force: true });
  rmSync(state?.logDir ?? join(LABS_DIR, lab), { recursive: true, force: true });
  return { lab, netns: [...names], killed, cgroupsLeft };
}

/** `lab down --name`: ask a live controller to stop, then sweep whatever is left. */
export async function downLab(lab: string, graceMs = 10_000): Promise<TeardownReport> {
  let state: LabState | undefined;
  try {
    state = readLabState(lab);
  } catch {
    state = undefined;
  }
  const hasNetns = listNetns().some((n) => parseNetnsName(n)?.lab === lab);
  if (!state && !hasNetns) throw new Error(`no lab "${lab}" (no state file, no namespaces); labs: ${listLabNames().join(', ') || 'none'}`);
  // Count what runs now, so the report says what went down even when the controller stopped it.
  const running = listNetns()
    .filter((n) => parseNetnsName(n)?.lab === lab)
    .flatMap((n) => netnsPids(n));
  const controllerUp = !!state && state.controllerPid !== process.pid && isLabController(state.controllerPid, lab);
  if (controllerUp) running.push(state!.controllerPid);
  if (state && controllerUp) {
    // A live controller tears down in order (API first, then workloads, then namespaces).
    try {
      process.kill(state.controllerPid, 'SIGTERM');
    } catch {
      /* gone meanwhile */
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && isLabController(state.controllerPid, lab)) await new Promise((r) => setTimeout(r, 100));
  }
  const report = teardownLab(lab, state, { killController: true });
  report.killed = [...new Set([...running, ...report.killed])];
  // The controller's own log outlives an in-process teardown (it tells why a start failed);
  // an explicit down removes it too.
  rmSync(join(LABS_DIR, `${lab}.controller.log`), { force: true });
  return report;
}

/** `lab down --all`: every lab with a state file or namespaces. */
export async function downAll(): Promise<TeardownReport[]> {
  const labs = new Set(listLabNames());
  for (const n of listNetns()) {
    const p = parseNetnsName(n);
    if (p) labs.add(p.lab);
  }
  const out: TeardownReport[] = [];
  for (const l of labs) out.push(await downLab(l));
  return out;
}
