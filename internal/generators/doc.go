// Package generators produces column values: the from-scratch sampler columns of a row group
// (Seeds) and Jinja expression columns (Expression).
//
// # Samplers
//
// Seeds fills every sampler column of one row group in a single call. Each column draws from its
// own PCG stream, seeded from a stable FNV-1a hash of (run seed, column name, group), so a value
// depends only on those three and on its row index: not on the other columns of the config, on
// the order groups are generated in, or on which worker generates them. Columns that read
// another column (subcategory, timedelta) also depend on that column's values.
//
// The semantics follow Data Designer's samplers, with these choices where Data Designer leaves
// room or where its behaviour depends on pandas/numpy internals:
//
//   - uuid: a random RFC 4122 version-4 uuid written as 32 lowercase hex digits without hyphens
//     (Data Designer's uuid4().hex); short_form keeps the first 8, and short ids are unique within
//     a row group, as Data Designer re-draws duplicates within a batch.
//   - datetime: a uniform random point of the grid start + k·unit (k ≥ 0) that lies before end.
//     Y and M step calendar years and months from start (the day is clamped to the month's
//     length); D, h, m and s are fixed steps in UTC. Values are written "2006-01-02T15:04:05".
//   - timedelta: the reference column's instant plus a whole number of units in [dt_min, dt_max).
//   - poisson: Knuth's multiplication method for mean < 30, Hörmann's PTRS transformed rejection
//     (as numpy uses) above. binomial: inversion for n·min(p,1-p) < 10, Hörmann's BTRS transformed
//     rejection above. Both are exact.
//   - convert_to "int" rounds half to even before converting, as Data Designer does
//     (series.round().astype(int)); "str" writes Python's str() of the value; for datetime and
//     timedelta it is a strftime format.
//
// # Expressions
//
// Expression compiles a Jinja template once with gonja and renders it per row. Input values are
// passed as Data Designer passes them: strings that hold JSON are decoded (so a structured
// column's fields can be read as {{ col.field }}), everything else as is. gonja prints ints,
// floats and bools as Python does ("4", "3.0", "True"); the round filter is replaced by a
// Python-compatible one (round half to even on the exact binary value; ints stay ints). The
// rendered text is trimmed and cast to the column's dtype with Data Designer's rules. Templates
// cannot load other templates ({% include %}, {% extends %}, {% import %} fail to compile).
package generators
