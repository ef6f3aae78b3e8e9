/** Starting a server on `HOST:PORT` as a promise, and the bound address as people write it. */
import type { AddressInfo, Server } from 'node:net';

/** Listens; rejects with the listen error (EADDRINUSE, EACCES, ...). */
export async function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** `127.0.0.1:5000`, `[::1]:5000`. */
export function hostPort(address: AddressInfo): string {
  return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}
