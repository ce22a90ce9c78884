// A parser of /proc/net/ip_vs: IPVS virtual servers (protocol, address:port or firewall mark,
// scheduler) and their real servers (address:port, forwarding method, weight, connections).
// The kernel prints addresses in hex (IPv4 as 8 digits, IPv6 in brackets). Pure and total.
/** One real server of a virtual server. */
export interface IpvsReal {
  ip: string;
  port: number;
  forward: string;
  weight: number;
  active: number;
  inactive: number;
}

/** One virtual server. */
export interface IpvsVirtual {
  proto: 'TCP' | 'UDP' | 'SCTP' | 'FWM';
  /** Absent for a firewall-mark service. */
  ip?: string;
  port?: number;
  fwmark?: number;
  scheduler: string;
  flags: string;
  reals: IpvsReal[];
}

/** The table as parsed. */
export interface IpvsTable {
  virtuals: IpvsVirtual[];
  unreadable: number;
}

function hexAddr(s: string): { ip: string; port: number } | undefined {
  const v4 = /^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})$/.exec(s);
  if (v4) {
    const n = parseInt(v4[1]!, 16);
    return { ip: [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'), port: parseInt(v4[2]!, 16) };
  }
  const v6 = /^\[([0-9A-Fa-f:]+)\]:([0-9A-Fa-f]{4})$/.exec(s);
  if (v6) {
    // Drop leading zeros of each group, as addresses are usually written (no :: compression).
    const ip = v6[1]!.split(':').map((g) => g.replace(/^0+(?=.)/, '').toLowerCase()).join(':');
    return { ip, port: parseInt(v6[2]!, 16) };
  }
  return undefined;
}

/** Parse the text of /proc/net/ip_vs. */
export function parseIpvs(text: string): IpvsTable {
  const out: IpvsTable = { virtuals: [], unreadable: 0 };
  let current: IpvsVirtual | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('IP Virtual Server') || line.startsWith('Prot ') || line.startsWith('-> RemoteAddress')) continue;
    const words = line.split(/\s+/);
    if (words[0] === '->') {
      const a = hexAddr(words[1] ?? '');
      const nums = words.slice(3, 6).map(Number);
      if (!current || !a || words.length < 6 || nums.some((n) => !Number.isFinite(n))) {
        out.unreadable++;
        continue;
      }
      current.reals.push({ ...a, forward: words[2]!, weight: nums[0]!, active: nums[1]!, inactive: nums[2]! });
      continue;
    }
    const proto = words[0];
    if ((proto === 'TCP' || proto === 'UDP' || proto === 'SCTP') && words[1] && words[2]) {
      const a = hexAddr(words[1]);
      if (!a) {
        out.unreadable++;
        current = undefined;
        continue;
      }
      current = { proto, ...a, scheduler: words[2], flags: words.slice(3).join(' '), reals: [] };
      out.virtuals.push(current);
    } else if (proto === 'FWM' && words[1] && words[2]) {
      current = { proto, fwmark: parseInt(words[1], 16), scheduler: words[2], flags: words.slice(3).join(' '), reals: [] };
      out.virtuals.push(current);
    } else {
      out.unreadable++;
      current = undefined;
    }
  }
  return out;
}
