// The lab API's certificates: a CA made per lab run and a serving certificate it signs for the
// addresses clients use (loopback on this machine, the control-plane address inside the lab and
// the names of the `kubernetes` Service). Keys come from Node's crypto; node-forge only writes
// the X.509 structures. What kubectl (Go's crypto/x509) checks is what is set here: a CA with
// basicConstraints and keyCertSign, a leaf with serverAuth and the addresses as SANs.
import { issueCert, makeCa } from '../tls/certs.ts';

/** PEM texts of a lab CA and a serving certificate signed by it. */
export interface LabTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** What the serving certificate is valid for. */
export interface LabTlsOptions {
  /** Names the CA, e.g. the lab name. */
  commonName: string;
  ips: string[];
  dnsNames: string[];
  /** Validity of both certificates. Default 30 days. */
  days?: number;
}

/** The DNS names a pod uses for the API server (the `kubernetes` Service in `default`). */
export const KUBERNETES_SERVICE_NAMES = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

/** Make a CA and a serving certificate for the given addresses. */
export function makeLabTls(opts: LabTlsOptions): LabTls {
  if (opts.ips.length + opts.dnsNames.length === 0) throw new Error('lab TLS: a serving certificate needs at least one address or name');
  const validity = { days: opts.days ?? 30 };
  const ca = makeCa(`hopscope-lab-ca ${opts.commonName}`, validity);
  const leaf = issueCert(ca, { commonName: 'kube-apiserver', dnsNames: opts.dnsNames, ips: opts.ips, usage: 'server', validity });
  return { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}
