import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/**
 * Every metric the exporter exposes, in one place so names stay consistent (Vector's naming:
 * `component_*_total`, errors labelled by `error_type` and `stage`). Labels never hold
 * secrets or unbounded values such as object keys.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly messagesReceived = this.counter("sqs_messages_received_total", "SQS messages received.");
  readonly messagesDeleted = this.counter(
    "sqs_messages_deleted_total",
    "SQS messages deleted after every record of every file reached every output.",
  );
  readonly messagesReleased = this.counter(
    "sqs_messages_released_total",
    "SQS messages made visible again for a later retry.",
    ["reason"],
  );
  readonly messagesDeadLettered = this.counter(
    "sqs_messages_dead_lettered_total",
    "SQS messages written to the local dead-letter directory and deleted.",
  );
  readonly testEvents = this.counter(
    "s3_test_events_total",
    "S3 test events acknowledged and skipped.",
  );
  readonly filesProcessed = this.counter("files_processed_total", "S3 objects read to the end.");
  readonly readResumes = this.counter(
    "file_read_resumes_total",
    "Reads of an S3 object that failed part-way and were resumed, their SQS message kept in flight.",
  );
  readonly bytesRead = this.counter(
    "bytes_read_total",
    "Bytes read from S3 (before decompression).",
  );
  readonly recordsReceived = this.counter(
    "component_received_events_total",
    "Records read from S3 objects.",
  );
  readonly recordsSent = this.counter(
    "component_sent_events_total",
    "Records durably written by an output.",
    ["output"],
  );
  readonly recordsFiltered = this.counter(
    "component_discarded_events_total",
    "Records not sent to an output because its export_only_where did not match.",
    ["output"],
  );
  readonly errors = this.counter(
    "component_errors_total",
    "Errors by type and stage; each one is also logged.",
    ["error_type", "stage"],
  );
  readonly invalidRecords = this.counter(
    "invalid_records_total",
    "Lines that are not JSON objects, kept in the dead-letter directory.",
  );
  readonly selectDiscarded = this.counter(
    "s3_select_discarded_events_total",
    "Records left out by input.s3_select_where when the exporter evaluates it (S3 Select leaves them out at the service).",
  );
  readonly endpointCacheHits = this.counter(
    "endpoint_cache_hits_total",
    "Endpoint lookups answered from the cache (per distinct endpoint per batch of records).",
  );
  readonly endpointCacheMisses = this.counter(
    "endpoint_cache_misses_total",
    "Endpoint lookups the cache could not answer.",
  );
  readonly endpointCacheEntries = this.gauge(
    "endpoint_cache_entries",
    "Endpoints (found and not found) in the cache.",
  );
  readonly apiRequests = this.counter(
    "red_canary_api_requests_total",
    "Requests sent to the Red Canary API, by outcome (ok, not_found, rate_limited, error).",
    ["outcome"],
  );
  readonly enrichedRecords = this.counter(
    "enriched_events_total",
    "Records through endpoint enrichment, by enrichment_status (found, not_found, no_join_value, unavailable).",
    ["status"],
  );
  readonly enrichmentWaiting = this.gauge(
    "enrichment_waiting_batches",
    "Batches of records held because the Red Canary API cannot answer (on_api_failure: wait).",
  );
  readonly inFlightMessages = this.gauge("in_flight_messages", "SQS messages being processed.");
  readonly inFlightFiles = this.gauge("in_flight_files", "S3 objects being processed.");

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics)
      collectDefaultMetrics({ register: this.registry, prefix: "canary_exporter_" });
  }

  private counter<L extends string = never>(name: string, help: string, labelNames: L[] = []) {
    return new Counter<L>({
      name: `canary_exporter_${name}`,
      help,
      labelNames,
      registers: [this.registry],
    });
  }

  private gauge(name: string, help: string) {
    return new Gauge({ name: `canary_exporter_${name}`, help, registers: [this.registry] });
  }
}
