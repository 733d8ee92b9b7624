import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { AddressRefusedError } from './errors.js';

/**
 * The range an address is in, by ipaddr.js's table of special ranges (RFC 6890 and others):
 * 'unicast' for a global unicast address, else 'loopback', 'private', 'linkLocal', 'uniqueLocal',
 * 'carrierGradeNat', 'multicast', 'unspecified', 'reserved', …. An IPv4-mapped IPv6 address
 * (::ffff:10.0.0.1) counts as the IPv4 address it maps.
 */
export function addressRange(address: string): string {
  if (!ipaddr.isValid(address)) return 'invalid';
  return ipaddr.process(address).range();
}

/** The guard's rule: only global unicast addresses. */
export function isPublicAddress(address: string): boolean {
  return addressRange(address) === 'unicast';
}

function refuseUnlessPublic(host: string, addresses: readonly string[]): void {
  for (const address of addresses) {
    const range = addressRange(address);
    if (range !== 'unicast') throw new AddressRefusedError(host, address, range);
  }
}

/** A URL's host as a name to resolve or an address literal (without IPv6 brackets). */
function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Refuses a URL whose host is, or resolves to, any address that is not public (every address DNS
 * gives, so a name with one private record among public ones is refused too). The admin API checks
 * a URL with it when it is registered; the worker checks again at every connection (guardedLookup),
 * because DNS may answer differently later.
 */
export async function checkPublicTarget(url: URL): Promise<void> {
  const host = hostOf(url);
  if (isIP(host) !== 0) return refuseUnlessPublic(host, [host]);
  const addresses = await lookup(host, { all: true, verbatim: true });
  refuseUnlessPublic(
    host,
    addresses.map((a) => a.address),
  );
}

/**
 * A `lookup` for sockets (http.Agent, net.connect) that fails the connection when the name
 * resolves to an address that is not public. The socket connects to the addresses checked here,
 * so a DNS answer that changes between a check and the connection (rebinding) can't slip through.
 * Address literals never reach a lookup: check them with `checkLiteralTarget` first.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, '', 0);
    try {
      refuseUnlessPublic(
        hostname,
        addresses.map((a) => a.address),
      );
    } catch (refused) {
      return callback(refused as NodeJS.ErrnoException, '', 0);
    }
    if (options.all) return (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, addresses);
    const first = addresses[0];
    if (first === undefined) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
    return callback(null, first.address, first.family);
  });
};

/** Refuses a URL whose host is an address literal that is not public (no lookup sees those). */
export function checkLiteralTarget(url: URL): void {
  const host = hostOf(url);
  if (isIP(host) !== 0) refuseUnlessPublic(host, [host]);
}
