// `hopscope certs`: the mutual-TLS Secrets for applying the manifests by hand with kustomize
// (what `kubectl hopscope install` makes for itself): tls.yaml with the CA, each node's agent
// certificate and the hub's. Run again on the same file to renew: its CA is kept.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from './command.ts';
import { int, parseFlags, short, toggle, UsageError, value } from '../config/flags.ts';
import { caFromSecretJson, CA_SECRET, issueClusterTls, LEAF_DAYS, tlsSecretsYaml } from '../tls/secrets.ts';

const USAGE = `usage: hopscope certs --nodes <names> --out <file> [--days N]

Writes the mutual-TLS Secrets of hopscope (a CA, an agent certificate for each node naming it,
the hub's client certificate) as one file for the kustomization (manifests/tls.yaml), mode 0600.
When the file exists its CA is kept and new certificates are issued: a renewal the running pods
take without a restart once applied.

  --nodes <names>   the cluster's node names, comma- or space-separated, e.g.
                    "$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')"
  --out <file>      where to write (e.g. manifests/tls.yaml)
  --days <n>        validity of the certificates (default ${LEAF_DAYS}; the CA: ten years)
  -h, --help`;

/** The CA kept in an earlier tls.yaml (its hopscope-ca document), if any. Throws for a broken one. */
export function caOfTlsYaml(text: string): ReturnType<typeof caFromSecretJson> {
  for (const doc of text.split(/^---$/m)) {
    const body = doc.replace(/^#.*$/gm, '').trim();
    if (body.includes(`"name": "${CA_SECRET}"`)) return caFromSecretJson(body);
  }
  return undefined;
}

export const command: Command = {
  summary: 'write the mutual-TLS Secrets (CA, agent and hub certificates) for kustomize',
  async run(args: string[]): Promise<number> {
    const { values: v } = parseFlags(args, { nodes: value(), out: value(), days: int(1, 3650), help: short('h', toggle()) });
    if (v.help) {
      console.log(USAGE);
      return 0;
    }
    if (!v.nodes) throw new UsageError('--nodes is required');
    if (!v.out) throw new UsageError('--out is required');
    const nodes = v.nodes.split(/[\s,]+/).filter(Boolean);
    const ca = existsSync(v.out) ? caOfTlsYaml(readFileSync(v.out, 'utf8')) : undefined;
    let issued;
    try {
      issued = issueClusterTls({ nodes, ...(ca ? { ca } : {}), ...(v.days ? { leafDays: v.days } : {}) });
    } catch (e) {
      throw new UsageError(`--nodes: ${(e as Error).message}`);
    }
    writeFileSync(v.out, tlsSecretsYaml(issued), { mode: 0o600 });
    console.error(`hopscope: ${v.out}: ${ca ? 'kept its CA; ' : 'a new CA; '}certificates for ${Object.keys(issued.agents).join(', ')} and the hub, valid ${v.days ?? LEAF_DAYS} days`);
    return 0;
  },
};
