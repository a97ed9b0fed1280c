//go:build !unix

package testbin

// lockFile does nothing where flock is missing: parallel processes may then build the same
// binary twice, which is wasteful but safe, as each build is renamed into place whole.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
