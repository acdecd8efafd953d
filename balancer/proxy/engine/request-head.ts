// The upstream request head as one latin1 string, written to the socket in one `write`, pure.
// Headers arrive as the caller's object (IncomingMessage.headers after hop-by-hop stripping and the
// forwarded headers): names as given (lower case), an array → one line per element except `cookie`,
// which is joined with '; ' (as node's OutgoingMessage does), `host` kept as given, and what node's
// `http.request` added and backends saw before: `Host` when the object has none, `Connection:
// keep-alive` when it has no `connection`. Body framing is the caller's Content-Length as given, or
// chunked when the client's body came chunked (Transfer-Encoding kept; Node hands us de-chunked data,
// which the connection re-frames); both → refused; no body → no framing header of ours. Names, values, method and
// path are validated like node's (a CR/LF/NUL would let a header inject another line).
import { isToken } from './header-fields.js';

/** The request header object: `IncomingMessage.headers` as the caller left it. */
export type RequestHeaders = Record<string, string | string[] | number | undefined>;

/** How the request body goes upstream. */
export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export type BodyFraming = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED;

export interface RequestHead {
  readonly text: string;
  readonly framing: BodyFraming;
  /** Body bytes announced by Content-Length (0 unless BODY_LENGTH). */
  readonly contentLength: number;
  /** The caller sent `Connection: close`: the socket is not reused after this exchange. */
  readonly close: boolean;
}

// node's checkInvalidHeaderChar, and its INVALID_PATH_REGEX.
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_PATH = /[^\u0021-\u00ff]/;

export class InvalidRequestError extends Error {
  readonly code = 'ERR_UPSTREAM_INVALID_REQUEST';
}

function line(name: string, value: string): string {
  if (BAD_VALUE.test(value)) throw new InvalidRequestError(`invalid character in header ${JSON.stringify(name)}`);
  return `${name}: ${value}\r\n`;
}

/**
 * Serialises the request line and headers. `defaultHost` (`host:port` of the backend) is sent only when
 * `headers` has no `host`. Throws InvalidRequestError on an invalid method, path, name or value.
 */
export function serializeRequestHead(
  method: string,
  path: string,
  headers: RequestHeaders,
  defaultHost: string,
): RequestHead {
  if (!isToken(method)) throw new InvalidRequestError(`invalid method ${JSON.stringify(method)}`);
  if (path === '' || BAD_PATH.test(path)) throw new InvalidRequestError('invalid request path');
  let text = `${method} ${path} HTTP/1.1\r\n`;
  let host = false;
  let connection = false;
  let close = false;
  let chunked = false;
  let lengthValue: string | undefined;
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (!isToken(name)) throw new InvalidRequestError(`invalid header name ${JSON.stringify(name)}`);
    // Only names of these lengths can be special: skip lower-casing the others.
    let lower = '';
    switch (name.length) {
      case 4:
      case 6:
      case 10:
      case 14:
      case 17:
        lower = name.toLowerCase();
        break;
      default:
    }
    if (lower === 'content-length') lengthValue = Array.isArray(value) ? value.join(', ') : String(value);
    else if (lower === 'transfer-encoding') chunked = true;
    else if (lower === 'host') host = true;
    else if (lower === 'connection') {
      connection = true;
      close = /(?:^|[\s,])close(?:$|[\s,])/i.test(Array.isArray(value) ? value.join(',') : String(value));
    }
    if (typeof value === 'string') text += line(name, value);
    else if (typeof value === 'number') text += line(name, String(value));
    else if (value.length >= 2 && lower === 'cookie') text += line(name, value.join('; '));
    else for (const v of value) text += line(name, v);
  }
  if (!host) text += line('Host', defaultHost);
  if (!connection) text += 'Connection: keep-alive\r\n';
  let framing: BodyFraming = BODY_NONE;
  let contentLength = 0;
  if (chunked) {
    // Node's server refuses requests with both; a caller adding one to the other is a bug.
    if (lengthValue !== undefined) throw new InvalidRequestError('both transfer-encoding and content-length');
    framing = BODY_CHUNKED;
  } else if (lengthValue !== undefined) {
    if (!/^\d{1,15}$/.test(lengthValue)) throw new InvalidRequestError('invalid content-length');
    contentLength = Number(lengthValue);
    if (contentLength > 0) framing = BODY_LENGTH;
  }
  return { text: `${text}\r\n`, framing, contentLength, close };
}
