// Package profile analyses a finished dataset folder: per-column statistics in the shape of
// Data Designer's dataset profiler (counts, nulls, distinct values, numeric quantiles, category
// frequencies, token means of LLM columns, validity rates, judge score distributions), written
// as analysis.json and as report.html, a self-contained page with one plot per column.
//
// It reads what the build wrote — parquet-files/*.parquet, builder_config.json for the column
// types, metadata.json for the targets — so it runs wherever the files are (the sink after
// each build, or `controller report DIR` on any finished dataset). It holds one batch of rows at
// a time, plus, per column, a float per row (for the quantiles; two for text) and a hash per
// distinct value.
package profile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/rowforge/rowforge/pkg/frame"
)

// Files a profile writes into the dataset folder.
const (
	AnalysisFile = "analysis.json"
	ReportFile   = "report.html"
)

// Distribution types, Data Designer's.
const (
	Categorical = "categorical"
	Numerical   = "numerical"
	Text        = "text"
	Other       = "other"
)

// Limits of what a profile keeps.
const (
	// maxCategories is the most distinct values a column may have to be profiled as
	// categorical; more, and a string column is text.
	maxCategories = 50
	// maxCounted bounds the values whose counts are kept per column (past it, a column is not
	// categorical and the counts are dropped).
	maxCounted    = 1000
	histogramBins = 20
)

// Analysis is analysis.json: Data Designer's DatasetProfilerResults, with rowforge's plots.
type Analysis struct {
	DatasetName      string   `json:"dataset_name"`
	NumRecords       int      `json:"num_records"`
	TargetNumRecords int      `json:"target_num_records"`
	Columns          []*Stats `json:"column_statistics"`
	// SideEffectColumns are columns an LLM column writes beside itself (traces, reasoning).
	SideEffectColumns []string        `json:"side_effect_column_names,omitempty"`
	ColumnProfiles    []*JudgeProfile `json:"column_profiles,omitempty"`
}

// Stats are one column's statistics.
type Stats struct {
	Column      string `json:"column_name"`
	ColumnType  string `json:"column_type"`
	SamplerType string `json:"sampler_type,omitempty"`
	NumRecords  int    `json:"num_records"`
	NumNull     int    `json:"num_null"`
	NumUnique   int    `json:"num_unique"`
	ArrowDType  string `json:"arrow_dtype"`
	SimpleDType string `json:"simple_dtype"`

	DistributionType string      `json:"distribution_type"`
	Numeric          *Numeric    `json:"numerical_distribution,omitempty"`
	Categories       *Categories `json:"categorical_distribution,omitempty"`
	TextLength       *Numeric    `json:"text_length,omitempty"` // characters
	// Output tokens of LLM columns, estimated as characters / 4 (rowforge has no tokenizer of
	// each model; metadata.json's model_usage has the endpoints' own counts).
	OutputTokensMean   *float64 `json:"output_tokens_mean,omitempty"`
	OutputTokensMedian *float64 `json:"output_tokens_median,omitempty"`
	OutputTokensStddev *float64 `json:"output_tokens_stddev,omitempty"`
	// NumValidRecords counts a validation column's valid rows.
	NumValidRecords *int `json:"num_valid_records,omitempty"`
	// Histogram bins the values of a column that is not categorical (numbers, text lengths,
	// vector norms).
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Plot is what the report plots of the column: its categories, or its histogram.
func (s *Stats) Plot() *Histogram {
	if s.Categories != nil {
		return &s.Categories.Histogram
	}
	return s.Histogram
}

// Numeric is a numeric distribution.
type Numeric struct {
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"`
	Median float64 `json:"median"`
	P05    float64 `json:"p05"`
	P25    float64 `json:"p25"`
	P75    float64 `json:"p75"`
	P95    float64 `json:"p95"`
}

// Categories is a categorical distribution, Data Designer's CategoricalDistribution.
type Categories struct {
	MostCommon  any       `json:"most_common_value"`
	LeastCommon any       `json:"least_common_value"`
	Histogram   Histogram `json:"histogram"`
}

// Histogram is a plot's data: labels (categories or bin ranges) and their counts.
type Histogram struct {
	Label      string   `json:"label"` // what is counted
	Categories []string `json:"categories"`
	Counts     []int    `json:"counts"`
}

// JudgeProfile is an llm-judge column's score distributions and, when a judge-score profiler
// ran (Summarize), a model's summary of each score (Data Designer's judge-score profiler).
type JudgeProfile struct {
	Column    string                   `json:"column_name"`
	Scores    map[string]*Histogram    `json:"score_distributions"`
	Summaries map[string]*JudgeSummary `json:"summaries,omitempty"`
	samples   map[string][]JudgeSample // for Summarize
}

// Samples are the (score, reasoning) pairs kept of a score for Summarize.
func (p *JudgeProfile) Samples(score string) []JudgeSample { return p.samples[score] }

// JudgeSummary is a model's summary of one score, with the samples it read.
type JudgeSummary struct {
	Score   string        `json:"score_name"`
	Summary string        `json:"summary"`
	Samples []JudgeSample `json:"score_samples"`
}

// JudgeSample is one row's score and the judge's reasoning.
type JudgeSample struct {
	Score     any    `json:"score"`
	Reasoning string `json:"reasoning"`
}

// Options tune Build.
type Options struct {
	// SampleSize is how many (score, reasoning) pairs of each judge score are kept for
	// Summarize (a judge-score profiler's summary_score_sample_size); 0 keeps none.
	SampleSize int
}

// column is what the builder config says of a column.
type column struct {
	Name        string `json:"name"`
	ColumnType  string `json:"column_type"`
	SamplerType string `json:"sampler_type"`
	WithTrace   string `json:"with_trace"`
	Reasoning   bool   `json:"extract_reasoning_content"`
}

// Build profiles the finished dataset in dir.
func Build(ctx context.Context, dir string, opts Options) (*Analysis, error) {
	meta, err := readMetadata(dir)
	if err != nil {
		return nil, err
	}
	cols, err := readColumns(dir)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "parquet-files", "*.parquet"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	a := &Analysis{DatasetName: meta.DatasetName, TargetNumRecords: meta.TargetNumRecords}
	acc := map[string]*accumulator{}
	var order []string
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := eachFrame(ctx, f, func(fr *frame.Frame) error {
			a.NumRecords += fr.Len()
			for _, c := range fr.Columns() {
				ac := acc[c.Name]
				if ac == nil {
					ac = newAccumulator(c.Type, opts.SampleSize)
					acc[c.Name] = ac
					order = append(order, c.Name)
				}
				ac.add(c)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("profile: %s: %w", f, err)
		}
	}
	byName := map[string]column{}
	sides := map[string]bool{}
	for _, c := range cols {
		byName[c.Name] = c
		if c.WithTrace != "" && c.WithTrace != "none" {
			sides[c.Name+"__trace"] = true
		}
		if c.Reasoning {
			sides[c.Name+"__reasoning_content"] = true
		}
	}
	for _, name := range order {
		c, known := byName[name]
		if sides[name] {
			a.SideEffectColumns = append(a.SideEffectColumns, name)
		}
		st := acc[name].stats(name, c, sides[name])
		if !known {
			st.ColumnType = "side_effect"
			if !sides[name] {
				st.ColumnType = "unknown"
			}
		}
		a.Columns = append(a.Columns, st)
		if c.ColumnType == "llm-judge" {
			a.ColumnProfiles = append(a.ColumnProfiles, acc[name].judge(name))
		}
	}
	return a, nil
}

// eachFrame calls fn with each record batch of a Parquet file, as a frame.
func eachFrame(ctx context.Context, path string, fn func(*frame.Frame) error) error {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
		f, err := frame.FromRecord(rr.RecordBatch())
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

type metadata struct {
	DatasetName      string `json:"dataset_name"`
	TargetNumRecords int    `json:"target_num_records"`
}

// readMetadata reads metadata.json: a dataset without it is not finished.
func readMetadata(dir string) (metadata, error) {
	var m metadata
	b, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("profile: %s is not a finished dataset (no metadata.json)", dir)
	}
	if err != nil {
		return m, fmt.Errorf("profile: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("profile: %s: %w", filepath.Join(dir, "metadata.json"), err)
	}
	return m, nil
}

// readColumns reads the columns of builder_config.json (either of Data Designer's shapes); a
// dataset without it is profiled from its data alone.
func readColumns(dir string) ([]column, error) {
	b, err := os.ReadFile(filepath.Join(dir, "builder_config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	var doc struct {
		Columns      []column `json:"columns"`
		DataDesigner *struct {
			Columns []column `json:"columns"`
		} `json:"data_designer"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("profile: %s: %w", filepath.Join(dir, "builder_config.json"), err)
	}
	if doc.DataDesigner != nil {
		return doc.DataDesigner.Columns, nil
	}
	return doc.Columns, nil
}

// accumulator gathers one column's values over every batch.
type accumulator struct {
	typ    frame.Type
	rows   int
	nulls  int
	seed   maphash.Seed
	unique map[uint64]struct{}
	counts map[string]int // nil once there are more than maxCounted distinct values
	values []float64      // numbers, text lengths or vector norms, for quantiles
	tokens []float64      // text: estimated tokens
	valid  int            // validation: rows with is_valid true
	judged map[string]map[string]int
	// Reservoir samples of each judge score's (score, reasoning), the same for the same data.
	sampleSize int
	seen       map[string]int
	samples    map[string][]JudgeSample
	rngs       map[string]*rand.Rand // one per score, seeded by its name: the same sample for the same data
	dims       int
}

func newAccumulator(t frame.Type, sampleSize int) *accumulator {
	return &accumulator{typ: t, seed: maphash.MakeSeed(), unique: map[uint64]struct{}{}, counts: map[string]int{},
		judged: map[string]map[string]int{}, sampleSize: sampleSize, seen: map[string]int{}, samples: map[string][]JudgeSample{},
		rngs: map[string]*rand.Rand{}}
}

func (a *accumulator) add(c *frame.Column) {
	for i := range c.Len() {
		a.rows++
		if c.IsNull(i) {
			a.nulls++
			continue
		}
		var key string
		switch c.Type {
		case frame.String:
			key = c.Strings[i]
			n := utf8.RuneCountInString(key)
			a.values = append(a.values, float64(n))
			a.tokens = append(a.tokens, math.Ceil(float64(n)/4))
			a.parseJSON(key)
		case frame.Int:
			key = fmt.Sprint(c.Ints[i])
			a.values = append(a.values, float64(c.Ints[i]))
		case frame.Float:
			key = fmt.Sprint(c.Floats[i])
			if x := c.Floats[i]; !math.IsNaN(x) && !math.IsInf(x, 0) { // counted as values, not in the moments
				a.values = append(a.values, x)
			} else {
				a.counts = nil // a NaN is no category (and JSON has none)
			}
		case frame.Bool:
			key = fmt.Sprint(c.Bools[i])
		case frame.Vector:
			v := c.Vectors[i]
			a.dims = max(a.dims, len(v))
			var sq float64
			for _, x := range v {
				sq += float64(x) * float64(x)
			}
			a.values = append(a.values, math.Sqrt(sq))
			key = fmt.Sprint(v)
		}
		a.unique[maphash.String(a.seed, key)] = struct{}{}
		if a.counts != nil {
			a.counts[key]++
			if len(a.counts) > maxCounted {
				a.counts = nil
			}
		}
	}
}

// parseJSON reads what validation and judge columns hold: {"is_valid": ...} and
// {score: {"reasoning", "score"}}.
func (a *accumulator) parseJSON(s string) {
	if !strings.HasPrefix(s, "{") {
		return
	}
	var doc map[string]any
	if json.Unmarshal([]byte(s), &doc) != nil {
		return
	}
	if v, ok := doc["is_valid"].(bool); ok && v {
		a.valid++
	}
	for name, e := range doc {
		if m, ok := e.(map[string]any); ok {
			if sc, ok := m["score"]; ok {
				if a.judged[name] == nil {
					a.judged[name] = map[string]int{}
				}
				a.judged[name][fmt.Sprint(sc)]++
				a.sample(name, sc, m["reasoning"])
			}
		}
	}
}

// sample keeps a uniform sample of a score's rows (reservoir sampling).
func (a *accumulator) sample(score string, value, reasoning any) {
	if a.sampleSize <= 0 {
		return
	}
	r, _ := reasoning.(string)
	s := JudgeSample{Score: value, Reasoning: r}
	a.seen[score]++
	if len(a.samples[score]) < a.sampleSize {
		a.samples[score] = append(a.samples[score], s)
		return
	}
	rng := a.rngs[score]
	if rng == nil {
		h := fnv.New64a()
		h.Write([]byte(score))
		rng = rand.New(rand.NewPCG(h.Sum64(), 1))
		a.rngs[score] = rng
	}
	if j := rng.IntN(a.seen[score]); j < a.sampleSize {
		a.samples[score][j] = s
	}
}

func (a *accumulator) stats(name string, c column, side bool) *Stats {
	st := &Stats{Column: name, ColumnType: c.ColumnType, SamplerType: c.SamplerType, NumRecords: a.rows, NumNull: a.nulls,
		NumUnique: len(a.unique), SimpleDType: a.typ.String(), ArrowDType: arrowName(a.typ)}
	// Model-written columns are text however few their values, as in Data Designer.
	written := strings.HasPrefix(c.ColumnType, "llm-") || c.ColumnType == "validation" || side
	categorical := a.counts != nil && !written && (a.typ == frame.Bool ||
		(len(a.unique) <= maxCategories && (a.typ != frame.String || c.SamplerType != "" || len(a.unique) <= max(a.rows/2, 1))) ||
		c.SamplerType == "category" || c.SamplerType == "subcategory")
	switch {
	case a.typ == frame.Vector:
		st.DistributionType = Other
		if len(a.values) > 0 {
			st.Numeric = numeric(a.values)
			st.Histogram = bins(a.values, fmt.Sprintf("vector norm (%d dimensions)", a.dims))
		}
	case categorical && a.rows > a.nulls:
		st.DistributionType = Categorical
		st.Categories = categories(a.counts, a.typ)
		if a.typ != frame.String && a.typ != frame.Bool {
			st.Numeric = numeric(a.values)
		}
	case (a.typ == frame.Int || a.typ == frame.Float) && len(a.values) > 0:
		st.DistributionType = Numerical
		st.Numeric = numeric(a.values)
		st.Histogram = bins(a.values, "value")
	case a.typ == frame.String && len(a.values) > 0:
		st.DistributionType = Text
		st.TextLength = numeric(a.values)
		st.Histogram = bins(a.values, "length (characters)")
	default:
		st.DistributionType = Other
		st.Histogram = &Histogram{Label: "rows", Categories: []string{"null", "present"}, Counts: []int{a.nulls, a.rows - a.nulls}}
	}
	if strings.HasPrefix(c.ColumnType, "llm-") && len(a.tokens) > 0 {
		n := numeric(a.tokens)
		st.OutputTokensMean, st.OutputTokensMedian, st.OutputTokensStddev = &n.Mean, &n.Median, &n.Stddev
	}
	if c.ColumnType == "validation" {
		st.NumValidRecords = &a.valid
	}
	return st
}

func (a *accumulator) judge(name string) *JudgeProfile {
	p := &JudgeProfile{Column: name, Scores: map[string]*Histogram{}, samples: a.samples}
	for score, counts := range a.judged {
		h := &Histogram{Label: "score"}
		keys := slices.Collect(maps.Keys(counts))
		slices.SortFunc(keys, func(x, y string) int { // scores in order: numbers as numbers
			fx, ex := strconv.ParseFloat(x, 64)
			fy, ey := strconv.ParseFloat(y, 64)
			if ex == nil && ey == nil {
				return cmp.Compare(fx, fy)
			}
			return cmp.Compare(x, y)
		})
		for _, k := range keys {
			h.Categories = append(h.Categories, k)
			h.Counts = append(h.Counts, counts[k])
		}
		p.Scores[score] = h
	}
	return p
}

func arrowName(t frame.Type) string {
	switch t {
	case frame.String:
		return "string"
	case frame.Int:
		return "int64"
	case frame.Float:
		return "double"
	case frame.Bool:
		return "bool"
	case frame.Vector:
		return "list<item: float>"
	}
	return t.String()
}

// numeric summarizes values (sorted in place).
func numeric(vs []float64) *Numeric {
	slices.Sort(vs)
	var sum float64
	for _, v := range vs {
		sum += v
	}
	mean := sum / float64(len(vs))
	var ss float64
	for _, v := range vs {
		ss += (v - mean) * (v - mean)
	}
	sd := 0.0
	if len(vs) > 1 {
		sd = math.Sqrt(ss / float64(len(vs)-1)) // pandas' std (ddof 1), as Data Designer
	}
	return &Numeric{Min: vs[0], Max: vs[len(vs)-1], Mean: mean, Stddev: sd, Median: quantile(vs, 0.5),
		P05: quantile(vs, 0.05), P25: quantile(vs, 0.25), P75: quantile(vs, 0.75), P95: quantile(vs, 0.95)}
}

// quantile is the linear interpolation of sorted values (numpy's default).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// categories orders counts by frequency (then value) and keeps the first maxCategories.
func categories(counts map[string]int, t frame.Type) *Categories {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	c := &Categories{MostCommon: typed(keys[0], t), LeastCommon: typed(keys[len(keys)-1], t), Histogram: Histogram{Label: "count"}}
	for _, k := range keys[:min(len(keys), maxCategories)] {
		c.Histogram.Categories = append(c.Histogram.Categories, k)
		c.Histogram.Counts = append(c.Histogram.Counts, counts[k])
	}
	return c
}

// typed turns a category back into its column's type for JSON.
func typed(k string, t frame.Type) any {
	var v any
	if t != frame.String && json.Unmarshal([]byte(k), &v) == nil {
		return v
	}
	return k
}

// bins counts sorted values into histogramBins equal-width bins.
func bins(sorted []float64, label string) *Histogram {
	lo, hi := sorted[0], sorted[len(sorted)-1]
	h := &Histogram{Label: label}
	if lo == hi {
		h.Categories, h.Counts = []string{fmtNum(lo)}, []int{len(sorted)}
		return h
	}
	width := (hi - lo) / histogramBins
	h.Counts = make([]int, histogramBins)
	for _, v := range sorted {
		h.Counts[min(max(int((v-lo)/width), 0), histogramBins-1)]++
	}
	for i := range histogramBins {
		h.Categories = append(h.Categories, fmtNum(lo+float64(i)*width)+"–"+fmtNum(lo+float64(i+1)*width))
	}
	return h
}

func fmtNum(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.3g", x)
}
