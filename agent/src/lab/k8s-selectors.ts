// Kubernetes label and field selectors: parse once, match plain objects. Pure.
import type { K8sObject } from './k8s-objects.ts';

/** One requirement of a label selector. */
export type LabelRequirement =
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(k: string, sel: string): string {
  if (!KEY.test(k) || k.length > 317) throw new Error(`invalid label selector "${sel}": bad key "${k}"`);
  return k;
}
function checkValue(v: string, sel: string): string {
  if (!VALUE.test(v) || v.length > 63) throw new Error(`invalid label selector "${sel}": bad value "${v}"`);
  return v;
}

/** Split on commas that are not inside parentheses (the `in (a,b)` form). */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Parse a label selector (`a=b,c!=d,e in (x,y),f,!g`); throws on bad syntax. */
export function parseLabelSelector(sel: string): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  for (const part of splitTop(sel)) {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim(), sel));
      out.push({ op: m[2] as 'in' | 'notin', key: checkKey(m[1]!, sel), values });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      out.push({ op: m[2] === '!=' ? 'ne' : 'eq', key: checkKey(m[1]!, sel), value: checkValue(m[3]!, sel) });
    } else if ((m = part.match(/^!\s*(\S+)$/))) {
      out.push({ op: 'notexists', key: checkKey(m[1]!, sel) });
    } else if (/^\S+$/.test(part)) {
      out.push({ op: 'exists', key: checkKey(part, sel) });
    } else throw new Error(`invalid label selector "${sel}": cannot parse "${part}"`);
  }
  return out;
}

/** Whether labels satisfy every requirement. */
export function matchLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'eq':
        return has && l[r.key] === r.value;
      case 'ne':
        return !has || l[r.key] !== r.value;
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      default: {
        const never: never = r;
        throw new Error(`unknown requirement ${JSON.stringify(never)}`);
      }
    }
  });
}

/** One requirement of a field selector. */
export interface FieldRequirement {
  path: string;
  op: 'eq' | 'ne';
  value: string;
}

/** Parse a field selector against the paths a resource supports; throws naming the bad field. */
export function parseFieldSelector(sel: string, supported: readonly string[]): FieldRequirement[] {
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...supported]);
  return splitTop(sel).map((part) => {
    const m = part.match(/^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new Error(`invalid field selector "${sel}": cannot parse "${part}"`);
    if (!allowed.has(m[1]!)) throw new Error(`field label not supported: ${m[1]} (supported: ${[...allowed].join(', ')})`);
    return { path: m[1]!, op: m[2] === '!=' ? 'ne' : 'eq', value: m[3]!.trim() };
  });
}

function fieldValue(o: K8sObject, path: string): string {
  let cur: unknown = o;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

/** Whether an object satisfies every field requirement. */
export function matchFields(reqs: FieldRequirement[], o: K8sObject): boolean {
  return reqs.every((r) => (fieldValue(o, r.path) === r.value) === (r.op === 'eq'));
}
