// Package bench measures rowforge end to end: `make bench` prints, in one run, the rows/s of
// local mode, the rows/s of the same rows generated in one process without the broker and
// written straight with pqarrow, their ratio, and the controller's peak memory at 10k and 1M
// rows in a distributed deployment (real nats-server, worker and sinkd processes).
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/deploy"
	"github.com/rowforge/rowforge/internal/generators"
	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/internal/testbin"
	"github.com/rowforge/rowforge/internal/worker"
	"github.com/rowforge/rowforge/pkg/config"
)

const (
	records    = 1_000_000
	bufferSize = 10_000
	seed       = 1
)

func quickstart(tb testing.TB) (string, *config.Config) {
	path := filepath.Join(testbin.RepoRoot(tb), "examples", "quickstart.yaml")
	cfg, err := config.Load(path)
	require.NoError(tb, err)
	return path, cfg
}

func BenchmarkPipeline(b *testing.B) {
	path, cfg := quickstart(b)
	var local, direct float64
	for range b.N {
		local = localMode(b, cfg)
		direct = directWrite(b, cfg)
	}
	small := controllerPeakRSS(b, path, 10_000)
	mid := controllerPeakRSS(b, path, 100_000)
	large := controllerPeakRSS(b, path, records)

	b.ReportMetric(local, "local-rows/s")
	b.ReportMetric(direct, "direct-rows/s")
	b.ReportMetric(local/direct, "ratio")
	b.ReportMetric(small, "ctrl-MiB@10k")
	b.ReportMetric(large, "ctrl-MiB@1M")
	fmt.Printf("\nrowforge pipeline, %d rows, buffer size %d, GOMAXPROCS %d\n", records, bufferSize, runtime.GOMAXPROCS(0))
	fmt.Printf("  local mode (broker, 2 workers, sink):  %10.0f rows/s\n", local)
	fmt.Printf("  one process, no broker, pqarrow:       %10.0f rows/s\n", direct)
	fmt.Printf("  ratio local / direct:                  %10.2f (target >= 0.6)\n", local/direct)
	fmt.Printf("  controller peak RSS, 10k rows:         %10.1f MiB\n", small)
	fmt.Printf("  controller peak RSS, 100k rows:        %10.1f MiB\n", mid)
	fmt.Printf("  controller peak RSS, 1M rows:          %10.1f MiB\n\n", large)
}

// localMode runs the dataset the way `controller run` does without a server.
func localMode(b *testing.B, cfg *config.Config) float64 {
	b.Helper()
	start := time.Now()
	sum, err := deploy.Run(context.Background(), deploy.Params{
		Config: cfg, Workers: 2, Out: b.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Run: lifecycle.Options{NumRecords: records, BufferSize: bufferSize, MaxConcurrentRowGroups: 4, Seed: seed, DatasetName: "bench"},
	})
	require.NoError(b, err)
	require.Equal(b, records, sum.Result.Rows)
	return records / time.Since(start).Seconds()
}

// directWrite generates the same rows with no broker — seeds, the worker's scheduler, the drop
// of dropped columns — on every core, and writes each group with the Parquet sink (pqarrow).
func directWrite(b *testing.B, cfg *config.Config) float64 {
	b.Helper()
	sched, err := worker.Compile(cfg, nil, nil, 16)
	require.NoError(b, err)
	sink, err := sinks.NewParquet(b.TempDir(), sinks.ParquetOptions{})
	require.NoError(b, err)
	var keep []string
	for _, c := range cfg.Columns {
		if !c.Drop {
			keep = append(keep, c.Name)
		}
	}
	plan := lifecycle.Plan{NumRecords: records, BufferSize: bufferSize}
	groups := make(chan int)
	errs := make(chan error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range groups {
				f, err := generators.Seeds(cfg.SamplerColumns(), seed, g, plan.Size(g))
				if err != nil {
					errs <- err
					return
				}
				out := sched.Run(context.Background(), f)
				if out.Status != scheduler.Completed {
					errs <- fmt.Errorf("group %d: %s: %v", g, out.Status, out.Err)
					return
				}
				rec := out.Frame.Select(keep).ToRecord(nil)
				_, err = sink.WriteGroup(context.Background(), lifecycle.Group{Index: g, Main: rec})
				rec.Release()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for g := range plan.Groups() {
		groups <- g
	}
	close(groups)
	wg.Wait()
	close(errs)
	require.NoError(b, <-errs)
	return records / time.Since(start).Seconds()
}

// controllerPeakRSS runs a distributed deployment of real processes and returns the peak
// resident memory of the controller process, in MiB, as the controller reports it on its closing
// line (a child's rusage from Wait is not reliably the child's own on Linux).
func controllerPeakRSS(b *testing.B, config string, n int) float64 {
	b.Helper()
	srv := testbin.StartNATSServer(b)
	out := b.TempDir()
	for _, args := range [][]string{
		{"--nats-url", srv.URL, "--log-level", "warn"},
		{"--nats-url", srv.URL, "--log-level", "warn"},
	} {
		testbin.StartProcess(b, testbin.Binary(b, "worker"), args, nil)
	}
	testbin.StartProcess(b, testbin.Binary(b, "sinkd"), []string{"--nats-url", srv.URL, "--out", out, "--log-level", "warn"}, nil)
	ctrl := testbin.StartProcess(b, testbin.Binary(b, "controller"), []string{"run", "-f", config,
		"-n", strconv.Itoa(n), "--buffer-size", strconv.Itoa(bufferSize), "--seed", "1", "--nats-url", srv.URL}, nil)
	require.NoError(b, ctrl.Wait(), ctrl.Output.String())
	m := peakRe.FindStringSubmatch(ctrl.Output.String())
	require.NotNil(b, m, ctrl.Output.String())
	mib, err := strconv.ParseFloat(m[1], 64)
	require.NoError(b, err)
	return mib
}

var peakRe = regexp.MustCompile(`peak memory (\d+) MiB`)
