// A parser of `iptables-save -t nat` (or `iptables -t nat -S`) text: the chains that exist and
// each rule's target, comment, statistic probability and DNAT destination, so a DNAT seen by
// the tracer can be checked against the node's own rules. Pure and total: a line it cannot read
// is counted, never thrown on.
/** One `-A CHAIN …` rule. */
export interface IptRule {
  chain: string;
  /** The rule as iptables-save printed it (without "-A CHAIN"). */
  text: string;
  /** The -j target. */
  jump?: string;
  comment?: string;
  /** `-m statistic --mode random --probability P`. */
  probability?: number;
  /** `-j DNAT --to-destination ip:port`. */
  dnatTo?: { ip: string; port?: number };
}

/** The nat table as parsed. */
export interface IptNat {
  chains: Set<string>;
  /** Rules per chain, in order. */
  rules: Map<string, IptRule[]>;
  /** Lines that were neither a rule, a chain, a table header nor a comment. */
  unreadable: number;
}

/** Split a rule line into words as the shell would: double quotes group, backslash escapes. */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i]!;
      inWord = true;
    } else if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function parseRule(chain: string, words: string[], text: string): IptRule {
  const r: IptRule = { chain, text };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = words[i + 1];
    if ((w === '-j' || w === '-g') && next) r.jump = next;
    else if (w === '--comment' && next !== undefined) r.comment = next;
    else if (w === '--probability' && next) {
      const p = Number(next);
      if (Number.isFinite(p)) r.probability = p;
    } else if (w === '--to-destination' && next) {
      const m = /^(\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:]+\])(?::(\d+))?/.exec(next);
      if (m) r.dnatTo = { ip: m[1]!.replace(/^\[|\]$/g, ''), ...(m[2] ? { port: Number(m[2]) } : {}) };
    }
  }
  return r;
}

/** Parse iptables-save output; only the nat table's lines are kept when table headers are present. */
export function parseIptablesSave(text: string): IptNat {
  const nat: IptNat = { chains: new Set(), rules: new Map(), unreadable: 0 };
  // Without a "*table" header (iptables -t nat -S), every line is the nat table's.
  let table = 'nat';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line === 'COMMIT' || line === '--') continue;
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    if (table !== 'nat') continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0];
      if (name) nat.chains.add(name);
      continue;
    }
    const words = splitWords(line);
    if ((words[0] === '-N' || words[0] === '-P') && words[1]) {
      nat.chains.add(words[1]);
      continue;
    }
    if (words[0] !== '-A' || !words[1]) {
      nat.unreadable++;
      continue;
    }
    const chain = words[1];
    nat.chains.add(chain);
    const rest = line.slice(line.indexOf(chain) + chain.length).trim();
    const list = nat.rules.get(chain) ?? [];
    list.push(parseRule(chain, words.slice(2), rest));
    nat.rules.set(chain, list);
  }
  return nat;
}
