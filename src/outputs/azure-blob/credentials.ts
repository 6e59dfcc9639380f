import type { BlobServiceClient, StoragePipelineOptions } from "@azure/storage-blob";
import { ExporterError } from "../../core/errors.js";

/** Where the output's credentials come from, in the order they are looked for. */
export type AzureCredentialSource =
  | "storage_access_key"
  | "AZURE_STORAGE_CONNECTION_STRING"
  | "AZURE_STORAGE_KEY"
  | "DefaultAzureCredential";

/** Variables read from the environment (a parameter so tests need not touch process.env). */
export type AzureEnv = Readonly<Record<string, string | undefined>>;

/** What to connect to and with what, decided without loading the Azure SDK. */
export type AzureBlobPlan =
  | {
      readonly source: "AZURE_STORAGE_CONNECTION_STRING";
      readonly connectionString: string;
    }
  | {
      readonly source: "storage_access_key" | "AZURE_STORAGE_KEY";
      readonly endpoint: string;
      readonly key: string;
    }
  | { readonly source: "DefaultAzureCredential"; readonly endpoint: string };

/**
 * Chooses credentials for `account` the way Azure tools do:
 * 1. `storage_access_key` from the config (shared key);
 * 2. else `AZURE_STORAGE_CONNECTION_STRING` (account key or SAS, with its own endpoint:
 *    `BlobEndpoint=` or `EndpointSuffix=`, which is how Azurite and sovereign clouds are reached);
 * 3. else `AZURE_STORAGE_KEY` (shared key, as the Azure CLI reads it);
 * 4. else `DefaultAzureCredential` (environment service principal, workload identity, managed
 *    identity, Azure CLI login); its identity needs a data role such as Storage Blob Data
 *    Contributor on the container.
 * Except with a connection string, the endpoint is `AZURE_STORAGE_BLOB_ENDPOINT` when set (the
 * account's full blob URL: `http://127.0.0.1:10000/devstoreaccount1` for Azurite), else
 * `https://<account>.blob.core.windows.net`.
 * Throws a permanent ExporterError for a setup that cannot work; no message quotes a key, a
 * connection string or a SAS token.
 */
export function planAzureBlobTarget(
  account: string,
  accessKey: string | undefined,
  env: AzureEnv,
): AzureBlobPlan {
  const connectionString = nonEmpty(env.AZURE_STORAGE_CONNECTION_STRING);
  if (accessKey === undefined && connectionString !== undefined) {
    return { source: "AZURE_STORAGE_CONNECTION_STRING", connectionString };
  }
  const endpoint = blobEndpoint(account, env);
  if (accessKey !== undefined) return { source: "storage_access_key", endpoint, key: accessKey };
  const envKey = nonEmpty(env.AZURE_STORAGE_KEY);
  if (envKey !== undefined) return { source: "AZURE_STORAGE_KEY", endpoint, key: envKey };
  if (endpoint.startsWith("http:")) {
    throw setupError(
      `no storage key is set and Azure AD credentials need https, but AZURE_STORAGE_BLOB_ENDPOINT is ${endpoint}: set storage_access_key, AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING`,
    );
  }
  return { source: "DefaultAzureCredential", endpoint };
}

/** The plan's endpoint for logs, when known before connecting. */
export function plannedEndpoint(plan: AzureBlobPlan, account: string): string {
  return "endpoint" in plan ? plan.endpoint : `https://${account}.blob.core.windows.net`;
}

/**
 * The service client for a plan. Loads the Azure SDK (and @azure/identity only when it is
 * used) on first use, so configs without an azure_blob output never pay for it.
 */
export async function connectAzureBlob(
  plan: AzureBlobPlan,
  account: string,
  options: StoragePipelineOptions,
): Promise<{ service: BlobServiceClient; endpoint: string }> {
  const { BlobServiceClient, StorageSharedKeyCredential } = await import("@azure/storage-blob");
  switch (plan.source) {
    case "AZURE_STORAGE_CONNECTION_STRING": {
      let service: BlobServiceClient;
      try {
        service = BlobServiceClient.fromConnectionString(plan.connectionString, options);
      } catch {
        // The SDK's message may quote part of the string: keep it out.
        throw setupError(
          "AZURE_STORAGE_CONNECTION_STRING is not a valid Azure Storage connection string (expected AccountName=...;AccountKey=... or BlobEndpoint=...;SharedAccessSignature=...)",
        );
      }
      if (service.accountName !== account) {
        throw setupError(
          `AZURE_STORAGE_CONNECTION_STRING is for storage account "${service.accountName}" but storage_account_name is "${account}": make them agree`,
        );
      }
      return { service, endpoint: withoutQuery(service.url) };
    }
    case "storage_access_key":
    case "AZURE_STORAGE_KEY": {
      const credential = new StorageSharedKeyCredential(account, plan.key);
      return {
        service: new BlobServiceClient(plan.endpoint, credential, options),
        endpoint: plan.endpoint,
      };
    }
    case "DefaultAzureCredential": {
      const { DefaultAzureCredential } = await import("@azure/identity");
      const service = new BlobServiceClient(plan.endpoint, new DefaultAzureCredential(), options);
      return { service, endpoint: plan.endpoint };
    }
  }
}

function blobEndpoint(account: string, env: AzureEnv): string {
  const override = nonEmpty(env.AZURE_STORAGE_BLOB_ENDPOINT);
  if (override === undefined) return `https://${account}.blob.core.windows.net`;
  let url: URL;
  try {
    url = new URL(override);
  } catch {
    throw setupError(
      `AZURE_STORAGE_BLOB_ENDPOINT is not a URL (expected the account's blob endpoint, such as https://${account}.blob.core.windows.net, or http://127.0.0.1:10000/${account} for Azurite)`,
    );
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.username) {
    throw setupError(
      "AZURE_STORAGE_BLOB_ENDPOINT must be a plain http(s) URL without credentials or query (put a SAS token in AZURE_STORAGE_CONNECTION_STRING instead)",
    );
  }
  return withoutQuery(url.href);
}

/** Origin and path only: a SAS token in the query never reaches a log. */
function withoutQuery(href: string): string {
  const u = new URL(href);
  return `${u.origin}${u.pathname}`.replace(/\/+$/, "");
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function setupError(message: string): ExporterError {
  return new ExporterError("azure_setup", "permanent", message);
}
