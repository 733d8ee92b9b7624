/** A caller passed something the store can't use (an API maps it to 400). */
export class StoreInputError extends Error {
  readonly code: 'bad_cursor' | 'bad_client_id';

  constructor(code: 'bad_cursor' | 'bad_client_id', message: string) {
    super(message);
    this.name = 'StoreInputError';
    this.code = code;
  }
}
