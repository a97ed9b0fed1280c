// Package processors transforms whole row groups: the `processors:` of a config. The controller
// runs them in config order at two stages: PreBatch, once a group's sampler (seed) columns
// exist and before the group is published to the workers, and PostBatch, on the completed
// group before it goes to the sink. Each processor is a pure unit: a frame in, a frame (and
// side datasets) out; it owns no goroutine, no subscription and nothing between calls.
//
// # Kinds
//
//   - drop_columns removes the columns its column_names select (names or path.Match globs,
//     matched against the group's columns at run time). With preserve_dropped_columns (the
//     default) the dropped columns go to the side dataset "dropped-columns-parquet-files".
//   - schema_transform renders its template once per row (see the next section) into the side
//     dataset "processors-files/<name>"; the main frame passes through unchanged.
//   - exec runs a user's program (no shell) with the group on stdin and reads the processed
//     group from stdout, both as JSON lines (see below). The program also gets the variables
//     ROWFORGE_PROCESSOR, ROWFORGE_STAGE and ROWFORGE_GROUP. A non-zero exit (*ExitError, with
//     the end of stderr), a timeout (ErrTimeout) or output that does not decode is an error;
//     on timeout or cancellation the program's whole process group is killed and waited for.
//   - nats sends the group as a NATS request (JSON lines, with the headers Rowforge-Processor,
//     Rowforge-Stage and Rowforge-Group) and takes the reply, in the same form, as the
//     processed group. A reply with a Rowforge-Error header is an error carrying its value
//     (*ServiceError); no responders and a timeout (ErrTimeout) are errors too.
//
// Every failure is an *Error naming the processor, the stage and the group. Run adds what a
// caller needs around Process: a panic becomes an *Error too.
//
// Processors do not check the row count: the controller compares it before and after, and
// only a pre_batch processor with allow_resize may change it.
//
// # schema_transform
//
// Every string leaf of the template is a Jinja template, rendered with gonja against the row's
// values the way expression columns are (a string cell that holds JSON is decoded, so
// {{ col.field }} works; numbers print as Python does; round is Python's; a null prints as
// nothing). The rendered text is not trimmed and stays a string. Non-string leaves are kept as they are. The side dataset has
// one str column per top-level key of the template, in sorted key order (the config's key
// order is not kept by the YAML decoding): a key whose value is a string holds the rendered
// text itself, a null holds a null, and any other value its JSON text (object keys sorted,
// floats written as Python writes them).
//
// # JSON lines
//
// EncodeJSONLines writes one JSON object per row, keys in column order: strings, ints, floats
// (as Python's json writes them: 2.0, not 2), bools and null. A float that is NaN or infinite
// has no JSON form and is an error. DecodeJSONLines reads the same form back: blank lines are
// skipped, every row must hold the same keys, and an empty output gives zero rows with the
// input's columns. Columns that the input has keep its type; a value that does not convert is
// an error naming the row, the line and the column (an int column takes integral numbers
// such as 3.0, a float column any number, a str column strings, and objects or lists as their
// JSON text). New columns get the type of their values: all ints int, numbers float, bools
// bool, strings (and objects or lists, as JSON text) str, all null str; a mix is an error.
// The output's columns are the input's that it kept, in input order, then the new ones in the
// order of the first row's keys.
package processors
