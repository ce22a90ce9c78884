// Reads one document of manifests/ as written: the YAML the user applies is the only source.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** The manifests folder of this repository. */
export const MANIFESTS_DIR = join(import.meta.dirname, '..', '..', 'manifests');

/** The document of `kind` in manifests/<file>; throws when the file has none or several. */
export function loadManifest(file: string, kind: string): unknown {
  const docs = parseAllDocuments(readFileSync(join(MANIFESTS_DIR, file), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    return d.toJS() as { kind?: unknown };
  });
  const hits = docs.filter((d) => d.kind === kind);
  if (hits.length !== 1) throw new Error(`${file}: expected one ${kind}, found ${hits.length}`);
  return hits[0];
}
