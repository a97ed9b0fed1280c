package worker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// glog, which Vitess's SQL parser (the MySQL code validator) brings, starts its flush daemon
// when the program starts: it is no goroutine of ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"))
}
