// What bpftrace's user space costs per printed line, on this machine: the ceiling under the
// end-to-end figure (bench/e2e.ts), which no change in the agent can lift. A child process
// makes a bounded number of 1-byte writes to /dev/null; bpftrace prints one line per write
// from tracepoint:syscalls:sys_enter_write (filtered to that pid) with 1, 4, 8 or 15 %lx
// arguments (15 is the hop line of bpf/datapath.bt.tmpl), fully buffered as the agent runs
// it. Printed: bpftrace's CPU time per line (utime + stime from /proc) and the lines a second
// one core of bpftrace could print at that cost, plus lines printed and lost in each run and
// the rate they came out at while the writer ran (lossless when nothing was lost).
// `--image` also runs the image's bpftrace (0.23.2; built by `npm run image`, cached) under
// podman with the DaemonSet's capabilities (BPF, PERFMON, seccomp unconfined, the node's BTF
// and tracefs mounted, the host's pid namespace so the filter sees the writer's pid), and
// prints both versions side by side.
// Run as root: `npx tsx bench/bpftrace-output.ts [--quick] [--events N] [--image]`.
import { execa, type ResultPromise } from 'execa';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { figure, numArg, QUICK, report, type Figure } from './lib.ts';

const EVENTS = Math.round(numArg('--events', QUICK ? 100_000 : 300_000, 2_000_000));
const RUNS = QUICK ? 1 : 3;
const ARGS = [1, 4, 8, 15];
const IMAGE = process.argv.includes('--image');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TICK = 100; // USER_HZ, the unit of utime/stime in /proc/<pid>/stat

function cpuSeconds(pid: number): number {
  // Fields after the ")" of comm: state is field 3; utime and stime are fields 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

interface Run { lines: number; lost: number; cpuS: number; writeS: number }

/** Where bpftrace runs: the host's, or the image's under podman. */
type Where = { kind: 'host' } | { kind: 'image'; image: string };

/** Starts bpftrace with `prog`, fully buffered; the image's prints its host pid first ("PID n" on stderr). */
function startBpftrace(where: Where, prog: string): ResultPromise<{ stdin: 'ignore'; stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }> {
  const o = { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false, forceKillAfterDelay: 3000 } as const;
  switch (where.kind) {
    case 'host':
      return execa('bpftrace', ['-B', 'full', '-e', prog], o);
    case 'image':
      return execa('podman', [
        'run', '--rm', '--name', `co-btout-${process.pid}-${Math.random().toString(36).slice(2, 7)}`,
        '--cap-drop', 'ALL', '--cap-add', 'BPF', '--cap-add', 'PERFMON', '--security-opt', 'seccomp=unconfined', '--pid', 'host',
        '-v', '/sys/kernel/btf:/sys/kernel/btf:ro', '-v', '/sys/kernel/tracing:/sys/kernel/tracing:ro',
        '--entrypoint', 'sh', where.image, '-c', 'echo PID $$ >&2; exec bpftrace -B full -e "$0"', prog,
      ], { ...o, env: { ...process.env, CONTAINERS_CONF: `${ROOT}scripts/containers.conf` } });
    default: {
      const never: never = where;
      throw new Error(`unknown bpftrace ${String(never)}`);
    }
  }
}

/** The writer's loop: as fast as it can, or paced to `rate` writes a second (catching up in bursts). */
function writerLoop(events: number, rate: number): string {
  if (rate === 0) return `for _ in range(${events}): os.write(fd,b'x')`;
  return `t0=time.perf_counter()\ni=0\nwhile i<${events}:\n  due=min(${events},int((time.perf_counter()-t0)*${rate})+1)\n  while i<due:\n    os.write(fd,b'x')\n    i+=1`;
}

async function once(nargs: number, where: Where, events = EVENTS, rate = 0): Promise<Run> {
  // The writer waits for a line on stdin, so bpftrace is attached before the first write.
  const writer = execa('python3', ['-c', `import os,sys,time\nsys.stdin.readline()\nfd=os.open('/dev/null',os.O_WRONLY)\n${writerLoop(events, rate)}`], { stdin: 'pipe', stdout: 'ignore', stderr: 'inherit', reject: false });
  const fmt = Array.from({ length: nargs }, () => '%lx').join(' ');
  const args = Array.from({ length: nargs }, (_, i) => `, nsecs * ${i + 3}`).join('');
  const prog = `tracepoint:syscalls:sys_enter_write /pid == ${writer.pid}/ { printf("H ${fmt}\\n"${args}); }`;
  const bt = startBpftrace(where, prog);
  let btPid = where.kind === 'host' ? bt.pid! : 0;
  let lines = 0;
  let lost = 0;
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => (ready = r));
  const count = (l: string): void => {
    if (l.charCodeAt(0) === 72) lines++;
    else if (l.startsWith('Attaching ')) ready();
    else if (l.startsWith('PID ')) btPid = Number(l.slice(4));
    else {
      const m = /Lost (\d+) events/.exec(l);
      if (m) lost += Number(m[1]);
    }
  };
  createInterface({ input: bt.stdout! }).on('line', count);
  createInterface({ input: bt.stderr! }).on('line', count);
  try {
    await Promise.race([isReady, new Promise((_, rej) => setTimeout(() => rej(new Error('bpftrace did not start')), 30_000))]);
    // -B full holds a BEGIN banner in the buffer, so readiness is "Attaching N probes"
    // (flushed by bpftrace itself) plus a moment for the attach to finish.
    await new Promise((r) => setTimeout(r, 1000));
    if (!btPid) throw new Error('no bpftrace pid');
    const t0 = performance.now();
    writer.stdin!.end('go\n');
    await writer;
    const writeS = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const cpuS = cpuSeconds(btPid);
    // The process itself (not podman's client): it prints what its buffer holds and exits.
    process.kill(btPid, 'SIGINT');
    await bt;
    return { lines, lost, cpuS, writeS };
  } finally {
    writer.kill('SIGKILL');
    bt.kill('SIGKILL');
  }
}

async function imageName(): Promise<string> {
  const r = await execa('bash', [`${ROOT}scripts/image.sh`], { env: { HOPSCOPE_IMAGE_QUIET: '1' }, reject: false });
  if (r.exitCode !== 0) throw new Error(`npm run image failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout.trim().split('\n').at(-1)!;
}

async function version(where: Where): Promise<string> {
  const r = where.kind === 'host'
    ? await execa('bpftrace', ['--version'])
    : await execa('podman', ['run', '--rm', '--entrypoint', 'bpftrace', where.image, '--version'], { env: { ...process.env, CONTAINERS_CONF: `${ROOT}scripts/containers.conf` } });
  return r.stdout.trim().replace(/^bpftrace /, '');
}

const wheres: Where[] = [{ kind: 'host' }];
if (IMAGE) wheres.push({ kind: 'image', image: await imageName() });
const figures: Figure[] = [];
const detail: Record<string, Run[]> = {};
const table: string[] = [];
for (const where of wheres) {
  const v = await version(where);
  const label = `${v} (${where.kind === 'host' ? 'host' : 'image, podman'})`;
  for (const n of ARGS) {
    const us: number[] = [];
    const perCore: number[] = [];
    const delivered: number[] = [];
    const runs: Run[] = (detail[`${label}, ${n} args`] = []);
    for (let i = 0; i < RUNS; i++) {
      const r = await once(n, where);
      runs.push(r);
      us.push((r.cpuS / r.lines) * 1e6);
      perCore.push(r.lines / r.cpuS);
      delivered.push(r.lines / r.writeS);
      console.log(`${label}, ${n} args: ${r.lines} lines printed, ${r.lost} lost, bpftrace CPU ${r.cpuS.toFixed(2)} s -> ${((r.cpuS / r.lines) * 1e6).toFixed(2)} us/line; ${Math.round(r.lines / r.writeS)} lines/s while the writer ran`);
    }
    const sfx = IMAGE ? ` (${v})` : '';
    const f = [
      figure(`bpftrace CPU per line, ${n} %lx args${sfx}`, 'us', us),
      figure(`lines/s per bpftrace core, ${n} args${sfx}`, 'lines/s', perCore),
      figure(`lines/s delivered while written, ${n} args${sfx}`, 'lines/s', delivered),
    ];
    figures.push(...f);
    const lost = runs.reduce((a, r) => a + r.lost, 0);
    table.push(`| ${v} | ${n} | ${f[0]!.median.toFixed(2)} | ${Math.round(f[1]!.median / 1000)}k | ${Math.round(f[2]!.median / 1000)}k | ${lost === 0 ? 'lossless' : `${lost} lost`} |`);
  }
}
// Lossless rate of the hop line (15 args): the writer paced at rising rates, 2 s each, until
// bpftrace loses lines; the last rate that arrived whole, as the writer achieved it.
const LADDER = [50_000, 100_000, 150_000, 200_000, 300_000, 400_000, 600_000];
const lossless: string[] = [];
if (IMAGE) {
  for (const where of wheres) {
    const v = await version(where);
    let best = 0;
    let first = '';
    for (const rate of LADDER) {
      const r = await once(15, where, rate * 2, rate);
      const got = Math.round(r.lines / r.writeS);
      console.log(`${v}, 15 args paced at ${rate}/s: ${r.lines} printed, ${r.lost} lost, the writer reached ${got}/s`);
      if (r.lost > 0 || r.lines < rate * 2) {
        first = `${r.lost} lost at ${Math.round(rate / 1000)}k/s`;
        break;
      }
      best = Math.max(best, got);
      if (got < rate * 0.9) {
        first = `the writer (traced) could not go faster than ${Math.round(got / 1000)}k/s`;
        break;
      }
    }
    figures.push(figure(`lossless lines/s, 15 args (${v})`, 'lines/s', [best]));
    lossless.push(`| ${v} | ${Math.round(best / 1000)}k | ${first || 'none up to the top of the ladder'} |`);
  }
  console.log(['', '| bpftrace | hop lines/s lossless (paced, 2 s) | first limit |', '|---|---|---|', ...lossless].join('\n'));
}
console.log(['', '| bpftrace | %lx args | CPU per line (us) | lines/s per core | lines/s delivered | loss |', '|---|---|---|---|---|---|', ...table].join('\n'));
report('bpftrace-output', figures, { setup: `bpftrace -B full, ${EVENTS} write(2) calls of a python loop traced per run, ${RUNS} run(s) per argument count${IMAGE ? '; host and image' : ''}`, runs: detail });
