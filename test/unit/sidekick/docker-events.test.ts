import { describe, expect, it } from 'vitest';
import { eventFilters, matchesFollowed, parseEventLine, type DockerEvent } from '../../../sidekick/docker-events.js';

const ID = 'c0ffee00000000000000000000000000000000000000000000000000000000ab';
const NET = 'f06544cf99cb511afa086bb7378c117a53a0042d026eade77da2ab965b1969d0';

describe('parseEventLine', () => {
  it.each<[string, unknown, DockerEvent | undefined | 'invalid']>([
    [
      'a container start',
      {
        Type: 'container',
        Action: 'start',
        Actor: { ID, Attributes: { name: 'web-1' } },
        timeNano: 5_123_456_789,
      },
      { id: ID, action: 'start', time: 5123, attributes: { name: 'web-1' } },
    ],
    [
      'a health status',
      { Type: 'container', Action: 'health_status: unhealthy', Actor: { ID, Attributes: {} }, time: 1_700_000_000 },
      { id: ID, action: 'health_status', time: 1_700_000_000_000, attributes: { health_status: 'unhealthy' } },
    ],
    [
      'a network connect: the container is the one in the attributes',
      {
        Type: 'network',
        Action: 'connect',
        Actor: { ID: NET, Attributes: { container: ID, name: 'backend', type: 'bridge' } },
        time: 5,
      },
      { id: ID, action: 'connect', time: 5000, attributes: { network: 'backend' } },
    ],
    [
      'a network disconnect',
      {
        Type: 'network',
        Action: 'disconnect',
        Actor: { ID: NET, Attributes: { container: ID, name: 'backend' } },
        time: 5,
      },
      { id: ID, action: 'disconnect', time: 5000, attributes: { network: 'backend' } },
    ],
    [
      'a network event without a container',
      { Type: 'network', Action: 'create', Actor: { ID: NET, Attributes: { name: 'x' } } },
      undefined,
    ],
    [
      'a network destroy',
      { Type: 'network', Action: 'destroy', Actor: { ID: NET, Attributes: { container: ID } } },
      undefined,
    ],
    ['an image event', { Type: 'image', Action: 'pull', Actor: { ID: 'busybox' } }, undefined],
    ['a container event without an id', { Type: 'container', Action: 'start', Actor: {} }, undefined],
    ['JSON that is not an object', 42, undefined],
  ])('%s', (_label, raw, expected) => {
    expect(parseEventLine(JSON.stringify(raw))).toEqual(expected);
  });

  it('garbage is reported as invalid', () => {
    expect(parseEventLine('{not json')).toBe('invalid');
  });

  it('asks Docker for container lifecycle and network (dis)connect events only, never exec_*', () => {
    const f = eventFilters();
    expect(f.type).toEqual(['container', 'network']);
    expect(f.event).toEqual(expect.arrayContaining(['start', 'die', 'kill', 'oom', 'connect', 'disconnect']));
    expect(f.event?.some((e) => e.startsWith('exec'))).toBe(false);
    expect(f.container).toBeUndefined(); // it would drop the network events
  });
});

describe('matchesFollowed (per-container mode)', () => {
  const ev = (id: string, attributes: Record<string, string> = {}): DockerEvent => ({
    id,
    action: 'x',
    time: 0,
    attributes,
  });
  it.each<[string, DockerEvent, string, string | undefined, boolean]>([
    ['by name', ev(ID, { name: 'web-1' }), 'web-1', undefined, true],
    ['another name', ev(ID, { name: 'web-10' }), 'web-1', undefined, false],
    ['by full id', ev(ID), ID, undefined, true],
    ['by a 12-character id prefix', ev(ID), ID.slice(0, 12), undefined, true],
    ['a short prefix is not enough', ev(ID), ID.slice(0, 6), undefined, false],
    ['a network event, once the id is known', ev(ID, { network: 'n' }), 'web-1', ID, true],
    ['a network event before any inspect', ev(ID, { network: 'n' }), 'web-1', undefined, false],
    ['another container’s network event', ev(NET, { network: 'n' }), 'web-1', ID, false],
  ])('%s', (_label, e, only, known, expected) => {
    expect(matchesFollowed(e, only, known)).toBe(expected);
  });
});
