import { describe, expect, it } from 'vitest';
import { describeCluster, findCluster, SERVICE_ACCOUNT_TOKEN } from './cluster-source.ts';

describe('findCluster: where names come from without a lab', () => {
  const has = (...paths: string[]) => (p: string) => paths.includes(p);
  it('looks where client-node does, in its order: --kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster', () => {
    const all = has('/h/.kube/config', SERVICE_ACCOUNT_TOKEN);
    expect(findCluster('/given', { KUBECONFIG: '/env' }, '/h', all)).toEqual({ kind: 'kubeconfig', path: '/given', from: '--kubeconfig' });
    expect(findCluster(undefined, { KUBECONFIG: ':/env:/other' }, '/h', all)).toEqual({ kind: 'kubeconfig', path: '/env', from: '$KUBECONFIG' });
    expect(findCluster(undefined, { KUBECONFIG: '' }, '/h', all)).toEqual({ kind: 'kubeconfig', path: '/h/.kube/config', from: '~/.kube/config' });
    expect(findCluster(undefined, {}, '/h', has(SERVICE_ACCOUNT_TOKEN))).toEqual({ kind: 'in-cluster' });
  });
  it('says "none" where client-node would try http://localhost:8080', () => {
    const c = findCluster(undefined, {}, '/h', has());
    expect(c).toEqual({ kind: 'none' });
    expect(describeCluster(c)).toBe('no cluster to name things from (no --kubeconfig; none of $KUBECONFIG, ~/.kube/config, the in-cluster service account): addresses only');
  });
});
