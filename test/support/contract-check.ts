import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { BEFORE_ROUTING_ERRORS } from '../../services/api/src/api-spec.js';
import type { ContractRecord } from './contract-recorder.js';

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface OpenApiDocument {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}

/** What a record was checked as: the operation and status it matched, or why it failed. */
export type ContractVerdict = { ok: true; operation: string } | { ok: false; operation: string; problem: string };

const mediaType = (contentType: string): string => contentType.split(';')[0]?.trim().toLowerCase() ?? '';

/**
 * The document with every object schema closed (`additionalProperties: false` where it says nothing),
 * so that a field the document does not name fails the check. The served document leaves them
 * open: clients should accept fields added later.
 */
function closeObjects(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(closeObjects);
  if (typeof value !== 'object' || value === null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) copy[key] = closeObjects(inner);
  if (copy.type === 'object' && typeof copy.properties === 'object' && copy.additionalProperties === undefined) {
    copy.additionalProperties = false;
  }
  return copy;
}

/** A path template's matcher: `/v1/presence/{clientId}` → /^\/v1\/presence\/[^/]+$/, with its parameter count. */
function templateMatcher(template: string): { regex: RegExp; params: number } {
  const parts = template.split(/\{[^}]+\}/);
  const escaped = parts.map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return { regex: new RegExp(`^${escaped.join('[^/]+')}$`, 'i'), params: parts.length - 1 };
}

/**
 * Checks recorded answers (contract-recorder.ts) against an OpenAPI 3.1 document with ajv: the route
 * and method must be in it, the status among the operation's responses, the content type among that
 * response's, and the body valid against its schema with no field it does not name. A route outside
 * the document may only answer as the document's description says: 404 `not_found` (401
 * `unauthorized` under /v1 with API_TOKENS set, whose check comes first).
 */
export class ContractChecker {
  private readonly document: OpenApiDocument;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly templates: { template: string; regex: RegExp; params: number }[];

  constructor(document: object) {
    this.document = closeObjects(document) as OpenApiDocument;
    // strict: false, for the OpenAPI keywords JSON Schema does not know (`example`, `discriminator`).
    this.ajv = new Ajv2020({ strict: false, allErrors: false });
    this.ajv.addSchema({ $id: 'openapi.json', components: this.document.components ?? {} });
    this.templates = Object.keys(this.document.paths ?? {})
      .map((template) => ({ template, ...templateMatcher(template) }))
      .sort((a, b) => a.params - b.params);
  }

  /**
   * The document's path template for `method` `path` as express routes it: case-insensitive, a
   * trailing slash ignored, a template with that method before one without, literal segments before parameters.
   */
  pathTemplate(method: string, path: string): string | null {
    const trimmed = path.length > 1 ? path.replace(/\/$/, '') : path;
    const matching = this.templates.filter((entry) => entry.regex.test(trimmed));
    const withMethod = matching.find((entry) => this.document.paths?.[entry.template]?.[method.toLowerCase()] !== undefined);
    return (withMethod ?? matching[0])?.template ?? null;
  }

  check(record: ContractRecord): ContractVerdict {
    const method = record.kind === 'sse' ? 'GET' : record.method;
    const template = this.pathTemplate(method, record.path);
    const operation = template === null ? undefined : this.document.paths?.[template]?.[method.toLowerCase()];
    const name = `${method} ${template ?? record.path}`;
    if (record.kind === 'sse') {
      if (operation === undefined) return { ok: false, operation: name, problem: 'an SSE stream from a route the document does not have' };
      return this.validate(`${name} 200 text/event-stream`, operation, '200', 'text/event-stream', record.frame);
    }
    const status = String(record.status);
    if (operation === undefined) {
      const unknownRoute = this.unknownRouteAnswer(record);
      if (unknownRoute) return { ok: true, operation: `unknown route → ${status}` };
      return { ok: false, operation: name, problem: `${status} from a route or method the document does not have` };
    }
    const id = `${name} ${status}`;
    const response = operation.responses?.[status];
    if (response === undefined) return { ok: false, operation: id, problem: `status ${status} is not among the operation's responses` };
    if (response.content === undefined) {
      return record.body === null
        ? { ok: true, operation: id }
        : { ok: false, operation: id, problem: `the document says no body, the answer had ${JSON.stringify(record.body).slice(0, 200)}` };
    }
    const type = mediaType(record.contentType);
    const declared = Object.keys(response.content).map(mediaType);
    if (!declared.includes(type))
      return { ok: false, operation: id, problem: `content type ${type || '(none)'} is not ${declared.join(' or ')}` };
    if (type !== 'application/json') return { ok: true, operation: `${id} ${type}` };
    const key = Object.keys(response.content).find((candidate) => mediaType(candidate) === type) as string;
    return this.validate(id, operation, status, key, record.body);
  }

  /**
   * What the document's description says of other routes and methods: 404 `not_found`, after /v1's
   * token check (401 `unauthorized`) and the JSON body parser, which runs before routing.
   */
  private unknownRouteAnswer(record: Extract<ContractRecord, { kind: 'json' }>): boolean {
    const codes: Record<number, readonly string[]> = { ...BEFORE_ROUTING_ERRORS, 404: ['not_found'] };
    if (record.path.startsWith('/v1/') || record.path === '/v1') codes[401] = ['unauthorized'];
    const body = record.body as { error?: { code?: unknown; message?: unknown } } | null;
    return (
      body !== null &&
      Object.keys(body).length === 1 &&
      Object.keys(body.error ?? {}).length === 2 &&
      typeof body.error?.code === 'string' &&
      (codes[record.status] ?? []).includes(body.error.code) &&
      typeof body.error.message === 'string'
    );
  }

  private validate(id: string, operation: Operation, status: string, contentKey: string, value: unknown): ContractVerdict {
    const content = operation.responses?.[status]?.content;
    const key = Object.keys(content ?? {}).find((candidate) => mediaType(candidate) === mediaType(contentKey));
    const schema = key === undefined ? undefined : content?.[key]?.schema;
    if (schema === undefined) return { ok: false, operation: id, problem: `no ${contentKey} schema in the document` };
    let validate = this.validators.get(id);
    if (validate === undefined) {
      // Refs (#/components/schemas/X) resolve against the document's components.
      validate = this.ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/')) as object);
      this.validators.set(id, validate);
    }
    if (validate(value)) return { ok: true, operation: id };
    const error = validate.errors?.[0];
    const where = error?.instancePath === '' ? 'the body' : error?.instancePath;
    const extra = error?.keyword === 'additionalProperties' ? ` (${JSON.stringify(error.params)})` : '';
    return {
      ok: false,
      operation: id,
      problem: `${where} ${error?.message ?? 'is invalid'}${extra}: ${JSON.stringify(value).slice(0, 300)}`,
    };
  }
}
