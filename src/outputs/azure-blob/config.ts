/** `outputs: - azure_blob:` settings. Keys exactly as in the guide's template. */
import { z } from "zod";
import {
  compressionFormat,
  exportOnlyWhere,
  flushIntervalSeconds,
  matching,
  maxSizeBytes,
  optional,
  secret,
  withDefault,
} from "../../config/fields.js";

export const azureBlobOutputSchema = z.strictObject({
  /** Azure's own rule for account names: 3 to 24 lower-case letters and digits. */
  storage_account_name: matching(
    /^[a-z0-9]{3,24}$/,
    "expected a storage account name (3 to 24 lower-case letters and digits)",
  ),
  /** Azure's own rule for container names. */
  container_name: matching(
    /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/,
    "expected a container name (3 to 63 lower-case letters, digits and single hyphens)",
  ),
  /** The folder of every blob name (a `/` is added when missing). Default: none. */
  blob_name_prefix: withDefault(z.string({ error: "expected a blob name prefix" }), ""),
  /**
   * The account's shared key (base64). Absent: the output takes credentials from the
   * environment (AZURE_STORAGE_KEY or a connection string), as Azure tools do.
   */
  storage_access_key: optional(secret),
  max_size_bytes: maxSizeBytes,
  /** Ours: see fields.ts. Default 60. */
  flush_interval_seconds: flushIntervalSeconds,
  compression_format: withDefault(compressionFormat, "none"),
  export_only_where: exportOnlyWhere,
});

export type AzureBlobOutputConfig = z.output<typeof azureBlobOutputSchema>;
