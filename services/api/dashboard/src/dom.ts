/** Small DOM helpers: every value from the API goes in as text, never as HTML. */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

type Child = Node | string | number | null;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child !== null) element.append(typeof child === 'number' ? String(child) : child);
  return element;
}

/** `2026-11-22 03:19:20` (UTC), as the CLI prints times. */
export function utc(ms: number | null): string {
  if (ms === null) return '–';
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** `03:19:20.022` (UTC). */
export function utcTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/** `850 ms`, `12 s`, `4 min`, `3 h`. */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
