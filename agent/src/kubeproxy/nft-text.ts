// A parser of `nft list table ip kube-proxy` text: the chains with their statements, and the
// verdict maps (service-ips, service-nodeports) with their elements, so a DNAT can be checked
// against kube-proxy's nftables rules. The text (not `nft -j`) because it is what users read and
// paste, and the rule shown to them is nft's own wording. Pure and total.
/** One table as parsed. */
export interface NftTable {
  /** Chain name → its statements (a statement nft wrapped over lines is joined into one). */
  chains: Map<string, string[]>;
  /** Map name → its elements: the key text and the verdict ("goto service-…"). */
  maps: Map<string, { key: string; verdict: string }[]>;
  unreadable: number;
}

const depthOf = (s: string): number => {
  let d = 0;
  let quoted = false;
  for (const c of s) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '{') d++;
    else if (!quoted && c === '}') d--;
  }
  return d;
};

/** Split on commas outside braces and quotes. */
function topLevelSplit(s: string): string[] {
  const out: string[] = [];
  let d = 0;
  let quoted = false;
  let cur = '';
  for (const c of s) {
    if (c === '"') quoted = !quoted;
    if (!quoted && c === '{') d++;
    if (!quoted && c === '}') d--;
    if (!quoted && d === 0 && c === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** The elements of a map body's "elements = { … }". */
function mapElements(body: string): { key: string; verdict: string }[] {
  const m = /elements = \{([\s\S]*)\}\s*$/.exec(body);
  if (!m) return [];
  return topLevelSplit(m[1]!)
    .map((e) => {
      // The verdict follows the last " : " (a key's comment may hold a colon inside quotes).
      const at = e.lastIndexOf(' : ');
      return at < 0 ? undefined : { key: e.slice(0, at).trim(), verdict: e.slice(at + 3).trim() };
    })
    .filter((x): x is { key: string; verdict: string } => !!x);
}

/** Parse the text of one nft table (or a whole ruleset: every table's chains land together). */
export function parseNftText(text: string): NftTable {
  const out: NftTable = { chains: new Map(), maps: new Map(), unreadable: 0 };
  let block: { kind: 'chain' | 'map'; name: string; lines: string[] } | undefined;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (!line) continue;
    if (!block) {
      const open = /^(chain|map|set)\s+(\S+)\s*\{$/.exec(line);
      if (open) block = { kind: open[1] === 'chain' ? 'chain' : 'map', name: open[2]!, lines: [] };
      else if (!/^table\s/.test(line) && line !== '}' && !/^comment\s/.test(line) && !/^(flags|type|policy)\s/.test(line)) out.unreadable++;
      continue;
    }
    const joined = pending ? `${pending} ${line}` : line;
    if (!pending && line === '}') {
      if (block.kind === 'chain') out.chains.set(block.name, block.lines);
      else out.maps.set(block.name, mapElements(block.lines.join(' ')));
      block = undefined;
      continue;
    }
    // nft wraps a long set of elements over lines: a statement ends where its braces close.
    if (depthOf(joined) > 0) {
      pending = joined;
      continue;
    }
    pending = '';
    block.lines.push(joined.replace(/\s+/g, ' '));
  }
  return out;
}

/** A service chain's `numgen random mod N vmap { i : goto endpoint-… }`: the endpoint chains by index. */
export function numgenTargets(statement: string): { mod: number; targets: Map<number, string> } | undefined {
  const m = /numgen random mod (\d+) vmap \{(.*)\}/.exec(statement);
  if (!m) return undefined;
  const targets = new Map<number, string>();
  for (const e of topLevelSplit(m[2]!)) {
    const t = /^(\d+) : goto (\S+)$/.exec(e);
    if (t) targets.set(Number(t[1]), t[2]!);
  }
  return { mod: Number(m[1]), targets };
}

/** An endpoint chain's `dnat to ip:port`. */
export function dnatTarget(statement: string): { ip: string; port?: number } | undefined {
  const m = /dnat (?:ip )?to (\d+\.\d+\.\d+\.\d+)(?::(\d+))?/.exec(statement);
  return m ? { ip: m[1]!, ...(m[2] ? { port: Number(m[2]) } : {}) } : undefined;
}
