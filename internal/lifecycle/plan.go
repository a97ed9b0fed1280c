package lifecycle

// Plan partitions num_records into row groups of buffer_size; the last may be smaller. It is
// computed on demand, never materialized, so the controller's memory does not grow with N.
type Plan struct {
	NumRecords, BufferSize int
}

// Groups is the number of row groups.
func (p Plan) Groups() int { return (p.NumRecords + p.BufferSize - 1) / p.BufferSize }

// Size is the number of rows of group g.
func (p Plan) Size(g int) int { return min(p.BufferSize, p.NumRecords-g*p.BufferSize) }
