// Generated and mutated HTTP/1.x responses for the response parser's differential fuzz: status
// lines, header casing and duplicates, Content-Length / Transfer-Encoding combinations, chunk sizes
// and extensions, trailers, interim responses, garbage, truncation. Seeded (mulberry32), so a
// failing case replays from its seed and index.

/** mulberry32: floats in [0, 1), the same sequence for the same 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GeneratedCase {
  readonly bytes: Buffer;
  /** The request was HEAD. */
  readonly isHead: boolean;
  /** Offsets where the input is cut into separate reads (ascending, inside the input). */
  readonly splits: readonly number[];
}

type Rnd = () => number;
const int = (r: Rnd, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rnd, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const chance = (r: Rnd, p: number): boolean => r() < p;

const VERSIONS = [
  'HTTP/1.2',
  'HTTP/2.0',
  'HTTP/0.9',
  'http/1.1',
  'HTTP/1.1 ',
  'HTTP/11',
  'HTTP/1.1\t',
  'HTTP/1.',
  'ICE/1.0',
];
const CODES = ['200', '200', '200', '201', '204', '206', '301', '304', '404', '500', '503', '599'];
const INTERIM = ['100', '103', '102', '101'];
const ODD_CODES = ['099', '600', '999', '20', '2000', '20x', ' 200', '000'];
const REASONS = ['OK', 'OK', '', 'Not Found', 'A  B', ' lead', 'tab\there', 'caf\xe9', 'trailing '];
const ODD_REASONS = ['x\x01', 'x\x7f', 'r\rn', 'n\nx', '\x00'];
const NAMES = [
  'Content-Type',
  'X-Foo',
  'Set-Cookie',
  'Set-Cookie',
  'Cookie',
  'Date',
  'Vary',
  'Age',
  'Host',
  'Server',
  'ETag',
  'Cache-Control',
  'Location',
  'X-Forwarded-For',
  'Authorization',
  'Link',
  'Accept',
  'Keep-Alive',
  'Upgrade',
  'Trailer',
  'X-A',
  '__proto__',
  'constructor',
  'toString',
  'Content-Encoding',
  'Retry-After',
  'Expires',
  'If-Match',
  'X-Empty',
];
const ODD_NAMES = ['X Foo', 'X\tFoo', '', 'X@', 'X"', ' X', 'X\x00', '\xc4', 'X/Y', 'X{', 'x!#$%&*+.^_`|~'];
const VALUES = ['text/plain', 'a, b', 'a', '', ' spaced ', '\tt\t', 'v\x80\xff', 'a=1; Path=/', 'W/"x"', '0', 'x y'];
const ODD_VALUES = ['x\x01y', 'x\x7fy', 'a\rb', 'a\nb', 'a\r\n b', 'a\r\n\tb', 'a\x00b', '\xa0nbsp\xa0', 'a\x0bb'];
const CONNECTION = ['close', 'keep-alive', 'Keep-Alive', 'CLOSE', 'x, close', 'keep-alive, close', 'upgrade', 'closed'];
const CHUNKED_TE = [
  'chunked',
  'chunked',
  'chunked',
  'Chunked',
  'CHUNKED',
  ' chunked ',
  'gzip, chunked',
  'gzip,chunked',
];
const OTHER_TE = [
  'chunked, gzip',
  'identity',
  'gzip',
  'chunked,',
  ',chunked',
  'chunked, chunked',
  'chunked;q=1',
  'x y',
];
const EXTENSIONS = [
  ';a=b',
  ';a',
  ';a="q x"',
  ';a="x\\"y"',
  '; a=b',
  ' ;a',
  ';a=b;c=d',
  ';=b',
  ';a="open',
  ';a=',
  ';a=b c',
];
const BODY_BITS = ['a', 'b', 'z', '0', '\r', '\n', '\r\n', 'HTTP/1.1 200 OK\r\n', ' ', ':', '\x00', '\xff', 'F'];
const INSERTS = ['\r', '\n', '\x00', ' ', ':', '\t', '\x7f', '\xff', 'a', '0', ';', ',', '"', '\r\n', '\r\n\r\n'];

function casing(r: Rnd, name: string): string {
  const c = r();
  if (c < 0.5) return name;
  if (c < 0.75) return name.toLowerCase();
  if (c < 0.85) return name.toUpperCase();
  return [...name].map((ch) => (chance(r, 0.5) ? ch.toUpperCase() : ch.toLowerCase())).join('');
}

function body(r: Rnd): string {
  const len = chance(r, 0.05) ? int(r, 200, 3000) : chance(r, 0.2) ? 0 : int(r, 1, 40);
  let s = '';
  while (s.length < len) s += chance(r, 0.8) ? String.fromCharCode(int(r, 0x61, 0x7a)) : pick(r, BODY_BITS);
  return s.slice(0, len);
}

function chunkedBody(r: Rnd, data: string): string {
  let out = '';
  let p = 0;
  while (p < data.length) {
    const n = Math.min(data.length - p, chance(r, 0.3) ? 1 : int(r, 1, 64));
    let size = n.toString(16);
    if (chance(r, 0.2)) size = size.toUpperCase();
    if (chance(r, 0.1)) size = '0'.repeat(int(r, 1, 4)) + size;
    if (chance(r, 0.02)) size = (n + pick(r, [1, -1])).toString(16);
    const ext = chance(r, 0.1) ? pick(r, EXTENSIONS) : '';
    const crlf = chance(r, 0.97) ? '\r\n' : pick(r, ['\n', '', 'x\r\n', '\r']);
    out += `${size}${ext}\r\n${data.slice(p, p + n)}${crlf}`;
    p += n;
  }
  out += `${chance(r, 0.9) ? '0' : '000'}${chance(r, 0.05) ? pick(r, EXTENSIONS) : ''}\r\n`;
  if (chance(r, 0.3)) {
    for (let i = int(r, 1, 3); i > 0; i--)
      out += `${casing(r, pick(r, ['X-Sum', 'Server-Timing', 'Set-Cookie', 'Vary']))}: ${pick(r, VALUES)}\r\n`;
  }
  return `${out}\r\n`;
}

function fieldLine(r: Rnd): string {
  const name = chance(r, 0.03) ? pick(r, ODD_NAMES) : casing(r, pick(r, NAMES));
  const value = chance(r, 0.03) ? pick(r, ODD_VALUES) : pick(r, VALUES);
  const sep = chance(r, 0.9) ? ': ' : pick(r, [':', ':\t', ' : ', ':  ']);
  return `${name}${sep}${value}\r\n`;
}

function contentLength(r: Rnd, n: number): string {
  if (chance(r, 0.85)) return String(n);
  return pick(r, [
    `0${n}`,
    ` ${n} `,
    `+${n}`,
    `${n}, ${n}`,
    String(n + 1),
    String(Math.max(0, n - 1)),
    '',
    'abc',
    '1e3',
    '99999999999999999999',
    `${n}\t`,
  ]);
}

/** One response (head, body) as latin1 text. */
function response(r: Rnd, interim: boolean): string {
  const version = chance(r, 0.97) ? (chance(r, 0.85) ? 'HTTP/1.1' : 'HTTP/1.0') : pick(r, VERSIONS);
  const code = interim ? pick(r, INTERIM) : chance(r, 0.97) ? pick(r, CODES) : pick(r, ODD_CODES);
  const reason = chance(r, 0.97) ? pick(r, REASONS) : pick(r, ODD_REASONS);
  let head = `${version} ${code}${reason === '' && chance(r, 0.5) ? '' : ` ${reason}`}\r\n`;
  let fields = '';
  for (let i = int(r, 0, chance(r, 0.003) ? 300 : 6); i > 0; i--) fields += fieldLine(r);
  if (chance(r, 0.002)) fields += `X-Big: ${'v'.repeat(int(r, 60_000, 70_000))}\r\n`;
  if (chance(r, 0.2)) fields += `${casing(r, 'Connection')}: ${pick(r, CONNECTION)}\r\n`;
  const data = interim ? '' : body(r);
  const mode = r();
  let payload = data;
  if (mode < 0.35) {
    fields += `${casing(r, 'Content-Length')}: ${contentLength(r, data.length)}\r\n`;
    if (chance(r, 0.03)) fields += `Content-Length: ${chance(r, 0.5) ? data.length : data.length + 1}\r\n`;
  } else if (mode < 0.75) {
    const te = chance(r, 0.85) ? pick(r, CHUNKED_TE) : pick(r, OTHER_TE);
    if (chance(r, 0.05)) fields += `Transfer-Encoding: gzip\r\n`;
    fields += `${casing(r, 'Transfer-Encoding')}: ${te}\r\n`;
    if (chance(r, 0.9)) payload = chunkedBody(r, data);
    if (chance(r, 0.03)) fields += `Content-Length: ${payload.length}\r\n`;
  }
  // Shuffle the framing fields among the others now and then.
  if (chance(r, 0.2)) {
    const lines = fields.split('\r\n').filter((l) => l !== '');
    for (let i = lines.length - 1; i > 0; i--) {
      const j = int(r, 0, i);
      [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
    }
    fields = lines.map((l) => `${l}\r\n`).join('');
  }
  head += fields;
  return `${head}\r\n${payload}`;
}

function mutate(r: Rnd, s: string): string {
  let out = s;
  for (let i = int(r, 1, 3); i > 0 && out.length > 0; i--) {
    const at = int(r, 0, out.length - 1);
    const op = r();
    if (op < 0.3) out = out.slice(0, at) + pick(r, INSERTS) + out.slice(at + 1);
    else if (op < 0.55) out = out.slice(0, at) + pick(r, INSERTS) + out.slice(at);
    else if (op < 0.75) out = out.slice(0, at) + out.slice(at + 1);
    else if (op < 0.9) out = out.slice(0, at);
    else out = out.slice(0, at) + out.slice(at, at + int(r, 1, 8)).repeat(2) + out.slice(at + 8);
  }
  return out;
}

export function generateCase(r: Rnd): GeneratedCase {
  let text = '';
  for (let i = chance(r, 0.1) ? int(r, 1, 2) : 0; i > 0; i--) text += response(r, true);
  text += response(r, false);
  const tail = r();
  if (tail < 0.12) text += response(r, false);
  else if (tail < 0.2) text += pick(r, ['\r\n', 'x', 'HTTP/1.1 200 OK\r\n\r\n', '\x00']);
  if (chance(r, 0.25)) text = mutate(r, text);
  const bytes = Buffer.from(text, 'latin1');
  const splits: number[] = [];
  if (bytes.length > 1 && chance(r, 0.5)) {
    for (let i = int(r, 1, 3); i > 0; i--) splits.push(int(r, 1, bytes.length - 1));
    splits.sort((a, b) => a - b);
  }
  return { bytes, isHead: chance(r, 0.08), splits };
}
