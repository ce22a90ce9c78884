// What bpftrace's user space costs per printed line, on this machine: the ceiling under the
// end-to-end figure (bench/e2e.ts), which no change in the agent can lift. A child process
// makes a bounded number of 1-byte writes to /dev/null; bpftrace prints one line per write
// from tracepoint:syscalls:sys_enter_write (filtered to that pid) with 1, 4, 8 or 15 %lx
// arguments (15 is the hop line of bpf/datapath.bt.tmpl), fully buffered as the agent runs
// it. Printed: bpftrace's CPU time per line (utime + stime from /proc) and the lines a second
// one core of bpftrace could print at that cost, plus lines printed and lost in each run.
// Run as root: `npx tsx bench/bpftrace-output.ts [--quick] [--events N]`.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { figure, numArg, QUICK, report } from './lib.ts';

const EVENTS = Math.round(numArg('--events', QUICK ? 100_000 : 300_000, 2_000_000));
const RUNS = QUICK ? 1 : 3;
const ARGS = [1, 4, 8, 15];
const TICK = 100; // USER_HZ, the unit of utime/stime in /proc/<pid>/stat

function cpuSeconds(pid: number): number {
  // Fields after the ")" of comm: state is field 3; utime and stime are fields 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

interface Run { lines: number; lost: number; cpuS: number }

async function once(nargs: number): Promise<Run> {
  // The writer waits for a line on stdin, so bpftrace is attached before the first write.
  const writer = execa('python3', ['-c', `import os,sys\nsys.stdin.readline()\nfd=os.open('/dev/null',os.O_WRONLY)\nfor _ in range(${EVENTS}): os.write(fd,b'x')`], { stdin: 'pipe', stdout: 'ignore', stderr: 'inherit', reject: false });
  const fmt = Array.from({ length: nargs }, () => '%lx').join(' ');
  const args = Array.from({ length: nargs }, (_, i) => `, nsecs * ${i + 3}`).join('');
  const prog = `tracepoint:syscalls:sys_enter_write /pid == ${writer.pid}/ { printf("H ${fmt}\\n"${args}); }`;
  const bt = execa('bpftrace', ['-B', 'full', '-e', prog], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false, forceKillAfterDelay: 3000 });
  let lines = 0;
  let lost = 0;
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => (ready = r));
  const count = (l: string): void => {
    if (l.charCodeAt(0) === 72) lines++;
    else if (l.startsWith('Attaching ')) ready();
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
    writer.stdin!.end('go\n');
    await writer;
    await new Promise((r) => setTimeout(r, 1000));
    const cpuS = cpuSeconds(bt.pid!);
    bt.kill('SIGINT');
    await bt;
    return { lines, lost, cpuS };
  } finally {
    writer.kill('SIGKILL');
    bt.kill('SIGKILL');
  }
}

const figures = [];
const detail: Record<string, Run[]> = {};
for (const n of ARGS) {
  const us: number[] = [];
  const perCore: number[] = [];
  detail[`${n} args`] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await once(n);
    detail[`${n} args`]!.push(r);
    us.push((r.cpuS / r.lines) * 1e6);
    perCore.push(r.lines / r.cpuS);
    console.log(`${n} args: ${r.lines} lines printed, ${r.lost} lost, bpftrace CPU ${r.cpuS.toFixed(2)} s -> ${((r.cpuS / r.lines) * 1e6).toFixed(2)} us/line`);
  }
  figures.push(figure(`bpftrace CPU per line, ${n} %lx args`, 'us', us), figure(`lines/s per bpftrace core, ${n} args`, 'lines/s', perCore));
}
report('bpftrace-output', figures, { setup: `bpftrace -B full, ${EVENTS} write(2) calls of a python loop traced per run, ${RUNS} run(s) per argument count`, runs: detail });
