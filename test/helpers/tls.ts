/** Test certificates made with openssl: a CA, and server certificates it signs (EC P-256, quick). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './images.js';

export interface TestCa {
  dir: string;
  certificate: string;
  key: string;
  /** The CA certificate's PEM. */
  pem: Buffer;
}

export interface TestCertificate {
  certificate: string;
  key: string;
  /** The serial number as Node prints it (`X509Certificate.serialNumber`). */
  serial: string;
}

export async function makeCa(dir: string, name = 'Berth Test CA'): Promise<TestCa> {
  const key = join(dir, `${name.replace(/\W+/g, '-')}.key`);
  const certificate = join(dir, `${name.replace(/\W+/g, '-')}.crt`);
  await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  await run('openssl', ['req', '-x509', '-new', '-key', key, '-sha256', '-days', '2', '-subj', `/CN=${name}`, '-out', certificate,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { dir, certificate, key, pem: await readFile(certificate) };
}

/** A server certificate for 127.0.0.1 and localhost (and `names`), written as `<base>.crt`/`.key` in the CA's folder. */
export async function issueCertificate(ca: TestCa, base: string, names: string[] = []): Promise<TestCertificate> {
  const key = join(ca.dir, `${base}.key`);
  const csr = join(ca.dir, `${base}.csr`);
  const certificate = join(ca.dir, `${base}.crt`);
  const ext = join(ca.dir, `${base}.ext`);
  const sans = ['IP:127.0.0.1', 'DNS:localhost', ...names.map((n) => `DNS:${n}`)].join(',');
  await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  await run('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${base}`, '-out', csr]);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(ext, `subjectAltName=${sans}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certificate, '-CAkey', ca.key, '-CAcreateserial', '-days', '1', '-sha256', '-extfile', ext, '-out', certificate]);
  const { X509Certificate } = await import('node:crypto');
  return { certificate, key, serial: new X509Certificate(await readFile(certificate)).serialNumber };
}
