package scheduler

// progress tells c.Progress what a result added to column's stats, if anything.
func (c Cells) progress(column string, before, after ColumnStats) {
	if c.Progress == nil {
		return
	}
	added := ColumnStats{Generated: after.Generated - before.Generated, Failed: after.Failed - before.Failed,
		Skipped: after.Skipped - before.Skipped}
	if added != (ColumnStats{}) {
		c.Progress(column, added)
	}
}
