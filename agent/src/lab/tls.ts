// The lab API's certificates: a CA made per lab run and a serving certificate it signs for the
// addresses clients use (loopback on this machine, the control-plane address inside the lab and
// the names of the `kubernetes` Service). Keys come from Node's crypto; node-forge only writes
// the X.509 structures. What kubectl (Go's crypto/x509) checks is what is set here: a CA with
// basicConstraints and keyCertSign, a leaf with serverAuth and the addresses as SANs.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

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

function rsaKeys(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.PrivateKey; privatePem: string } {
  // NOTE: native key generation; forge's pure-JS RSA key generation takes seconds.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const priv = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKey: priv, publicKey: forge.pki.setRsaPublicKey(priv.n, priv.e), privatePem: privateKey };
}

function serial(): string {
  // A positive 128-bit serial (Go rejects negative serials: clear the top bit).
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  // Back-dated a minute so a client whose clock is a little behind still accepts it.
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * 86_400_000);
}

/** Make a CA and a serving certificate for the given addresses. */
export function makeLabTls(opts: LabTlsOptions): LabTls {
  if (opts.ips.length + opts.dnsNames.length === 0) throw new Error('lab TLS: a serving certificate needs at least one address or name');
  const days = opts.days ?? 30;
  const caKeys = rsaKeys();
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  validity(ca, days);
  const caName = [{ name: 'commonName', value: `hopscope-lab-ca ${opts.commonName}` }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());

  const leafKeys = rsaKeys();
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = leafKeys.publicKey;
  leaf.serialNumber = serial();
  validity(leaf, days);
  leaf.setSubject([{ name: 'commonName', value: 'kube-apiserver' }]);
  leaf.setIssuer(caName);
  leaf.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    { name: 'subjectAltName', altNames: [...opts.dnsNames.map((value) => ({ type: 2, value })), ...opts.ips.map((ip) => ({ type: 7, ip }))] },
  ]);
  leaf.sign(caKeys.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(ca), certPem: forge.pki.certificateToPem(leaf), keyPem: leafKeys.privatePem };
}
