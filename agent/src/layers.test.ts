// The layering, read from the real import graph of agent/src and ui/src: arrows point one way.
// cli/ is the top (only it knows the commands), journeys/ and the UI's domain/ are pure logic
// (nothing journeys/ reaches at run time does I/O), and test kits are never reached from
// production code.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));
const UI_SRC = resolve(SRC, '../../ui/src');

/**
 * Folders of agent/src from the bottom up; a folder imports only from its own rank or below.
 * cli/ is alone at the top; wiring/ (the composition root of the trace pipeline) sits above
 * the pure and I/O modules it puts together and below the server that runs it.
 */
const RANK: Record<string, number> = {
  protocol: 0,
  config: 0,
  exec: 0,
  lab: 1,
  tls: 1,
  tracer: 1,
  kubeproxy: 1,
  identity: 2,
  journeys: 3,
  export: 3,
  wiring: 4,
  server: 5,
  hubmode: 6,
  cli: 7,
};

/** Packages and builtins whose use is I/O: none of these may be reached from journeys/. */
const IO_PACKAGES = [
  /^(node:)?(fs|fs\/promises|child_process|net|http|https|http2|dgram|dns|tls|worker_threads|cluster|readline)$/,
  /^execa$/,
  /^ws$/,
  /^@kubernetes\/client-node$/,
];

/** One import of a module: where to, and whether it survives to run time. */
interface Edge {
  spec: string;
  /** The resolved file, for a relative import. */
  target?: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

const isTestCode = (file: string): boolean => /\.test\.tsx?$/.test(file) || file.split(sep).includes('__tests__');

/** Every import, export-from and dynamic import() of `file`, parsed (not pattern-matched). */
function edgesOf(file: string): Edge[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const out: Edge[] = [];
  const add = (spec: string, typeOnly: boolean): void => {
    const target = spec.startsWith('.') ? resolve(dirname(file), spec) : undefined;
    out.push(target ? { spec, target, typeOnly } : { spec, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      // `import { type A, type B }` is erased as a whole like `import type { A, B }`.
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const allTypes = !!clause && !clause.name && !!named && named.length > 0 && named.every((s) => s.isTypeOnly);
      add(node.moduleSpecifier.text, !!clause && (clause.isTypeOnly || allTypes));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) add(arg.text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The top folder of agent/src a file is in ('' for agent/src itself, undefined outside). */
function layerOf(file: string): string | undefined {
  const rel = relative(SRC, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  return parts.length > 1 ? parts[0] : '';
}

const agentFiles = sourceFiles(SRC);
const graph = new Map(agentFiles.map((f) => [f, edgesOf(f)]));
const show = (file: string): string => relative(resolve(SRC, '../..'), file);

/** A chain of run-time imports from `start` to a module that does I/O, if there is one. */
function ioChain(start: string): string[] | undefined {
  const seen = new Set<string>();
  const walk = (file: string, path: string[]): string[] | undefined => {
    if (seen.has(file)) return undefined;
    seen.add(file);
    for (const e of graph.get(file) ?? edgesOf(file)) {
      if (e.typeOnly) continue;
      if (!e.target) {
        if (IO_PACKAGES.some((p) => p.test(e.spec))) return [...path, show(file), e.spec];
        continue;
      }
      const found = walk(e.target, [...path, show(file)]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(start, []);
}

describe('layers of agent/src', () => {
  it('knows every folder of agent/src (a new folder gets a rank here)', () => {
    const folders = new Set(agentFiles.map(layerOf).filter((l): l is string => !!l));
    expect([...folders].filter((f) => !(f in RANK))).toEqual([]);
  });

  it('no file outside cli/ imports from cli/, and within cli/ only main.ts imports the commands', () => {
    const bad: string[] = [];
    for (const [file, edges] of graph) {
      for (const e of edges) {
        if (!e.target || layerOf(e.target) !== 'cli') continue;
        const fromCli = layerOf(file) === 'cli';
        if (!fromCli || (e.target === join(SRC, 'cli', 'main.ts') && file !== e.target)) bad.push(`${show(file)} → ${e.spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  // Tests are leaves nothing imports, so a test may borrow a higher folder's fixture
  // (protocol's tests validate server/synthetic.ts journeys); production code may not.
  it('every folder imports only from its own rank or below', () => {
    const bad: string[] = [];
    for (const [file, edges] of graph) {
      const from = layerOf(file);
      if (!from || isTestCode(file)) continue;
      for (const e of edges) {
        const to = e.target && layerOf(e.target);
        if (!to || to === from) continue;
        if ((RANK[to] ?? Infinity) > (RANK[from] ?? -Infinity)) bad.push(`${show(file)} (${from}) → ${e.spec} (${to})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('journeys/ and export/ reach no I/O at run time, directly or through what they import', () => {
    const journeys = agentFiles.filter((f) => (layerOf(f) === 'journeys' || layerOf(f) === 'export') && !isTestCode(f));
    expect(journeys.length).toBeGreaterThan(0);
    const bad = journeys.map(ioChain).filter((c): c is string[] => !!c).map((c) => c.join(' → '));
    expect(bad).toEqual([]);
  });

  // A module only tests (or benches) reach is a test kit, and test kits live in __tests__/.
  it('every module outside __tests__/ is reached from the launchers in agent/bin', () => {
    const bin = resolve(SRC, '../bin');
    const roots = readdirSync(bin)
      .filter((f) => f.endsWith('.mjs'))
      .flatMap((f) => edgesOf(join(bin, f)))
      .map((e) => e.target)
      .filter((t): t is string => !!t && graph.has(t));
    expect(roots.map(show).sort()).toEqual(['agent/src/cli/kubectl-plugin.ts', 'agent/src/cli/main.ts']);
    const reached = new Set<string>();
    const visit = (file: string): void => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const e of graph.get(file) ?? []) if (e.target && graph.has(e.target)) visit(e.target);
    };
    roots.forEach(visit);
    expect(agentFiles.filter((f) => !isTestCode(f) && !reached.has(f)).map(show)).toEqual([]);
  });

  it("the UI's domain/ is pure: it imports no transport, store or component", () => {
    const domain = join(UI_SRC, 'domain');
    const bad: string[] = [];
    for (const file of sourceFiles(domain)) {
      if (isTestCode(file)) continue;
      for (const e of edgesOf(file)) {
        if (e.target ? !e.target.startsWith(domain + sep) && !isTestCode(e.target) : !/^(@hopscope\/agent\/protocol\/|elkjs\/)/.test(e.spec)) bad.push(`${show(file)} → ${e.spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('production code never imports a test kit or a test', () => {
    const bad: string[] = [];
    for (const file of [...agentFiles, ...sourceFiles(UI_SRC)]) {
      if (isTestCode(file)) continue;
      for (const e of graph.get(file) ?? edgesOf(file)) {
        if (e.target && isTestCode(e.target)) bad.push(`${show(file)} → ${e.spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
