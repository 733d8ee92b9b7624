import type { Logger } from '@presence/telemetry';
import type { QueuedEvent, WebhookEndpoint, WebhookStore } from '@presence/webhooks';
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { SendResult, Sender } from './http-sender.js';
import type { WebhookMetrics } from './metrics.js';
import { attemptsFor, retryDelay, type RetryHints, type RetrySchedule } from './retry-schedule.js';
import { signatureHeader } from './signature.js';

export const DELIVERY_QUEUE = 'deliver';

/**
 * How long one delivery job keeps sending an endpoint's batches back to back before a new job takes
 * over: long enough that BullMQ's own Redis work (adding, fetching and finishing a job) is paid once
 * per run rather than per request, short enough that busy endpoints move between replicas.
 */
const RUN_MS = 1_000;

export interface DeliveryOptions extends RetrySchedule {
  /** Most events per request. */
  batch: number;
  /** Dead letters kept per endpoint, about. */
  maxDeadLetters: number;
  /** Endpoints this replica delivers to at once. */
  concurrency: number;
  /** Delivery jobs started per second across all replicas (BullMQ's limiter); 0: none. */
  rateLimit: number;
  /** Check target addresses of endpoints registered through the API. */
  guardApiEndpoints: boolean;
  /** BullMQ's lock: a crashed replica's delivery is run again by another after about this long. */
  lockMs: number;
  workerName: string;
}

export interface DeliveryDeps {
  store: WebhookStore;
  send: Sender;
  /** Connections for BullMQ (they must not fail fast: the worker blocks on one). */
  queueConnection: ConnectionOptions;
  workerConnection: ConnectionOptions;
  logger: Logger;
  metrics: WebhookMetrics;
  options: DeliveryOptions;
}

export interface Delivery {
  start(): Promise<void>;
  /** Gives the endpoint a delivery job if it has none (its lane just got its first event). */
  wake(endpoint: string): Promise<void>;
  /**
   * Repairs what a crash can leave behind: a current job BullMQ does not hold (a replica died
   * between claiming and adding it), queued events without a job, jobs of deleted endpoints, a
   * deletion cut short (its lanes).
   */
  reconcile(): Promise<void>;
  /** Aborts requests in flight to endpoints that no longer exist. */
  abortDeleted(): Promise<void>;
  close(): Promise<void>;
}

interface DeliveryJob {
  endpoint: string;
}

/** A failed attempt, with what bounds the delay before the next one (the worker's backoff strategy reads it). */
class DeliveryFailed extends Error {
  readonly hints: RetryHints;

  constructor(message: string, hints: RetryHints) {
    super(message);
    this.name = 'DeliveryFailed';
    this.hints = hints;
  }
}

/**
 * Delivers each endpoint's queued events (docs/webhooks.md, "Delivery"). Delivery runs as BullMQ
 * jobs, and an endpoint has at most one current job (claim-2.lua), so one request per endpoint is in
 * flight and its events keep their order. A job sends the front of the endpoint's lanes (up to
 * `batch` events); on a 2xx it removes them while it reads the next batch, and goes on for up to
 * RUN_MS, then hands over to a new job. On a failure it throws, and BullMQ runs it again after the
 * backoff (retryDelay), with the events then at the front: the same ones, perhaps with newer ones
 * after them. So BullMQ's attempts, backoff, limiter, locks and stalled-job recovery are what
 * retry, pace and take over deliveries; the retry window is the age of the queued events, checked
 * at every failure.
 */
export function createDelivery(deps: DeliveryDeps): Delivery {
  const { store, logger, metrics, options } = deps;
  const prefix = store.keys.webhooks.queuePrefix;
  const queue = new Queue<DeliveryJob>(DELIVERY_QUEUE, { connection: deps.queueConnection, prefix });
  const attempts = attemptsFor(options);
  /** Abort controllers of the requests in flight, by endpoint. */
  const inFlight = new Map<string, Set<AbortController>>();
  let worker: Worker<DeliveryJob> | null = null;
  let stopping = false;

  async function enqueue(endpoint: string, jobId: string): Promise<void> {
    await queue.add(
      'deliver',
      { endpoint },
      // Failed for good (attempts spent, or stalled too often): the 'failed' handler adds it again.
      { jobId, attempts, backoff: { type: 'webhook' }, removeOnComplete: true, removeOnFail: true },
    );
  }

  async function wake(endpoint: string): Promise<void> {
    const jobId = await store.claimJob(endpoint, null);
    if (jobId !== null) await enqueue(endpoint, jobId);
  }

  /** The job found nothing to send: it ends, and a new one starts if an event arrived meanwhile. */
  async function finish(endpoint: WebhookEndpoint, jobId: string): Promise<void> {
    await store.releaseJob(endpoint.id, jobId);
    if (await store.hasQueued(endpoint)) await wake(endpoint.id);
  }

  function headers(endpoint: WebhookEndpoint, batch: readonly QueuedEvent[], body: string, attempt: number): Record<string, string> {
    return {
      'content-type': 'application/json',
      'user-agent': 'presence-webhooks/1',
      'presence-event-ids': batch.map((event) => event.id).join(','),
      'presence-signature': signatureHeader(endpoint.secret, body, Math.floor(Date.now() / 1000)),
      'presence-webhook-id': endpoint.id,
      'presence-delivery-attempt': String(attempt),
    };
  }

  async function post(
    endpoint: WebhookEndpoint,
    batch: readonly QueuedEvent[],
    attempt: number,
    lockLost?: AbortSignal,
  ): Promise<SendResult> {
    const body = `{"events":[${batch.map((event) => event.json).join(',')}]}`;
    const controller = new AbortController();
    lockLost?.addEventListener('abort', () => controller.abort(), { once: true });
    const controllers = inFlight.get(endpoint.id) ?? new Set();
    inFlight.set(endpoint.id, controllers.add(controller));
    try {
      return await deps.send({
        url: endpoint.url,
        body,
        headers: headers(endpoint, batch, body, attempt),
        guard: endpoint.source === 'api' && options.guardApiEndpoints,
        signal: controller.signal,
      });
    } finally {
      controllers.delete(controller);
      if (controllers.size === 0) inFlight.delete(endpoint.id);
    }
  }

  /**
   * `lockLost` aborts when BullMQ could not renew this job's lock (this replica stalled longer than
   * WEBHOOK_LOCK_MS): another replica runs the job now, so this run stops at once.
   */
  async function deliver(job: Job<DeliveryJob>, _token?: string, lockLost?: AbortSignal): Promise<void> {
    const { endpoint: id } = job.data;
    const jobId = job.id as string;
    const { job: current, endpoint } = await store.jobAndEndpoint(id);
    // A job another one has replaced (added twice by a reconcile racing a hand-over): nothing to do.
    if (current !== jobId) return;
    if (endpoint === null) {
      // Deleted: its deletion dropped its lanes (or the repair does, if a crash cut it short).
      await store.releaseJob(id, jobId);
      return;
    }
    // The endpoint's record says which lanes it has (its channels').
    let batch = await store.readBatch(endpoint, options.batch);
    const runEndsAt = performance.now() + RUN_MS;
    let attempt = job.attemptsMade + 1;
    /** The removal of the previous batch, which goes on beside this request. */
    let removing: Promise<void> = Promise.resolve();
    for (;;) {
      if (lockLost?.aborted) return;
      if (batch.events.length === 0) {
        await removing;
        return finish(endpoint, jobId);
      }
      if (attempt > 1) metrics.retries.inc();
      // The batch after this one is read while this one is on its way: it starts after these
      // events, so it needs neither their answer nor their removal.
      const reading = store.readBatch(endpoint, options.batch, batch.after);
      reading.catch(() => {});
      // A removal that failed fails the job: BullMQ runs it again, and the events are sent again.
      const [result] = await Promise.all([post(endpoint, batch.events, attempt, lockLost), removing]);
      metrics.requestSeconds.observe(result.ms / 1000);
      if (lockLost?.aborted) return;
      if (!result.ok) return failed(endpoint, jobId, attempt, result);

      // Delivered: out of the queues (always before the job ends, so that no successor sends them again).
      removing = store.ack(endpoint, batch.events);
      metrics.deliveries.inc();
      metrics.eventsDelivered.inc(batch.events.length);
      const now = Date.now();
      for (const event of batch.events) {
        metrics.eventDelaySeconds.observe(Math.max(0, now - event.at) / 1000);
        metrics.fanOutDelaySeconds.observe(Math.max(0, Number(event.entryId.slice(0, event.entryId.indexOf('-'))) - event.at) / 1000);
      }
      batch = await reading;
      // Read before this request was answered: what came meanwhile is read now, before the job ends.
      if (batch.events.length === 0) batch = await store.readBatch(endpoint, options.batch, batch.after);
      attempt = 1;
      // A new job after a retry (a later failure starts again from the shortest delay), after a
      // run's time (BullMQ spreads the endpoints over the replicas, and its limiter counts runs), or
      // when this replica stops (another one goes on).
      if (batch.events.length > 0 && (job.attemptsMade > 0 || stopping || performance.now() >= runEndsAt)) {
        await removing;
        const successor = await store.claimJob(id, jobId);
        if (successor !== null) await enqueue(id, successor);
        return;
      }
    }
  }

  /** A failed request: events whose window is over become dead letters; the rest are retried after the backoff. */
  async function failed(endpoint: WebhookEndpoint, jobId: string, attempt: number, result: SendResult & { ok: false }): Promise<void> {
    const id = endpoint.id;
    metrics.failures.inc({ reason: result.reason });
    const now = await store.now();
    const dead = await store.expire(endpoint, now - options.retryForMs, attempt, result.error, options.maxDeadLetters);
    if (dead > 0) {
      metrics.eventsDeadLettered.inc(dead);
      logger.warn({ endpoint: id, deadLetters: dead, error: result.error }, 'webhook events became dead letters: their retry window ended');
    }
    const oldest = (await store.laneStats([endpoint])).get(id)?.oldestQueuedAt ?? null;
    if (oldest === null) return finish(endpoint, jobId);
    if (attempt === 1 || attempt % 10 === 0)
      logger.info({ endpoint: id, attempt, error: result.error }, 'webhook delivery failed; will retry');
    throw new DeliveryFailed(result.error, { retryAfterMs: result.retryAfterMs, expiresInMs: oldest + options.retryForMs - now });
  }

  return {
    wake,

    async start() {
      worker = new Worker<DeliveryJob>(DELIVERY_QUEUE, deliver, {
        connection: deps.workerConnection,
        prefix,
        name: options.workerName,
        concurrency: options.concurrency,
        lockDuration: options.lockMs,
        stalledInterval: options.lockMs,
        // A delivery whose replica died is run again, however often that happens.
        maxStalledCount: 1_000_000,
        ...(options.rateLimit > 0 ? { limiter: { max: options.rateLimit, duration: 1_000 } } : {}),
        settings: {
          backoffStrategy: (attemptsMade, _type, err) =>
            retryDelay(options, attemptsMade, err instanceof DeliveryFailed ? err.hints : { retryAfterMs: null, expiresInMs: null }),
        },
      });
      worker.on('failed', (job, err) => {
        if (job === undefined || job.attemptsMade < (job.opts.attempts ?? 1)) return;
        logger.warn({ endpoint: job.data.endpoint, err }, 'delivery job failed for good; starting it again');
        void enqueue(job.data.endpoint, job.id as string).catch(() => {});
      });
      worker.on('lockRenewalFailed', (jobIds: string[]) => {
        for (const jobId of jobIds) {
          metrics.stalls.inc();
          logger.warn({ jobId }, 'delivery job lock lapsed (this replica stalled); another replica takes the job over');
          worker?.cancelJob(jobId, 'lock lapsed');
        }
      });
      worker.on('error', (err) => logger.warn({ err }, 'delivery worker error'));
      logger.info(
        { concurrency: options.concurrency, batch: options.batch, attempts, retryForMs: options.retryForMs, lockMs: options.lockMs },
        'delivery started',
      );
    },

    async reconcile() {
      const finished = await store.finishDeletions();
      if (finished.length > 0) logger.info({ endpoints: finished }, 'finished deleting endpoints (a deletion was cut short)');
      const [endpoints, jobs] = await Promise.all([store.listEndpoints(), store.currentJobs()]);
      const known = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
      for (const [endpoint, jobId] of jobs) {
        if (!known.has(endpoint)) await store.releaseJob(endpoint, jobId);
        else if ((await queue.getJob(jobId)) === undefined) {
          logger.info({ endpoint, jobId }, 'delivery job was lost; adding it again');
          await enqueue(endpoint, jobId);
        }
      }
      for (const [id, endpoint] of known) if (!jobs.has(id) && (await store.hasQueued(endpoint))) await wake(id);
    },

    async abortDeleted() {
      for (const [endpoint, controllers] of inFlight) {
        if ((await store.getEndpoint(endpoint)) !== null) continue;
        logger.info({ endpoint }, 'endpoint deleted; aborting its request in flight');
        for (const controller of controllers) controller.abort();
      }
    },

    async close() {
      stopping = true;
      await worker?.close();
      await queue.close();
    },
  };
}
