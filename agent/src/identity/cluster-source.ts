// Where names come from when no kubeconfig is given: the same places, in the same order, that
// @kubernetes/client-node's loadFromDefault() looks ($KUBECONFIG, ~/.kube/config, the in-cluster
// service account), and "none" where it would fall back to http://localhost:8080, an API that
// is almost never there. Pure: the caller passes the environment and a file test.

/** The cluster that names pods, Services and nodes. */
export type ClusterSource =
  | { kind: 'kubeconfig'; path: string; from: '--kubeconfig' | '$KUBECONFIG' | '~/.kube/config' }
  | { kind: 'in-cluster' }
  | { kind: 'none' };

/** The service account token a pod gets; its presence is what client-node checks. */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The fallbacks in order, for help texts and the README. */
export const CLUSTER_FALLBACKS = '$KUBECONFIG, ~/.kube/config, the in-cluster service account';

/** Find the cluster as client-node would, or say there is none. */
export function findCluster(given: string | undefined, env: Readonly<Record<string, string | undefined>>, home: string, exists: (path: string) => boolean): ClusterSource {
  if (given) return { kind: 'kubeconfig', path: given, from: '--kubeconfig' };
  const fromEnv = (env.KUBECONFIG ?? '').split(':').find((f) => f.length > 0);
  if (fromEnv) return { kind: 'kubeconfig', path: fromEnv, from: '$KUBECONFIG' };
  const own = `${home}/.kube/config`;
  if (home && exists(own)) return { kind: 'kubeconfig', path: own, from: '~/.kube/config' };
  if (exists(SERVICE_ACCOUNT_TOKEN)) return { kind: 'in-cluster' };
  return { kind: 'none' };
}

/** One phrase for the user: where names come from. */
export function describeCluster(c: ClusterSource): string {
  switch (c.kind) {
    case 'kubeconfig':
      return `names from the cluster in ${c.path} (${c.from})`;
    case 'in-cluster':
      return 'names from this pod\'s cluster (in-cluster service account)';
    case 'none':
      return `no cluster to name things from (no --kubeconfig; none of ${CLUSTER_FALLBACKS}): addresses only`;
    default: {
      const never: never = c;
      return never;
    }
  }
}
