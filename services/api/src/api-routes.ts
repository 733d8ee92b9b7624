import { openApiDocument, type ApiRoute } from './api-spec.js';
import { channelsRoutes } from './routes/channels-router.js';
import { dashboardRoutes } from './routes/dashboard-router.js';
import { docsRoutes } from './routes/docs-router.js';
import { eventTokenRoutes } from './routes/event-token-router.js';
import { eventsRoutes } from './routes/events-router.js';
import { healthRoutes } from './routes/health-router.js';
import { metricsRoutes } from './routes/metrics-router.js';
import { presenceRoutes } from './routes/presence-router.js';
import { sdkRoutes } from './routes/sdk-router.js';
import { statsRoutes } from './routes/stats-router.js';
import { webhooksRoutes } from './routes/webhooks-router.js';

/**
 * Every route the API serves, as the OpenAPI document describes it. A new router exports its
 * `ApiRoute`s beside its handlers (see routes/stats-router.ts for the smallest) and adds them here;
 * the contract test fails on any answer of a route missing from this list.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  ...presenceRoutes,
  ...statsRoutes,
  ...eventsRoutes,
  ...channelsRoutes,
  ...eventTokenRoutes,
  ...webhooksRoutes,
  ...healthRoutes,
  ...metricsRoutes,
  ...docsRoutes,
  ...dashboardRoutes,
  ...sdkRoutes,
];

/** The API's OpenAPI 3.1 document, served at GET /openapi.json. */
export const apiDocument = (): ReturnType<typeof openApiDocument> => openApiDocument(API_ROUTES);
