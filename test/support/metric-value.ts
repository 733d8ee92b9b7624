/** The value of a Prometheus metric (its first series) in what `url` serves, or NaN when it is not there. */
export async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}
