/**
 * Raw TCP connections to a server, for tests of what clients may do that fetch will not: declare
 * a body and never send it, stall half-way through the headers, keep a connection idle.
 */
import { connect, type Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves once the server sent something (the status line, usually). */
  answered: Promise<string>;
  /** Resolves when the connection is closed, by either side. */
  closed: Promise<void>;
}

export async function openRaw(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.on('error', () => {}); // a reset from the server is what some tests expect
  const answered = new Promise<string>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      resolve(text);
    });
    socket.once('close', () => resolve(text));
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => text, answered, closed };
}

/** `promise`, or `fallback` after `ms`. */
export function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]).finally(() => clearTimeout(timer));
}
