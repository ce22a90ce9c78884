// Runs the CLI from an esbuild bundle of the TypeScript sources, built on first use and cached
// until a source changes, so a clone still needs no build step.
//
// Why not tsx alone: measured on the agent (bench/e2e.ts, the agent process alone), loading the
// sources through tsx kept ~230 MB resident before any packet was traced, against ~100 MB
// bundled. tsx's loader runs in a thread of its own that keeps a copy of every module's source,
// and @kubernetes/client-node's index loads every one of its generated API and model modules
// (~120 MB under tsx, ~80 MB under plain Node, measured importing it alone); a bundle is
// tree-shaken to what the agent uses and needs no loader thread. tsx stays the fallback.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** esbuild's virtual output directory (nothing is written there). */
const OUT = resolve(tmpdir(), 'hopscope-bundle-out');

/** Where bundles are kept: $HOPSCOPE_CACHE_DIR, else node_modules/.cache, else the temp dir. */
function cacheDirs() {
  const dirs = [];
  if (process.env.HOPSCOPE_CACHE_DIR) dirs.push(process.env.HOPSCOPE_CACHE_DIR);
  dirs.push(join(REPO, 'node_modules', '.cache', 'hopscope'), join(tmpdir(), `hopscope-cache-${process.getuid?.() ?? 'u'}`));
  return dirs;
}

const stamp = (file) => {
  const s = statSync(file);
  return `${s.mtimeMs}:${s.size}`;
};

/** The cached build described by `index` if every input it was built from is unchanged. */
function cached(d, index) {
  try {
    const { dir, main, inputs } = JSON.parse(readFileSync(index, 'utf8'));
    if (!Array.isArray(inputs) || inputs.length === 0) return undefined;
    for (const [file, st] of inputs) if (stamp(file) !== st) return undefined;
    const path = join(d, dir, main);
    statSync(path);
    return path;
  } catch {
    return undefined;
  }
}

/**
 * esbuild escapes non-ASCII characters in code (charset 'ascii') but leaves them in the comments
 * it keeps, and one such character makes V8 hold the whole module source as UTF-16: twice the
 * memory (11 MB instead of 5.8 MB for the agent). Escaped as \uXXXX they mean the same in a
 * string, regular expression or identifier, and nothing in a comment.
 */
const asciiOnly = (text) => text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Builds older than this, other than the current one, are removed (a running CLI may still load their chunks). */
const KEEP_OLD_MS = 10 * 60_000;

/**
 * Path of an ES module bundling `entry` (a .ts file) and what it imports, npm packages
 * included. Dynamic imports stay separate chunks (a command loads only its own code).
 * `import.meta.url` is replaced by each source file's own URL, so paths made relative to a
 * source (bpf/ templates, lab workloads, the UI) still point into the repository.
 */
export async function bundle(entry) {
  const key = `${basename(entry).replace(/\.[cm]?ts$/, '')}-${createHash('sha256').update(resolve(entry)).digest('hex').slice(0, 12)}`;
  const dirs = cacheDirs();
  for (const d of dirs) {
    const hit = cached(d, join(d, `${key}.json`));
    if (hit) return hit;
  }
  const esbuild = await import('esbuild');
  const started = Date.now();
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    splitting: true,
    write: false,
    outdir: OUT,
    outExtension: { '.js': '.mjs' },
    metafile: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    logLevel: 'error',
    // CommonJS dependencies bundled into an ES module still call require().
    banner: { js: "import { createRequire as __hsCreateRequire } from 'node:module'; const require = __hsCreateRequire(import.meta.url);" },
    plugins: [
      {
        name: 'source-meta-url',
        setup(b) {
          b.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (a) => {
            const text = await readFile(a.path, 'utf8');
            if (!text.includes('import.meta.url')) return undefined;
            const loader = /\.[cm]?ts$/.test(a.path) ? 'ts' : 'js';
            return { loader, contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href)) };
          });
        },
      },
    ],
  });
  // esbuild's service process would otherwise live as long as the agent.
  await esbuild.stop();
  const main = `${basename(entry).replace(/\.[cm]?ts$/, '')}.mjs`;
  const files = result.outputFiles.map((o) => ({ name: relative(OUT, o.path), text: asciiOnly(o.text) }));
  const hash = createHash('sha256');
  for (const f of files) hash.update(f.name).update(f.text);
  const dir = `${key}-${hash.digest('hex').slice(0, 12)}`;
  // This file too: a change to how bundles are made makes them stale.
  const inputs = [fileURLToPath(import.meta.url), ...Object.keys(result.metafile.inputs).map((f) => resolve(f))];
  // A source saved while building may be missing from the bundle: use it, but do not keep it.
  const stable = inputs.every((f) => statSync(f).mtimeMs < started);
  const index = { dir, main, inputs: stable ? inputs.map((f) => [f, stamp(f)]) : [] };
  let lastError;
  for (const d of dirs) {
    const final = join(d, dir);
    const tmp = `${final}.tmp-${process.pid}`;
    try {
      mkdirSync(d, { recursive: true });
      if (!existsSync(join(final, main))) {
        rmSync(tmp, { recursive: true, force: true });
        mkdirSync(tmp);
        for (const f of files) writeFileSync(join(tmp, f.name), f.text);
        try {
          renameSync(tmp, final);
        } catch (e) {
          // Another launch put the same build in place first.
          rmSync(tmp, { recursive: true, force: true });
          if (!existsSync(join(final, main))) throw e;
        }
      }
      writeFileSync(`${tmp}.json`, JSON.stringify(index));
      renameSync(`${tmp}.json`, join(d, `${key}.json`));
      for (const name of readdirSync(d)) {
        if (!name.startsWith(`${key}-`) || name === dir) continue;
        const old = join(d, name);
        if (Date.now() - statSync(old).mtimeMs > KEEP_OLD_MS) rmSync(old, { recursive: true, force: true });
      }
      return join(final, main);
    } catch (e) {
      lastError = e;
      rmSync(tmp, { recursive: true, force: true });
      rmSync(`${tmp}.json`, { force: true });
    }
  }
  throw lastError;
}
