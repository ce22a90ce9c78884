// Certificates hopscope makes: a CA and the leaves it signs (the lab API's serving certificate,
// each node agent's, the hub's client certificate). Keys come from Node's crypto; node-forge only
// writes the X.509 structures (no hand-written ASN.1). What Go's crypto/x509 and OpenSSL check is
// what is set here: a CA with basicConstraints and keyCertSign, leaves with the extended key
// usage of their role and their names as SANs.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

/** A CA: its certificate and private key (PEM). */
export interface CertAuthority {
  certPem: string;
  keyPem: string;
}

/** A leaf certificate and its private key (PEM). */
export interface IssuedCert {
  certPem: string;
  keyPem: string;
}

/** When a certificate is valid: `days` from now (back-dated a minute), or an explicit window. */
export type Validity = { days: number } | { notBefore: Date; notAfter: Date };

/** What a leaf is for: serving TLS, authenticating a client, or both. */
export type CertUsage = 'server' | 'client';

/** A leaf to issue. */
export interface LeafSpec {
  commonName: string;
  dnsNames?: string[];
  ips?: string[];
  usage: CertUsage;
  validity: Validity;
}

function rsaKeys(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey; privatePem: string } {
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

function setValidity(cert: forge.pki.Certificate, v: Validity): void {
  if ('days' in v) {
    if (!(v.days > 0)) throw new Error(`certificate validity: expected a positive number of days, got ${v.days}`);
    // Back-dated a minute so a peer whose clock is a little behind still accepts it.
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + v.days * 86_400_000);
  } else {
    if (!(v.notAfter > v.notBefore)) throw new Error('certificate validity: notAfter must be after notBefore');
    cert.validity.notBefore = v.notBefore;
    cert.validity.notAfter = v.notAfter;
  }
}

/** Make a self-signed CA. */
export function makeCa(commonName: string, validity: Validity): CertAuthority {
  const keys = rsaKeys();
  const ca = forge.pki.createCertificate();
  ca.publicKey = keys.publicKey;
  ca.serialNumber = serial();
  setValidity(ca, validity);
  const name = [{ name: 'commonName', value: commonName }];
  ca.setSubject(name);
  ca.setIssuer(name);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(ca), keyPem: keys.privatePem };
}

/** Issue a leaf signed by `ca`. Throws when the CA's key does not match its certificate. */
export function issueCert(ca: CertAuthority, spec: LeafSpec): IssuedCert {
  const dns = spec.dnsNames ?? [];
  const ips = spec.ips ?? [];
  if (dns.length + ips.length === 0) throw new Error(`certificate ${spec.commonName}: needs at least one DNS name or address`);
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem) as forge.pki.rsa.PrivateKey;
  const caPub = caCert.publicKey as forge.pki.rsa.PublicKey;
  if (caPub.n.compareTo(caKey.n) !== 0) throw new Error('the CA key does not belong to the CA certificate');
  const keys = rsaKeys();
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = keys.publicKey;
  leaf.serialNumber = serial();
  setValidity(leaf, spec.validity);
  leaf.setSubject([{ name: 'commonName', value: spec.commonName }]);
  leaf.setIssuer(caCert.subject.attributes);
  leaf.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', ...(spec.usage === 'server' ? { serverAuth: true } : { clientAuth: true }) },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    { name: 'subjectAltName', altNames: [...dns.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))] },
  ]);
  leaf.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(leaf), keyPem: keys.privatePem };
}
