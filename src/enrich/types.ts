/**
 * Endpoint enrichment (SPEC.md section 4): the vocabulary shared by the Red Canary API client,
 * the endpoint cache and the pipeline stage that merges metadata into records.
 */

/** One endpoint resource of the Red Canary API, as the envelope's `data[]` holds it. */
export interface EndpointResource {
  /** The resource id, as a string (the API's `id`). */
  readonly id: string;
  /** The resource's `attributes` object, unchanged (hostname, platform, ...). */
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** One page of the endpoint list. */
export interface EndpointPage {
  readonly endpoints: readonly EndpointResource[];
  /** `meta.total_items` of the envelope, when the API sent it. */
  readonly totalItems?: number;
}

/**
 * The calls the exporter makes to the Red Canary API. Implementations rate-limit themselves.
 * Errors are ExporterErrors: code `api_unauthorized` (kind "permanent": 401/403, a bad key),
 * `api_rate_limited` (retryable: 429 after the client's own retries), `api_unavailable`
 * (retryable: 5xx, timeouts, connection errors, a body that is not the envelope).
 */
export interface RedCanaryApi {
  /** GET endpoints/{id}; null when the API answers 404. */
  getEndpoint(id: string, signal?: AbortSignal): Promise<EndpointResource | null>;
  /** GET endpoints?page=&per_page= (page is 1-based). */
  listEndpoints(page: number, perPage: number, signal?: AbortSignal): Promise<EndpointPage>;
}
