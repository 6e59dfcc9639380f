/**
 * `input.s3_select_where`: the S3 Select SQL subset the exporter understands, shared by the
 * local evaluator, the config check and the S3 Select stand-in used by tests.
 */

/** A WHERE clause or SELECT statement that cannot be understood; `offset` is 0-based in `text`. */
export class SelectSyntaxError extends Error {
  constructor(
    message: string,
    /** The text that was parsed (the clause, or the whole statement). */
    readonly text: string,
    /** 0-based character offset of the problem in `text`. */
    readonly offset: number,
  ) {
    super(message);
    this.name = "SelectSyntaxError";
  }
}

/** Tests one parsed JSON record; true when the record is selected. */
export type SelectPredicate = (record: unknown) => boolean;
