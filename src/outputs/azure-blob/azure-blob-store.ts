import type { ContainerClient, StorageRetryOptions } from "@azure/storage-blob";
import type { Logger } from "pino";
import type { ObjectMeta, ObjectStore } from "../common/object-store.js";
import {
  type AzureBlobPlan,
  type AzureEnv,
  connectAzureBlob,
  planAzureBlobTarget,
  plannedEndpoint,
} from "./credentials.js";
import { type AzureErrorContext, classifyAzureError } from "./errors.js";

export interface AzureBlobStoreOptions {
  readonly account: string;
  readonly container: string;
  /** Prefix shown in `location` only (the engine puts it in every key). */
  readonly prefix?: string;
  /** `storage_access_key`; absent: credentials from the environment (see credentials.ts). */
  readonly accessKey?: string;
  /** Default process.env. */
  readonly env?: AzureEnv;
  readonly logger?: Logger;
  /**
   * Blobs up to this size go in one Put Blob; larger ones in blocks of `blockSize`, staged
   * `concurrency` at a time and committed with Put Block List (readers never see a partial
   * blob). Defaults: 4 MiB, 4 MiB, 4.
   */
  readonly maxSingleShotSize?: number;
  readonly blockSize?: number;
  readonly concurrency?: number;
  /** The SDK's own retries (per HTTP request). Default: 3 tries, 0.5 s then 1 s, 2 min per try. */
  readonly retry?: StorageRetryOptions;
}

const MiB = 1024 * 1024;

/**
 * Azure Blob Storage behind the ObjectStore interface: block blobs in one container, uploaded
 * with the official SDK. The SDK retries each request a little (503 ServerBusy, 500, network);
 * the batching engine retries whole uploads with backoff above that, so the SDK's retries stay
 * modest. The SDK is loaded and the client built on the first `check` or `put`; a setup that
 * cannot work (a malformed endpoint or connection string) makes both reject with a permanent
 * error, so start-up reports it like any other failed check.
 */
export class AzureBlobStore implements ObjectStore {
  private readonly plan: AzureBlobPlan | undefined;
  private readonly planError: unknown;
  private context: AzureErrorContext;
  private connecting: Promise<ContainerClient> | undefined;

  constructor(private readonly opts: AzureBlobStoreOptions) {
    let plan: AzureBlobPlan | undefined;
    try {
      plan = planAzureBlobTarget(opts.account, opts.accessKey, opts.env ?? process.env);
    } catch (err) {
      this.planError = err;
    }
    this.plan = plan;
    this.context = {
      account: opts.account,
      container: opts.container,
      endpoint: plan
        ? plannedEndpoint(plan, opts.account)
        : `https://${opts.account}.blob.core.windows.net`,
      source: plan?.source ?? "storage_access_key",
    };
  }

  /** `<endpoint>/<container>/<prefix>`: never holds a key or SAS token. */
  get location(): string {
    const prefix = this.opts.prefix ? `/${this.opts.prefix.replace(/^\/+|\/+$/g, "")}` : "";
    return `${this.context.endpoint}/${this.opts.container}${prefix}`;
  }

  /** Where the credentials come from (see credentials.ts), for logs. */
  get credentialSource(): AzureErrorContext["source"] {
    return this.context.source;
  }

  /** The container exists and the credentials may read it. */
  async check(signal?: AbortSignal): Promise<void> {
    try {
      const container = await this.client();
      await container.getProperties({ abortSignal: signal });
    } catch (err) {
      throw classifyAzureError(err, this.context, { atStartup: true });
    }
    this.opts.logger?.info(
      { location: this.location, credentials: this.context.source },
      "azure blob container reachable",
    );
  }

  async put(key: string, body: Buffer, meta: ObjectMeta, signal?: AbortSignal): Promise<void> {
    try {
      const container = await this.client();
      await container.getBlockBlobClient(key).uploadData(body, {
        maxSingleShotSize: this.opts.maxSingleShotSize ?? 4 * MiB,
        blockSize: this.opts.blockSize ?? 4 * MiB,
        concurrency: this.opts.concurrency ?? 4,
        blobHTTPHeaders: {
          blobContentType: meta.contentType,
          ...(meta.contentEncoding ? { blobContentEncoding: meta.contentEncoding } : {}),
        },
        abortSignal: signal,
      });
    } catch (err) {
      throw classifyAzureError(err, this.context);
    }
  }

  /** Built once; a failure to build is permanent (the environment does not change). */
  private client(): Promise<ContainerClient> {
    if (!this.connecting) {
      const plan = this.plan;
      if (!plan) return Promise.reject(this.planError);
      this.connecting = connectAzureBlob(plan, this.opts.account, {
        retryOptions: {
          maxTries: 3,
          retryDelayInMs: 500,
          maxRetryDelayInMs: 4_000,
          tryTimeoutInMs: 120_000,
          ...this.opts.retry,
        },
        userAgentOptions: { userAgentPrefix: "canary-exporter" },
      }).then(({ service, endpoint }) => {
        this.context = { ...this.context, endpoint };
        return service.getContainerClient(this.opts.container);
      });
    }
    return this.connecting;
  }
}
