import { describe, expect, it } from 'vitest';
import { compileRewrite, rewritePath } from '../../../../../balancer/proxy/policy/path-rewrite.js';
import { buildTable } from '../../../../../balancer/table/route-table.js';
import { matchRoute } from '../../../../../balancer/table/route-index.js';
import { isUnderPrefix } from '../../../../../common/route-path.js';
import { parseRouteFlag } from '../../../../../common/route-spec.js';

describe('rewritePath', () => {
  it.each<[string, string | undefined, string | undefined, string]>([
    // [target, strip, add, expected]
    ['/api/users?x=1', '/api', '/v2', '/v2/users?x=1'],
    ['/api/users?x=1', '/api', undefined, '/users?x=1'],
    ['/api', '/api', undefined, '/'],
    ['/api?x=1', '/api', undefined, '/?x=1'],
    ['/api?x=1', '/api', '/v2', '/v2/?x=1'],
    ['/api/', '/api', undefined, '/'],
    ['/api/', '/api', '/v2', '/v2/'],
    ['/apix/users', '/api', '/v2', '/v2/apix/users'], // not on a segment boundary: only added to
    ['/other', '/api', undefined, '/other'],
    ['/api/x', '/api/', undefined, '/x'], // a prefix ending in / keeps the slash
    ['/api/', '/api/', undefined, '/'],
    ['/api', '/api/', undefined, '/api'], // `/api/` does not cover `/api`
    ['/api/v1/x?q', '/api/v1', '/v2/', '/v2/x?q'], // no double slash at the join
    ['/users', undefined, '/v2', '/v2/users'],
    ['/users', undefined, '/v2/', '/v2/users'],
    ['/', undefined, '/v2', '/v2/'],
    ['/?a=b', undefined, '/v2', '/v2/?a=b'],
    ['/api//x', '/api', undefined, '//x'], // the client's own double slash is kept
    ['/api?next=/api/x', '/api', undefined, '/?next=/api/x'], // the query is never touched
    ['/API/x', '/api', undefined, '/API/x'], // case-sensitive, like matching
    ['*', '/api', '/v2', '*'],
    ['/x', '/', undefined, '/x'],
  ])('%s strip %s add %s → %s', (target, strip, add, expected) => {
    expect(rewritePath(target, strip, add)).toBe(expected);
  });

  it('compiles to nothing when nothing changes', () => {
    expect(compileRewrite(undefined, undefined)).toBeUndefined();
    expect(compileRewrite('/', '/')).toBeUndefined();
    expect(compileRewrite('/api', undefined)).toBeTypeOf('function');
  });

  it('never produces an empty path or one without a leading slash', () => {
    const targets = ['/a', '/a/', '/a?', '/a#f', '/a?x', '/a/b', '/ab'];
    for (const strip of ['/a', '/a/', undefined])
      for (const add of ['/p', '/p/', undefined])
        for (const t of targets) expect(rewritePath(t, strip, add)).toMatch(/^\//);
  });

  it('strips exactly where the route matcher matches (same segment rule)', () => {
    const paths = ['/api', '/api/', '/api/x', '/api?q', '/api#f', '/apix', '/ap', '/', '/x/api', '/api/v1/x'];
    for (const prefix of ['/api', '/api/', '/api/v1', '/']) {
      const table = buildTable([], 1, [parseRouteFlag(`m.test${prefix}=svc`)]);
      for (const path of paths)
        expect([prefix, path, isUnderPrefix(prefix, path)]).toEqual([
          prefix,
          path,
          matchRoute(table, 'm.test', path) !== undefined,
        ]);
    }
  });
});
