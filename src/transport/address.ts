// Endpoints: many logical peers behind one connection. An address is a peer id, or
// `peer/endpoint` for an endpoint of that peer (a load generator's hundred clients, a browser
// tab's client next to its replica). The link to the peer authenticates every endpoint under
// it, so a replica can treat `peer/endpoint` as a client id like any other. On the wire each
// message starts with the sending and the receiving endpoint names (empty for the peer itself).

export const ENDPOINT_SEPARATOR = '/';
export const MAX_ENDPOINT_CHARS = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Splits `peer/endpoint` (or a bare peer id) at the first separator. */
export function splitAddress(address: string): { peer: string; endpoint: string } {
  const i = address.indexOf(ENDPOINT_SEPARATOR);
  return i < 0 ? { peer: address, endpoint: '' } : { peer: address.slice(0, i), endpoint: address.slice(i + 1) };
}

export function joinAddress(peer: string, endpoint: string): string {
  return endpoint === '' ? peer : `${peer}${ENDPOINT_SEPARATOR}${endpoint}`;
}

export function isValidEndpoint(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_ENDPOINT_CHARS && !name.includes(ENDPOINT_SEPARATOR);
}

/** Message bytes with the endpoint header in front. */
export function addressMessage(fromEndpoint: string, toEndpoint: string, payload: Uint8Array): Uint8Array {
  const from = encoder.encode(fromEndpoint);
  const to = encoder.encode(toEndpoint);
  const out = new Uint8Array(2 + from.length + to.length + payload.length);
  out[0] = from.length;
  out.set(from, 1);
  out[1 + from.length] = to.length;
  out.set(to, 2 + from.length);
  out.set(payload, 2 + from.length + to.length);
  return out;
}

/** The endpoint header and payload of a received message; undefined if malformed. */
export function readAddressed(message: Uint8Array): { fromEndpoint: string; toEndpoint: string; payload: Uint8Array } | undefined {
  try {
    const fromLen = message[0];
    if (fromLen === undefined || fromLen > MAX_ENDPOINT_CHARS * 4) return undefined;
    const toLen = message[1 + fromLen];
    if (toLen === undefined || toLen > MAX_ENDPOINT_CHARS * 4) return undefined;
    const fromEndpoint = decoder.decode(message.subarray(1, 1 + fromLen));
    const toEndpoint = decoder.decode(message.subarray(2 + fromLen, 2 + fromLen + toLen));
    if (fromEndpoint.includes(ENDPOINT_SEPARATOR) || toEndpoint.includes(ENDPOINT_SEPARATOR)) return undefined;
    return { fromEndpoint, toEndpoint, payload: message.subarray(2 + fromLen + toLen) };
  } catch {
    return undefined;
  }
}
