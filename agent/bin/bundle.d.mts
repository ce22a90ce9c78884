/** Path of a cached ES module bundling `entry` (a .ts file) and its imports; see bundle.mjs. */
export function bundle(entry: string): Promise<string>;
