/**
 * A webhook target resolves to an address the guard refuses (loopback, private, link-local, …):
 * the admin API answers 400, the worker counts a failed attempt.
 */
export class AddressRefusedError extends Error {
  readonly code = 'address_refused';
  readonly address: string;

  constructor(host: string, address: string, range: string) {
    super(`${host} resolves to ${address} (${range}); only public addresses are allowed (WEBHOOK_ALLOW_PRIVATE=on allows the others)`);
    this.name = 'AddressRefusedError';
    this.address = address;
  }
}

/** Input the store can't take (the admin API maps it to 4xx). */
export class WebhookInputError extends Error {
  readonly code: 'bad_cursor' | 'endpoint_exists';

  constructor(code: 'bad_cursor' | 'endpoint_exists', message: string) {
    super(message);
    this.name = 'WebhookInputError';
    this.code = code;
  }
}
