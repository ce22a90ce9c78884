// The mutual-TLS material of an agent or the hub, as mounted from a Kubernetes Secret: read,
// checked (signed by the CA, key matching, named for its role) and re-read when the Secret
// changes. Parsing and checks use Node's own X509Certificate; only reading and polling do I/O.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Whose material: a node's agent (a serving certificate naming the node) or the hub (a client certificate). */
export type TlsRole = { kind: 'agent'; node: string } | { kind: 'hub' };

/** The DNS name in the hub's client certificate; agents accept no other client. */
export const HUB_IDENTITY = 'hopscope-hub';

/** The files of a role in the mounted Secret: ca.crt, then <node>.crt/.key or hub.crt/.key. */
export function tlsFileNames(role: TlsRole): { ca: string; cert: string; key: string } {
  switch (role.kind) {
    case 'agent':
      return { ca: 'ca.crt', cert: `${role.node}.crt`, key: `${role.node}.key` };
    case 'hub':
      return { ca: 'ca.crt', cert: 'hub.crt', key: 'hub.key' };
    default: {
      const never: never = role;
      return never;
    }
  }
}

/** Checked material, ready for tls.createSecureContext. */
export interface TlsMaterial {
  role: TlsRole;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Expiry of the certificate and of the CA (ms since the epoch). */
  certNotAfter: number;
  caNotAfter: number;
  /** SHA-256 of the certificate (DER, hex): tells a rotation apart. */
  fingerprint: string;
}

/** The DNS names of a certificate's subjectAltName text ("DNS:a, IP Address:1.2.3.4"). Pure. */
export function sanDnsNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
}

/** The identity a role's certificate must carry as a DNS SAN. */
export function identityOf(role: TlsRole): string {
  return role.kind === 'agent' ? role.node : HUB_IDENTITY;
}

/**
 * Why a peer's certificate does not name `expected`, or undefined when it does. The hub asks this
 * of each agent (the node it expects there), each agent of the hub. Pure.
 */
export function identityMismatch(expected: string, subjectAltName: string | undefined, what: string): string | undefined {
  const names = sanDnsNames(subjectAltName);
  if (names.includes(expected)) return undefined;
  return `${what} certificate is for ${names.length ? names.join(', ') : 'no DNS name'}, not ${expected}`;
}

function parseCert(pem: string, file: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new Error(`${file} is not a PEM certificate (${(e as Error).message})`);
  }
}

/** Check the PEM texts of a role's files; throws Error naming the file and what is wrong. */
export function checkTlsMaterial(texts: { ca: string; cert: string; key: string }, role: TlsRole): TlsMaterial {
  const names = tlsFileNames(role);
  // ca.crt may hold several CAs (the old and the new one while a CA is being replaced).
  const pems = texts.ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`${names.ca} holds no PEM certificate`);
  const cas = pems.map((p) => parseCert(p, names.ca));
  if (cas.some((c) => !c.ca)) throw new Error(`${names.ca} holds a certificate that is not a CA`);
  const cert = parseCert(texts.cert, names.cert);
  const ca = cas.find((c) => cert.verify(c.publicKey));
  if (!ca) throw new Error(`${names.cert} is not signed by ${names.ca}`);
  let key;
  try {
    key = createPrivateKey(texts.key);
  } catch (e) {
    throw new Error(`${names.key} is not a PEM private key (${(e as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) throw new Error(`${names.key} does not belong to ${names.cert}`);
  const wrong = identityMismatch(identityOf(role), cert.subjectAltName, names.cert);
  if (wrong) throw new Error(wrong);
  return {
    role,
    caPem: texts.ca,
    certPem: texts.cert,
    keyPem: texts.key,
    certNotAfter: Date.parse(cert.validTo),
    caNotAfter: Date.parse(ca.validTo),
    fingerprint: createHash('sha256').update(cert.raw).digest('hex'),
  };
}

function readTexts(dir: string, role: TlsRole): { ca: string; cert: string; key: string } {
  const names = tlsFileNames(role);
  const read = (f: string): string => {
    try {
      return readFileSync(join(dir, f), 'utf8');
    } catch (e) {
      throw new Error(`cannot read ${join(dir, f)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return { ca: read(names.ca), cert: read(names.cert), key: read(names.key) };
}

/** Read and check a role's files in `dir` (the mounted Secret). Throws Error saying what is wrong. */
export function readTlsDir(dir: string, role: TlsRole): TlsMaterial {
  return checkTlsMaterial(readTexts(dir, role), role);
}

/** What /api/status and doctor say about the material. Pure. */
export interface TlsSummary {
  identity: string;
  certExpires: string;
  caExpires: string;
  /** Whole days left on the certificate (negative once expired). */
  certDaysLeft: number;
  expired: boolean;
  fingerprint: string;
}

export function tlsSummary(m: TlsMaterial, nowMs: number): TlsSummary {
  return {
    identity: identityOf(m.role),
    certExpires: new Date(m.certNotAfter).toISOString(),
    caExpires: new Date(m.caNotAfter).toISOString(),
    certDaysLeft: Math.floor((m.certNotAfter - nowMs) / 86_400_000),
    expired: m.certNotAfter <= nowMs || m.caNotAfter <= nowMs,
    fingerprint: m.fingerprint.slice(0, 16),
  };
}

/** A watch of the mounted Secret. */
export interface TlsWatch {
  current(): TlsMaterial;
  /** Times new material was taken, and the last problem reading it (the old material stays). */
  reloads(): number;
  lastError(): string | undefined;
  stop(): void;
}

/**
 * Read the role's files now (throws when they are unusable), then every `intervalMs` again:
 * new, valid content is handed to `onChange`. Polled, not fs.watch: kubelet swaps a Secret
 * volume's `..data` symlink, which inotify on the files themselves does not see. Content that
 * does not check (a half-made rotation) is reported once and the old material kept.
 */
export function watchTlsDir(dir: string, role: TlsRole, opts: { intervalMs?: number; onChange(m: TlsMaterial): void; onError?(message: string): void }): TlsWatch {
  let current = readTlsDir(dir, role);
  let lastKey = current.caPem + current.certPem + current.keyPem;
  let reloads = 0;
  let lastError: string | undefined;
  const timer = setInterval(() => {
    let texts;
    try {
      texts = readTexts(dir, role);
    } catch (e) {
      return report((e as Error).message);
    }
    const key = texts.ca + texts.cert + texts.key;
    if (key === lastKey) return;
    try {
      const next = checkTlsMaterial(texts, role);
      lastKey = key;
      current = next;
      reloads++;
      lastError = undefined;
      opts.onChange(next);
    } catch (e) {
      report(`new certificates in ${dir} not taken: ${(e as Error).message}`);
    }
  }, opts.intervalMs ?? 2000);
  timer.unref();
  function report(message: string): void {
    if (message === lastError) return;
    lastError = message;
    opts.onError?.(message);
  }
  return { current: () => current, reloads: () => reloads, lastError: () => lastError, stop: () => clearInterval(timer) };
}

/**
 * A TLS verification failure in words (OpenSSL's codes as Node reports them on
 * `authorizationError` or an error's `code`). Pure.
 */
export function describeTlsFailure(code: string | undefined, message?: string): string {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'the certificate has expired (CERT_HAS_EXPIRED)';
    case 'CERT_NOT_YET_VALID':
      return 'the certificate is not valid yet (CERT_NOT_YET_VALID)';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return `the certificate is not signed by the hopscope CA (${code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return message ?? 'the certificate names another peer (ERR_TLS_CERT_ALTNAME_INVALID)';
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
      return 'the peer refused our certificate: not signed by its CA (TLS alert "unknown CA")';
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED':
      return 'the peer refused our certificate: expired (TLS alert "certificate expired")';
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'the peer does not speak TLS here (plain HTTP?)';
    default:
      return message ?? code ?? 'unknown TLS failure';
  }
}
