// WebSocket client steps shared by the load processes that open WebSockets (bench/held-load.ts,
// bench/ws-load.ts): open one, one echoed message, one clean close. Each step is bounded by a timeout,
// resolves true or false and never rejects; failures are counted by kind through `count`.
import WebSocket from 'ws';

export type CountError = (kind: string) => void;

export interface Opening {
  readonly ws: WebSocket;
  /** true once open (the 101 arrived), false on an error, a non-101 answer or the timeout. */
  readonly opened: Promise<boolean>;
}

/** Starts opening a WebSocket to `127.0.0.1:<port><path>` with Host `host` (no compression). */
export function openWebSocket(port: number, host: string, path: string, timeoutMs: number, count: CountError): Opening {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host }, perMessageDeflate: false });
  const opened = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      count('ws-open-timeout');
      resolve(false);
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(true);
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      count(`ws ${err.code ?? err.message.slice(0, 40)}`);
      clearTimeout(timer);
      resolve(false);
    });
  });
  return { ws, opened };
}

/** Sends `text` and waits for the same text back. */
export function echo(ws: WebSocket, text: string, timeoutMs: number, count: CountError): Promise<boolean> {
  return new Promise((resolve) => {
    if (ws.readyState !== WebSocket.OPEN) return resolve(false);
    const timer = setTimeout(() => {
      ws.off('message', onMessage);
      count('ws-echo-timeout');
      resolve(false);
    }, timeoutMs);
    const onMessage = (data: WebSocket.RawData): void => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      const ok = data.toString() === text;
      if (!ok) count('ws-echo-mismatch');
      resolve(ok);
    };
    ws.on('message', onMessage);
    ws.send(text);
  });
}

/** The closing handshake (1000 each way) until the TCP connection is closed; on timeout, terminates. */
export function closeCleanly(ws: WebSocket, timeoutMs: number, count: CountError): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      count('ws-close-timeout');
      ws.terminate();
      resolve(false);
    }, timeoutMs);
    ws.once('close', (code: number) => {
      clearTimeout(timer);
      if (code !== 1000) count(`ws-close-${code}`);
      resolve(code === 1000);
    });
    ws.close(1000);
  });
}
