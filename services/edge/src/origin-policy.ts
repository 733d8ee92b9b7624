/**
 * Which web pages may open a WebSocket to the edge (ALLOWED_ORIGINS). A browser sends the page's
 * origin with every upgrade and lets any page connect anywhere, so the server must refuse pages it
 * does not serve (cross-site WebSocket hijacking); programs that are not browsers send no Origin and
 * are not judged by it. Decided before the upgrade, so a refused page never gets a session.
 */
export type OriginPolicy =
  /** Every page (`*`; the default with AUTH_MODE=none, where anyone may connect anyway). */
  | { kind: 'any' }
  /**
   * The listed origins, and pages served from the host name the client connected to, on any port
   * (the default with AUTH_MODE=jwt: the list is empty, so only same-host pages).
   */
  | { kind: 'listed'; origins: ReadonlySet<string> };

/** The policy of `ALLOWED_ORIGINS` (`*`, or a comma-separated list of origins), or the default for the auth mode. */
export function originPolicy(allowedOrigins: string | undefined, authMode: 'none' | 'jwt'): OriginPolicy {
  const value = allowedOrigins?.trim();
  if (value === undefined || value === '') return authMode === 'none' ? { kind: 'any' } : { kind: 'listed', origins: new Set() };
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.includes('*')) return { kind: 'any' };
  return { kind: 'listed', origins: new Set(entries.map(normaliseOrigin)) };
}

/** A problem with one entry of ALLOWED_ORIGINS, for the config check, or null. */
export function originEntryProblem(entry: string): string | null {
  if (entry === '*') return null;
  try {
    const url = new URL(entry);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${entry} is not an http:// or https:// origin`;
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || entry.endsWith('/')) {
      return `${entry} has a path; an origin is scheme://host[:port]`;
    }
    return null;
  } catch {
    return `${entry} is not an origin (scheme://host[:port])`;
  }
}

/**
 * Whether an upgrade may proceed. `origin` is the request's Origin header (absent: not a browser),
 * `host` its Host header: a page from that very host is same-origin for the purpose of this check.
 */
export function originAllowed(policy: OriginPolicy, origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined || policy.kind === 'any') return true;
  if (policy.origins.has(normaliseOrigin(origin))) return true;
  if (host === undefined) return false;
  try {
    // Hostnames only: the page is usually served from another port of the same host (the API's).
    return new URL(origin).hostname === new URL(`http://${host}`).hostname;
  } catch {
    return false;
  }
}

function normaliseOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin;
  }
}
