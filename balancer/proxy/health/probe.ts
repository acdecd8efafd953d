// One active health probe of one backend, over a plain socket: `tcp` passes when the connection is
// accepted; `http` sends `GET <path>` with `Connection: close` and passes on a 2xx or 3xx status line.
// Only the status line is read, so a backend's body (or a slow one) costs nothing beyond the timeout;
// an aborted probe closes its socket at once.
import { connect, type Socket } from 'node:net';

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

export type ProbeSpec =
  | { readonly type: 'tcp'; readonly timeoutMs: number }
  | { readonly type: 'http'; readonly path: string; readonly timeoutMs: number };

export interface ProbeResult {
  readonly ok: boolean;
  /** Why it failed: an errno code, `timeout`, `status 500`, `bad status line`, `aborted`; '' when ok. */
  readonly reason: string;
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: |\r)/;
const MAX_STATUS_LINE = 1024;

function hostHeader(t: ProbeTarget): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** `signal`: the probe's loop stopped (its backend left, the balancer closes): the socket goes at once. */
export function probe(target: ProbeTarget, spec: ProbeSpec, signal?: AbortSignal): Promise<ProbeResult> {
  if (signal?.aborted === true) return Promise.resolve({ ok: false, reason: 'aborted' });
  return new Promise((resolve) => {
    let settled = false;
    let head = '';
    const socket: Socket = connect({ host: target.host, port: target.port });
    const onAbort = (): void => finish(false, 'aborted');
    const finish = (ok: boolean, reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ok, reason });
    };
    const timer = setTimeout(() => finish(false, 'timeout'), spec.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
    socket.once('connect', () => {
      if (spec.type === 'tcp') return finish(true, '');
      socket.write(
        `GET ${spec.path} HTTP/1.1\r\nHost: ${hostHeader(target)}\r\nUser-Agent: balancer-health-check\r\n` +
          'Accept: */*\r\nConnection: close\r\n\r\n',
      );
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      head += chunk;
      const eol = head.indexOf('\n');
      if (eol === -1 && head.length < MAX_STATUS_LINE) return;
      const m = STATUS_LINE.exec(head);
      if (m === null) return finish(false, 'bad status line');
      const status = Number(m[1]);
      finish(status >= 200 && status < 400, status >= 200 && status < 400 ? '' : `status ${status}`);
    });
    socket.once('end', () => finish(false, 'closed before a status line'));
  });
}
