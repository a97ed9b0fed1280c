package profile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/lifecycle"
	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/llmstub"
	"github.com/rowforge/rowforge/internal/profile"
	"github.com/rowforge/rowforge/internal/sinks"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
	"github.com/rowforge/rowforge/pkg/wire"
)

const builderConfig = `{"data_designer": {"columns": [
  {"name": "n", "column_type": "sampler", "sampler_type": "uniform"},
  {"name": "tier", "column_type": "sampler", "sampler_type": "category"},
  {"name": "answer", "column_type": "llm-text", "with_trace": "last_message"},
  {"name": "ok", "column_type": "validation"},
  {"name": "grade", "column_type": "llm-judge"},
  {"name": "vec", "column_type": "embedding"}
]}}`

// dataset writes a dataset of two groups of 50 rows through the Parquet sink, and finalizes it.
func dataset(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	sink, err := sinks.NewParquet(dir, sinks.ParquetOptions{})
	require.NoError(t, err)
	ctx := context.Background()
	var paths []string
	for g := range 2 {
		const rows = 50
		f := frame.New(rows)
		n, tier, answer, trace := frame.NewColumn("n", frame.Float, rows), frame.NewColumn("tier", frame.String, rows),
			frame.NewColumn("answer", frame.String, rows), frame.NewColumn("answer__trace", frame.String, rows)
		ok, grade, vec := frame.NewColumn("ok", frame.String, rows), frame.NewColumn("grade", frame.String, rows), frame.NewColumn("vec", frame.Vector, rows)
		for i := range rows {
			r := g*rows + i // 0..99
			n.Floats[i] = float64(r)
			tier.Strings[i] = []string{"basic", "basic", "pro", "team"}[r%4]
			answer.Strings[i] = strings.Repeat("x", 4*(r%10+1)) // 1..10 tokens
			trace.Strings[i] = "[]"
			ok.Strings[i] = fmt.Sprintf(`{"is_valid": %v}`, r%5 != 0)
			grade.Strings[i] = fmt.Sprintf(`{"accuracy": {"reasoning": "a%d", "score": %d}, "clarity": {"reasoning": "c%d", "score": %d}}`, r, r%3, r, r%2)
			vec.Vectors[i] = []float32{3, 4}
		}
		answer.SetNull(0) // one null per group
		for _, c := range []*frame.Column{n, tier, answer, trace, ok, grade, vec} {
			require.NoError(t, f.Put(c))
		}
		rec := f.ToRecord(memory.DefaultAllocator)
		c, err := sink.WriteGroup(ctx, lifecycle.Group{Index: g, Main: rec})
		rec.Release()
		require.NoError(t, err)
		paths = append(paths, c.Path)
	}
	require.NoError(t, sink.Finalize(ctx, wire.Metadata{TargetNumRecords: 120, ActualNumRecords: 100, DatasetName: "ds",
		RunID: "r", FilePaths: map[string][]string{"parquet-files": paths}, BuilderConfig: json.RawMessage(builderConfig)}))
	return dir
}

func TestProfile(t *testing.T) {
	t.Parallel()
	dir := dataset(t)
	a, err := profile.Write(t.Context(), dir, profile.Options{})
	require.NoError(t, err)
	assert.Equal(t, "ds", a.DatasetName)
	assert.Equal(t, 100, a.NumRecords)
	assert.Equal(t, 120, a.TargetNumRecords)
	assert.Equal(t, []string{"answer__trace"}, a.SideEffectColumns)
	stats := map[string]*profile.Stats{}
	for _, s := range a.Columns {
		stats[s.Column] = s
	}
	require.Len(t, stats, 7)

	n := stats["n"]
	assert.Equal(t, "sampler", n.ColumnType)
	assert.Equal(t, "uniform", n.SamplerType)
	assert.Equal(t, profile.Numerical, n.DistributionType)
	assert.Equal(t, 100, n.NumUnique)
	assert.Equal(t, &profile.Numeric{Min: 0, Max: 99, Mean: 49.5, Stddev: n.Numeric.Stddev, Median: 49.5,
		P05: 4.95, P25: 24.75, P75: 74.25, P95: 94.05}, n.Numeric, "numpy's linear quantiles")
	assert.InDelta(t, 29.011, n.Numeric.Stddev, 1e-3, "pandas' sample stddev")
	assert.Equal(t, 100, sum(n.Histogram.Counts))

	tier := stats["tier"]
	assert.Equal(t, profile.Categorical, tier.DistributionType)
	assert.Equal(t, "basic", tier.Categories.MostCommon)
	assert.Equal(t, []string{"basic", "pro", "team"}, tier.Categories.Histogram.Categories, "by frequency, then value")
	assert.Equal(t, []int{50, 25, 25}, tier.Categories.Histogram.Counts)

	answer := stats["answer"]
	assert.Equal(t, 2, answer.NumNull)
	assert.Equal(t, profile.Text, answer.DistributionType)
	require.NotNil(t, answer.OutputTokensMean)
	assert.InDelta(t, (5.5*100-2)/98, *answer.OutputTokensMean, 1e-9, "tokens estimated as chars/4, nulls left out")
	assert.Equal(t, "side_effect", stats["answer__trace"].ColumnType)

	require.NotNil(t, stats["ok"].NumValidRecords)
	assert.Equal(t, 80, *stats["ok"].NumValidRecords)

	assert.Equal(t, profile.Other, stats["vec"].DistributionType)
	assert.Equal(t, 5.0, stats["vec"].Numeric.Mean, "vector norms")

	require.Len(t, a.ColumnProfiles, 1)
	assert.Equal(t, "grade", a.ColumnProfiles[0].Column)
	assert.Equal(t, &profile.Histogram{Label: "score", Categories: []string{"0", "1", "2"}, Counts: []int{34, 33, 33}},
		a.ColumnProfiles[0].Scores["accuracy"])

	var onDisk profile.Analysis
	b, err := os.ReadFile(filepath.Join(dir, profile.AnalysisFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &onDisk))
	assert.Equal(t, a.NumRecords, onDisk.NumRecords)
	html, err := os.ReadFile(filepath.Join(dir, profile.ReportFile))
	require.NoError(t, err)
	assert.Len(t, regexp.MustCompile(`<figure class="plot"`).FindAll(html, -1), 7, "one plot per column")
	assert.NotContains(t, string(html), "<script", "nothing runs, nothing is fetched")
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func TestProfileOfAnUnfinishedDataset(t *testing.T) {
	t.Parallel()
	_, err := profile.Build(t.Context(), t.TempDir(), profile.Options{})
	assert.ErrorContains(t, err, "is not a finished dataset (no metadata.json)")
}

// Markup in values is text in the report, never markup.
func TestReportEscapes(t *testing.T) {
	t.Parallel()
	a := &profile.Analysis{DatasetName: "<b>ds</b>", NumRecords: 1, TargetNumRecords: 1, Columns: []*profile.Stats{{
		Column: `c"><script>alert(1)</script>`, NumRecords: 1, DistributionType: profile.Categorical,
		Categories: &profile.Categories{MostCommon: "<i>", LeastCommon: "<i>", Histogram: profile.Histogram{Label: "count", Categories: []string{"<script>x</script>"}, Counts: []int{1}}},
	}}}
	html, err := profile.Render(a)
	require.NoError(t, err)
	assert.NotContains(t, string(html), "<script>")
	assert.NotContains(t, string(html), "<b>ds")
}

// report.html in a real browser: it loads without a console error and shows one plot (an SVG
// with bars) per column. Skips without Debian's chromium.
func TestReportInHeadlessChromium(t *testing.T) {
	t.Parallel()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	dir := dataset(t)
	_, err = profile.Write(t.Context(), dir, profile.Options{})
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--log-level=0", "--dump-dom", "file://"+filepath.Join(dir, profile.ReportFile))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	assert.NotRegexp(t, `(?i)CONSOLE[:(]\d+|Uncaught|Failed to load resource`, stderr.String(), "the page logs no console message")
	page := string(dom)
	assert.Contains(t, page, "<h1>ds</h1>", "the browser parsed the page")
	figures := regexp.MustCompile(`(?s)<figure class="plot" data-column="([^"]+)">(.*?)</figure>`).FindAllStringSubmatch(page, -1)
	require.Len(t, figures, 7)
	for _, f := range figures {
		assert.Contains(t, f[2], "<svg", "column %s has its plot", f[1])
		assert.Contains(t, f[2], `class="bar"`, "column %s's plot has bars", f[1])
	}
}

// A judge-score profiler: the model reads each score's distribution and a sample of the
// judge's reasoning (Data Designer's prompt) and its answer is the summary; a failed request is
// written as the summary.
func TestSummarize(t *testing.T) {
	t.Parallel()
	dir := dataset(t)
	a, err := profile.Build(t.Context(), dir, profile.Options{SampleSize: 5})
	require.NoError(t, err)
	stub := llmstub.New(llmstub.Options{Reply: func(*llmstub.ChatRequest) string { return "  Mostly accurate.\n" }})
	m := llm.NewModel(&config.Model{Alias: "m", Model: "x", Provider: "stub"}, &config.Provider{Name: "stub", Endpoint: stub.Start(t)}, 2,
		llm.Options{Patience: time.Minute})
	profile.Summarize(t.Context(), a, m)
	s := a.ColumnProfiles[0].Summaries["accuracy"]
	require.NotNil(t, s)
	assert.Equal(t, "Mostly accurate.", s.Summary)
	assert.Len(t, s.Samples, 5)
	req := stub.Requests()[0]
	assert.Contains(t, req.Messages[1].Content, "for the 'accuracy' criterion")
	assert.Contains(t, req.Messages[1].Content, "Score distribution - 0: 34 records (34.0%), 1: 33 records (33.0%), 2: 33 records (33.0%), Most common value: 0.")
	require.NoError(t, profile.Save(dir, a))
	html, err := os.ReadFile(filepath.Join(dir, profile.ReportFile))
	require.NoError(t, err)
	assert.Contains(t, string(html), "Mostly accurate.")

	down := llmstub.New(llmstub.Options{Faults: llmstub.FaultFirst(100, llmstub.Fault{Status: 400})})
	m = llm.NewModel(&config.Model{Alias: "m", Model: "x", Provider: "stub"}, &config.Provider{Name: "stub", Endpoint: down.Start(t)}, 2,
		llm.Options{Patience: time.Minute})
	profile.Summarize(t.Context(), a, m)
	assert.Contains(t, a.ColumnProfiles[0].Summaries["accuracy"].Summary, "Score summarization failed: ")
}

// Non-finite floats (an expression can yield them) are counted, kept out of the moments and
// the plot, and never break the profile.
func TestNonFiniteFloats(t *testing.T) {
	t.Parallel()
	for _, distinct := range []int{3, 80} { // categorical-sized and numerical-sized columns
		dir := filepath.Join(t.TempDir(), "ds")
		sink, err := sinks.NewParquet(dir, sinks.ParquetOptions{})
		require.NoError(t, err)
		f := frame.New(100)
		x := frame.NewColumn("x", frame.Float, 100)
		for i := range 100 {
			x.Floats[i] = float64(i % distinct)
		}
		x.Floats[0], x.Floats[1], x.Floats[2] = math.NaN(), math.Inf(1), math.Inf(-1)
		require.NoError(t, f.Put(x))
		rec := f.ToRecord(memory.DefaultAllocator)
		c, err := sink.WriteGroup(t.Context(), lifecycle.Group{Index: 0, Main: rec})
		rec.Release()
		require.NoError(t, err)
		require.NoError(t, sink.Finalize(t.Context(), wire.Metadata{TargetNumRecords: 100, RunID: "r",
			FilePaths:     map[string][]string{"parquet-files": {c.Path}},
			BuilderConfig: json.RawMessage(`{"data_designer": {"columns": [{"name": "x", "column_type": "expression"}]}}`)}))
		a, err := profile.Write(t.Context(), dir, profile.Options{})
		require.NoError(t, err, "distinct %d", distinct)
		st := a.Columns[0]
		assert.Equal(t, profile.Numerical, st.DistributionType)
		assert.Equal(t, 97, sum(st.Histogram.Counts), "the finite values are plotted")
		assert.False(t, math.IsNaN(st.Numeric.Mean))
	}
}

// The same data gives the same judge samples.
func TestJudgeSamplesAreReproducible(t *testing.T) {
	t.Parallel()
	dir := dataset(t)
	first, err := profile.Build(t.Context(), dir, profile.Options{SampleSize: 3})
	require.NoError(t, err)
	for range 5 {
		again, err := profile.Build(t.Context(), dir, profile.Options{SampleSize: 3})
		require.NoError(t, err)
		for _, score := range []string{"accuracy", "clarity"} {
			assert.Equal(t, first.ColumnProfiles[0].Samples(score), again.ColumnProfiles[0].Samples(score), score)
		}
	}
}
