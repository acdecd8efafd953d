// `requestHeaders` / `responseHeaders`: applied to the request's header object before it goes
// upstream, and to the client response after the backend's headers were copied onto it. Names were
// validated (tokens, lower case, none of the proxy's own) when the route was decoded.
import type { HeaderRules } from '../../../common/route-headers.js';
import type { HeaderBag } from '../forwarded.js';

/** What a `ServerResponse` offers for editing headers before they are sent. */
export interface HeaderEditor {
  setHeader(name: string, value: string | string[] | number): unknown;
  removeHeader(name: string): void;
}

export type RequestHeaderEdit = (headers: HeaderBag) => void;
export type ResponseHeaderEdit = (response: HeaderEditor) => void;

/** Undefined when there is nothing to do, so a route without such rules pays no call. */
export function compileRequestHeaders(rules: HeaderRules | undefined): RequestHeaderEdit | undefined {
  if (rules === undefined || (rules.set.length === 0 && rules.remove.length === 0)) return undefined;
  const { set, remove } = rules;
  return (headers) => {
    // `delete`, not `= undefined`: http.request throws on a header whose value is undefined.
    for (const name of remove) if (headers[name] !== undefined) delete headers[name];
    for (const [name, value] of set) headers[name] = value;
  };
}

export function compileResponseHeaders(rules: HeaderRules | undefined): ResponseHeaderEdit | undefined {
  if (rules === undefined || (rules.set.length === 0 && rules.remove.length === 0)) return undefined;
  const { set, remove } = rules;
  return (response) => {
    for (const name of remove) response.removeHeader(name);
    for (const [name, value] of set) response.setHeader(name, value);
  };
}
