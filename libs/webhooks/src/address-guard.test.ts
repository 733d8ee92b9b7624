import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { addressRange, checkLiteralTarget, checkPublicTarget, guardedLookup, isPublicAddress } from './address-guard.js';
import { AddressRefusedError } from './errors.js';

describe('isPublicAddress', () => {
  it('refuses loopback, private, link-local, shared, multicast, reserved and unspecified addresses', () => {
    const refused: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.0.1', 'private'],
      ['169.254.169.254', 'linkLocal'],
      ['100.64.0.1', 'carrierGradeNat'],
      ['0.0.0.0', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['192.0.2.1', 'reserved'],
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fd00::1', 'uniqueLocal'],
      ['fe80::1', 'linkLocal'],
      ['ff02::1', 'multicast'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:10.0.0.1', 'private'],
      ['64:ff9b::a00:1', 'rfc6052'],
      ['2002:a00:1::', '6to4'],
      ['not an address', 'invalid'],
    ];
    for (const [address, range] of refused) {
      expect([address, addressRange(address)]).toEqual([address, range]);
      expect(isPublicAddress(address), address).toBe(false);
    }
  });

  it('takes global unicast addresses, IPv4 and IPv6', () => {
    for (const address of ['93.184.215.14', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isPublicAddress(address), address).toBe(true);
    }
  });
});

describe('checkLiteralTarget', () => {
  it('refuses a URL whose host is a non-public address literal, and leaves names alone', () => {
    expect(() => checkLiteralTarget(new URL('http://127.0.0.1:8080/x'))).toThrow(AddressRefusedError);
    expect(() => checkLiteralTarget(new URL('http://[::1]/x'))).toThrow(/::1 resolves to ::1 \(loopback\)/);
    expect(() => checkLiteralTarget(new URL('http://[::ffff:169.254.169.254]/'))).toThrow(/linkLocal/);
    expect(() => checkLiteralTarget(new URL('http://93.184.215.14/'))).not.toThrow();
    expect(() => checkLiteralTarget(new URL('http://localhost/'))).not.toThrow();
  });
});

describe('checkPublicTarget', () => {
  it('resolves a name first: localhost is loopback', async () => {
    await expect(checkPublicTarget(new URL('http://localhost:1/'))).rejects.toThrow(
      /^localhost resolves to (127\.0\.0\.1|::1) \(loopback\)/,
    );
    await expect(checkPublicTarget(new URL('http://[fe80::1]/'))).rejects.toBeInstanceOf(AddressRefusedError);
    await expect(checkPublicTarget(new URL('https://93.184.215.14/hook'))).resolves.toBeUndefined();
  });
});

describe('guardedLookup', () => {
  const lookup = (hostname: string, all: boolean) =>
    new Promise<{ error: NodeJS.ErrnoException | null; addresses: string | LookupAddress[] }>((resolve) =>
      guardedLookup(hostname, { all }, (error, addresses) => resolve({ error, addresses })),
    );

  it('fails a connection to a name that resolves to a non-public address, in both forms sockets ask for', async () => {
    for (const all of [true, false]) {
      const { error } = await lookup('localhost', all);
      expect(error).toBeInstanceOf(AddressRefusedError);
      expect((error as AddressRefusedError).code).toBe('address_refused');
    }
  });

  it('passes a resolver error on', async () => {
    const { error } = await lookup('no-such-host.invalid', true);
    expect(error?.code).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });
});
