/** `outputs: - file:` settings. Keys exactly as in the guide's template. */
import { z } from "zod";
import { exportOnlyWhere, integer, maxSizeBytes, optional, text } from "../../config/fields.js";

export const fileOutputSchema = z.strictObject({
  /** Where files are written; created when missing. In the guide's Docker setup, `/output`. */
  directory: text("expected a directory path"),
  /** A file is closed and a new one opened once it holds this many bytes. */
  max_size_bytes: maxSizeBytes,
  /**
   * How many finished files to keep: when a new one opens, the oldest beyond this count are
   * deleted. Absent means never delete (the directory grows until something else prunes it).
   */
  max_files: optional(integer({ min: 1 })),
  export_only_where: exportOnlyWhere,
});

export type FileOutputConfig = z.output<typeof fileOutputSchema>;
