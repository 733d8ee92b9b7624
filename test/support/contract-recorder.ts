import { appendFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';

/**
 * Records the API's answers that tests receive, for the contract test (test/contract), which holds
 * each against the OpenAPI document. `installContractRecorder` (a setup file of the integration
 * project) wraps the global fetch, which the tests, their helpers and the SDK use; `fetchFresh` and
 * `SseClient`, which speak node:http, record through `recordResponse` and `recordSseFrame`. Only
 * answers from the API processes the tests start are recorded (ServiceProcess registers their
 * origins), as one JSON line each, under .test-logs/contract/<run>/ (PRESENCE_CONTRACT_RUN, set once
 * per `vitest run` in vitest.config.ts).
 */

export interface RecordedResponse {
  kind: 'json';
  method: string;
  /** The URL's path, without the query. */
  path: string;
  status: number;
  contentType: string;
  /** The parsed JSON body; null for an empty one. */
  body: unknown;
  /** The test file that got it. */
  file: string;
}

export interface RecordedSseFrame {
  kind: 'sse';
  path: string;
  /** The frame's SSE fields, `data` parsed as JSON. */
  frame: Record<string, unknown>;
  file: string;
}

export type ContractRecord = RecordedResponse | RecordedSseFrame;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CONTRACT_DIR = `${ROOT}.test-logs/contract`;
/** Identical answers (same route, status and body) are written once; a file that loops on a route is capped. */
const MAX_RECORDS_PER_WORKER = 5_000;
/** Events differ in every field and their shape is what is checked: a few hundred frames per worker do. */
const MAX_SSE_FRAMES_PER_WORKER = 500;

const apiOrigins = new Set<string>();
const seen = new Set<string>();
let written = 0;
let sseFrames = 0;
let file: string | null = null;

/** Answers from `origin` (`http://127.0.0.1:<port>`) are the API's and are recorded. */
export function registerApiOrigin(origin: string): void {
  apiOrigins.add(new URL(origin).origin);
}

function runDir(): string | null {
  const run = process.env.PRESENCE_CONTRACT_RUN;
  return run === undefined || run === '' ? null : `${CONTRACT_DIR}/${run}`;
}

function currentTestFile(): string {
  const state = (globalThis as { __vitest_worker__?: { filepath?: string } }).__vitest_worker__;
  return state?.filepath?.replace(ROOT, '') ?? 'unknown';
}

function write(record: Omit<RecordedResponse, 'file'> | Omit<RecordedSseFrame, 'file'>): void {
  const dir = runDir();
  if (dir === null || written >= MAX_RECORDS_PER_WORKER) return;
  const line = JSON.stringify(record);
  if (seen.has(line)) return;
  seen.add(line);
  written += 1;
  if (file === null) {
    mkdirSync(dir, { recursive: true });
    file = `${dir}/${process.pid}-${threadId}.jsonl`;
  }
  appendFileSync(file, `${JSON.stringify({ ...record, file: currentTestFile() })}\n`);
}

function apiPath(url: string): string | null {
  const parsed = new URL(url);
  return apiOrigins.has(parsed.origin) ? parsed.pathname : null;
}

const isJson = (contentType: string): boolean => contentType === '' || /^application\/json\b/i.test(contentType);

/** Records `response` (to `method` `url`) if it is an API's JSON answer; reads a clone, so the caller can still read it. */
export async function recordResponse(method: string, url: string, response: Response): Promise<void> {
  const parsed = new URL(url);
  if (!apiOrigins.has(parsed.origin)) return;
  const contentType = response.headers.get('content-type') ?? '';
  let text = '';
  if (isJson(contentType)) {
    try {
      text = await response.clone().text();
    } catch {
      return; // the body was cut off: the test sees that itself
    }
  }
  recordReply(method, parsed.origin, parsed.pathname, response.status, contentType, text);
}

/**
 * Records an answer as received: `path` as sent (a test that sends paths unnormalised, such as the
 * HTTP fuzz test, passes it raw), `text` the body (only a JSON one is kept: SSE streams are recorded
 * frame by frame by SseClient, and text answers such as /metrics have no JSON to check).
 */
export function recordReply(method: string, origin: string, path: string, status: number, contentType: string, text: string): void {
  if (!apiOrigins.has(origin)) return;
  let body: unknown = null;
  if (isJson(contentType) && text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      body = { notJson: text.slice(0, 200) };
    }
  }
  write({ kind: 'json', method: method.toUpperCase(), path: path.split('?')[0] ?? path, status, contentType, body });
}

/** Records one frame of an SSE stream from `url` (its fields as received, `data` parsed). */
export function recordSseFrame(
  url: string,
  fields: { id: string | null; event: string | null; data: string | null; retry: string | null },
): void {
  const path = apiPath(url);
  if (path === null) return;
  const frame: Record<string, unknown> = {};
  if (fields.id !== null) frame.id = fields.id;
  if (fields.event !== null) frame.event = fields.event;
  if (fields.retry !== null) frame.retry = Number(fields.retry);
  if (fields.data !== null) {
    try {
      frame.data = JSON.parse(fields.data);
    } catch {
      frame.data = fields.data;
    }
  }
  if (sseFrames >= MAX_SSE_FRAMES_PER_WORKER) return;
  sseFrames += 1;
  write({ kind: 'sse', path, frame });
}

/** Wraps the global fetch so that the API's answers are recorded (a setup file calls it once per worker). */
export function installContractRecorder(): void {
  const original = globalThis.fetch;
  if ((original as { contractRecorder?: true }).contractRecorder) return;
  const recording = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await original(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    await recordResponse(method, url, response);
    return response;
  };
  globalThis.fetch = Object.assign(recording, { contractRecorder: true as const });
}
