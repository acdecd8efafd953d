import { describe, expect, it } from 'vitest';
import { compileRequestHeaders, compileResponseHeaders } from '../../../../../balancer/proxy/policy/header-rules.js';
import type { HeaderBag } from '../../../../../balancer/proxy/forwarded.js';
import { validateHeaderRules, type HeaderRules } from '../../../../../common/route-headers.js';

function rules(input: object): HeaderRules {
  const errors: string[] = [];
  const r = validateHeaderRules('requestHeaders', input, errors);
  if (r === undefined) throw new Error(errors.join('; '));
  return r;
}

/** Records calls the way a ServerResponse would hold them. */
function recorder(initial: Record<string, string | string[]>) {
  const headers = new Map(Object.entries(initial));
  return {
    headers,
    setHeader: (name: string, value: string | string[] | number) => headers.set(name, value as string),
    removeHeader: (name: string) => void headers.delete(name),
  };
}

describe('request header rules', () => {
  it.each<[string, object, HeaderBag, HeaderBag]>([
    ['set adds', { set: { 'X-Env': 'prod' } }, { host: 'a' }, { host: 'a', 'x-env': 'prod' }],
    [
      'set replaces a client value, list or not',
      { set: { 'x-env': 'prod' } },
      { 'x-env': ['a', 'b'] },
      { 'x-env': 'prod' },
    ],
    ['remove deletes', { remove: ['Cookie', 'X-Debug'] }, { cookie: 'a=1', 'x-debug': '1', host: 'a' }, { host: 'a' }],
    ['remove of an absent header is a no-op', { remove: ['x-none'] }, { host: 'a' }, { host: 'a' }],
    ['both', { set: { 'x-a': '1' }, remove: ['x-b'] }, { 'x-b': '2' }, { 'x-a': '1' }],
  ])('%s', (_name, input, before, after) => {
    const edit = compileRequestHeaders(rules(input))!;
    const headers = { ...before };
    edit(headers);
    expect(headers).toEqual(after);
    expect(Object.keys(headers)).toEqual(Object.keys(after)); // removed, not left as undefined
  });

  it('compiles to nothing without rules', () => {
    expect(compileRequestHeaders(undefined)).toBeUndefined();
    expect(compileRequestHeaders(rules({}))).toBeUndefined();
    expect(compileResponseHeaders(rules({ set: {}, remove: [] }))).toBeUndefined();
  });
});

describe('response header rules', () => {
  it('sets and removes on the response after the backend headers were copied', () => {
    const res = recorder({ server: 'nginx', 'x-powered-by': 'php', 'content-type': 'text/plain' });
    compileResponseHeaders(
      rules({ set: { 'Strict-Transport-Security': 'max-age=60' }, remove: ['Server', 'X-Powered-By'] }),
    )!(res);
    expect(Object.fromEntries(res.headers)).toEqual({
      'content-type': 'text/plain',
      'strict-transport-security': 'max-age=60',
    });
  });
});
