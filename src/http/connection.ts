/**
 * Answers for what never becomes a request Koa sees, written straight to the socket in the OCI
 * error JSON: a `CONNECT` (Node hands it to the server's 'connect' event and, with no listener,
 * drops the connection) and a request Node's parser refused (its 'clientError' event: an unknown
 * method, a malformed header, headers too large, a request that took too long).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../registry/errors.js';
import { errorBody } from './errors.js';

const REASONS: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Content Too Large', 431: 'Request Header Fields Too Large' };

function rawResponse(status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): string {
  const body = errorBody(code, message).toString('utf8');
  const lines = [`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** The server's 'connect' listener: Berth is no proxy, so a CONNECT gets 405 and the connection ends. */
export function refuseConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  socket.end(rawResponse(405, 'UNSUPPORTED', 'CONNECT is not supported: this is a registry, not a proxy', { Allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' }));
}

/** What Node itself would answer a parser error with (see its own default handler), as OCI errors. */
const PARSE_ERRORS: Record<string, [number, ErrorCode, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'UNSUPPORTED', 'request headers too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'SIZE_INVALID', 'chunk extensions too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'UNSUPPORTED', 'the request took too long'],
};

/** The server's 'clientError' listener: the OCI error JSON where Node would send a bare status line. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // A response already under way on this socket (a pipelined request failed to parse) must not
  // get bytes of another one in its middle: Node's own handler checks the same internal field.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight) {
    socket.destroy();
    return;
  }
  const [status, code, message] = PARSE_ERRORS[err.code ?? ''] ?? [400, 'UNSUPPORTED', 'malformed HTTP request'];
  socket.end(rawResponse(status, code, message));
}
