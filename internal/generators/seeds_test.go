package generators

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

func sampler(name, samplerType string, out frame.Type, params config.SamplerParams) *config.Column {
	return &config.Column{Name: name, Type: config.TypeSampler, SamplerType: samplerType, Output: out, Params: params}
}

func intp(i int) *int { return &i }

func date(y int, m time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, m, d, h, mi, s, 0, time.UTC)
}

// allSamplers is one column of each sampler type, in dependency order.
func allSamplers() []*config.Column {
	return []*config.Column{
		sampler("id", config.SamplerUUID, frame.String, &config.UUIDParams{Prefix: "id_"}),
		sampler("topic", config.SamplerCategory, frame.String, &config.CategoryParams{
			Values: []any{"math", "art", "code"}, Weights: []float64{0.5, 0.25, 0.25}}),
		sampler("subtopic", config.SamplerSubcategory, frame.String, &config.SubcategoryParams{
			Category: "topic",
			Values: map[string][]any{
				"math": {"algebra", "geometry"}, "art": {"painting"}, "code": {"go", "python", "rust"}},
		}),
		sampler("age", config.SamplerUniform, frame.Float, &config.UniformParams{Low: 18, High: 80, DecimalPlaces: intp(1)}),
		sampler("score", config.SamplerGaussian, frame.Float, &config.GaussianParams{Mean: 50, Stddev: 10}),
		sampler("flag", config.SamplerBernoulli, frame.Int, &config.BernoulliParams{P: 0.3}),
		sampler("hits", config.SamplerBinomial, frame.Int, &config.BinomialParams{N: 50, P: 0.4}),
		sampler("visits", config.SamplerPoisson, frame.Int, &config.PoissonParams{Mean: 4}),
		sampler("signup", config.SamplerDatetime, frame.String, &config.DatetimeParams{
			Start: date(2020, 1, 1, 0, 0, 0), End: date(2024, 1, 1, 0, 0, 0), Unit: "h"}),
		sampler("first_order", config.SamplerTimedelta, frame.String, &config.TimedeltaParams{
			DtMin: 1, DtMax: 30, ReferenceColumnName: "signup", Unit: "D"}),
	}
}

func seeds(t *testing.T, cols []*config.Column, seed uint64, group, size int) *frame.Frame {
	t.Helper()
	f, err := Seeds(cols, seed, group, size)
	require.NoError(t, err)
	require.Equal(t, size, f.Len())
	return f
}

func one(t *testing.T, col *config.Column, size int) *frame.Column {
	t.Helper()
	return seeds(t, []*config.Column{col}, 42, 0, size).Column(col.Name)
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func variance(xs []float64) float64 {
	m := mean(xs)
	s := 0.0
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return s / float64(len(xs)-1)
}

func ints2floats(xs []int64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

func TestSeedsDeterministic(t *testing.T) {
	t.Parallel()
	cols := allSamplers()
	a := seeds(t, cols, 7, 3, 500)
	b := seeds(t, allSamplers(), 7, 3, 500)
	require.Equal(t, a, b)

	names := make([]string, 0, len(cols))
	for _, c := range a.Columns() {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"id", "topic", "subtopic", "age", "score", "flag", "hits", "visits", "signup", "first_order"}, names)
	for i, c := range a.Columns() {
		require.Equal(t, cols[i].Output, c.Type, c.Name)
		require.Nil(t, c.Valid, c.Name)
	}
}

func TestSeedsGroupAndSeedChangeValues(t *testing.T) {
	t.Parallel()
	base := seeds(t, allSamplers(), 7, 3, 200)
	otherGroup := seeds(t, allSamplers(), 7, 4, 200)
	otherSeed := seeds(t, allSamplers(), 8, 3, 200)
	for _, name := range []string{"id", "age", "score", "signup", "first_order"} {
		require.NotEqual(t, base.Column(name), otherGroup.Column(name), name)
		require.NotEqual(t, base.Column(name), otherSeed.Column(name), name)
	}
}

func TestSeedsIndependentOfOtherColumns(t *testing.T) {
	t.Parallel()
	all := seeds(t, allSamplers(), 11, 2, 300)
	for _, col := range allSamplers() {
		if col.SamplerType == config.SamplerSubcategory || col.SamplerType == config.SamplerTimedelta {
			continue // they read their parent; checked below with it
		}
		alone := seeds(t, []*config.Column{col}, 11, 2, 300)
		require.Equal(t, all.Column(col.Name), alone.Column(col.Name), col.Name)
	}
	cols := allSamplers()
	pair := seeds(t, []*config.Column{cols[1], cols[2]}, 11, 2, 300) // topic, subtopic
	require.Equal(t, all.Column("subtopic"), pair.Column("subtopic"))
	pair = seeds(t, []*config.Column{cols[8], cols[9]}, 11, 2, 300) // signup, first_order
	require.Equal(t, all.Column("first_order"), pair.Column("first_order"))
}

func TestSeedsPrefixStable(t *testing.T) {
	t.Parallel()
	// A shorter group (the last one of a run) is a prefix of a longer one.
	long := seeds(t, allSamplers(), 5, 1, 400)
	short := seeds(t, allSamplers(), 5, 1, 100)
	keep := make([]bool, 400)
	for i := range 100 {
		keep[i] = true
	}
	require.Equal(t, short, long.Filter(keep))
}

func TestSeedsZeroRows(t *testing.T) {
	t.Parallel()
	f := seeds(t, allSamplers(), 1, 0, 0)
	require.Len(t, f.Columns(), 10)
	for _, c := range f.Columns() {
		require.Equal(t, 0, c.Len())
	}
	_, err := Seeds(allSamplers(), 1, 0, -1)
	require.Error(t, err)
}

var uuidHex = regexp.MustCompile(`^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`)

func TestUUID(t *testing.T) {
	t.Parallel()
	const n = 100_000
	c := one(t, sampler("id", config.SamplerUUID, frame.String, &config.UUIDParams{}), n)
	seen := make(map[string]struct{}, n)
	for _, s := range c.Strings {
		if !uuidHex.MatchString(s) {
			t.Fatalf("%q is not a v4 uuid in hex", s)
		}
		seen[s] = struct{}{}
	}
	require.Len(t, seen, n)

	c = one(t, sampler("id", config.SamplerUUID, frame.String, &config.UUIDParams{Prefix: "code_", ShortForm: true, Uppercase: true}), n)
	seen = make(map[string]struct{}, n)
	short := regexp.MustCompile(`^code_[0-9A-F]{8}$`)
	for _, s := range c.Strings {
		if !short.MatchString(s) {
			t.Fatalf("%q is not a short uppercase id", s)
		}
		seen[s] = struct{}{}
	}
	require.Len(t, seen, n, "short ids are unique within a group")
}

func TestCategoryWeights(t *testing.T) {
	t.Parallel()
	const n = 10_000
	c := one(t, sampler("c", config.SamplerCategory, frame.String, &config.CategoryParams{
		Values: []any{"a", "b", "c", "d"}, Weights: []float64{0.1, 0.2, 0.0, 0.7}}), n)
	counts := map[string]int{}
	for _, s := range c.Strings {
		counts[s]++
	}
	require.Zero(t, counts["c"])
	for v, w := range map[string]float64{"a": 0.1, "b": 0.2, "d": 0.7} {
		require.InDelta(t, w, float64(counts[v])/n, 0.03, v)
	}

	c = one(t, sampler("c", config.SamplerCategory, frame.Int, &config.CategoryParams{Values: []any{int64(1), int64(2), int64(3)}}), n)
	ic := map[int64]int{}
	for _, v := range c.Ints {
		ic[v]++
	}
	require.Len(t, ic, 3)
	for v, k := range ic {
		require.InDelta(t, 1.0/3, float64(k)/n, 0.03, v)
	}
}

func TestCategoryValueTypes(t *testing.T) {
	t.Parallel()
	c := one(t, sampler("c", config.SamplerCategory, frame.Float, &config.CategoryParams{Values: []any{int64(1), 2.5}}), 200)
	for _, v := range c.Floats {
		require.Contains(t, []float64{1, 2.5}, v)
	}
	c = one(t, sampler("c", config.SamplerCategory, frame.String, &config.CategoryParams{Values: []any{"x", int64(1), 2.0}}), 200)
	got := map[string]bool{}
	for _, v := range c.Strings {
		got[v] = true
	}
	require.Equal(t, map[string]bool{"x": true, "1": true, "2.0": true}, got)

	_, err := Seeds([]*config.Column{sampler("bad", config.SamplerCategory, frame.Int, &config.CategoryParams{Values: []any{"x"}})}, 1, 0, 5)
	require.ErrorContains(t, err, `column "bad"`)
}

func TestSubcategory(t *testing.T) {
	t.Parallel()
	parent := sampler("n", config.SamplerCategory, frame.Int, &config.CategoryParams{Values: []any{int64(1), int64(2)}})
	child := sampler("sub", config.SamplerSubcategory, frame.String, &config.SubcategoryParams{
		Category: "n", Values: map[string][]any{"1": {"one", "uno"}, "2": {"two"}}})
	f := seeds(t, []*config.Column{parent, child}, 3, 0, 2000)
	seen := map[string]bool{}
	for i, v := range f.Column("sub").Strings {
		seen[v] = true
		if f.Column("n").Ints[i] == 1 {
			require.Contains(t, []string{"one", "uno"}, v)
		} else {
			require.Equal(t, "two", v)
		}
	}
	require.Len(t, seen, 3)

	// A parent value without choices fails, naming the column.
	child.Params = &config.SubcategoryParams{Category: "n", Values: map[string][]any{"1": {"one"}}}
	_, err := Seeds([]*config.Column{parent, child}, 3, 0, 100)
	require.ErrorContains(t, err, `column "sub"`)
	require.ErrorContains(t, err, `"2"`)

	// The parent must come first.
	_, err = Seeds([]*config.Column{child}, 3, 0, 10)
	require.ErrorContains(t, err, `column "sub"`)
}

func TestUniform(t *testing.T) {
	t.Parallel()
	c := one(t, sampler("u", config.SamplerUniform, frame.Float, &config.UniformParams{Low: 10, High: 30}), 10_000)
	for _, v := range c.Floats {
		require.True(t, v >= 10 && v < 30, v)
	}
	require.InEpsilon(t, 20, mean(c.Floats), 0.02)
	require.InEpsilon(t, 400.0/12, variance(c.Floats), 0.1)
}

func TestGaussian(t *testing.T) {
	t.Parallel()
	c := one(t, sampler("g", config.SamplerGaussian, frame.Float, &config.GaussianParams{Mean: 100, Stddev: 15}), 10_000)
	require.InDelta(t, 100, mean(c.Floats), 1)
	require.InEpsilon(t, 15, math.Sqrt(variance(c.Floats)), 0.05)
}

func TestDecimalPlaces(t *testing.T) {
	t.Parallel()
	for _, places := range []int{0, 1, 2, 3} {
		for _, col := range []*config.Column{
			sampler("u", config.SamplerUniform, frame.Float, &config.UniformParams{Low: -5, High: 5, DecimalPlaces: intp(places)}),
			sampler("g", config.SamplerGaussian, frame.Float, &config.GaussianParams{Mean: 0, Stddev: 100, DecimalPlaces: intp(places)}),
		} {
			c := one(t, col, 2000)
			for _, v := range c.Floats {
				s := pyfmt.Float(v)
				frac := s[strings.IndexByte(s, '.')+1:]
				require.LessOrEqual(t, len(frac), max(places, 1), s)
				if places == 0 {
					require.Equal(t, "0", frac, s)
				}
			}
		}
	}
}

func TestBernoulli(t *testing.T) {
	t.Parallel()
	c := one(t, sampler("b", config.SamplerBernoulli, frame.Int, &config.BernoulliParams{P: 0.3}), 10_000)
	for _, v := range c.Ints {
		require.Contains(t, []int64{0, 1}, v)
	}
	require.InDelta(t, 0.3, mean(ints2floats(c.Ints)), 0.02)

	for _, p := range []float64{0, 1} {
		c := one(t, sampler("b", config.SamplerBernoulli, frame.Int, &config.BernoulliParams{P: p}), 100)
		for _, v := range c.Ints {
			require.Equal(t, int64(p), v)
		}
	}
}

func TestBinomial(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n int
		p float64
	}{
		{20, 0.3},       // inversion
		{5, 0.9},        // inversion on 1-p
		{100_000, 1e-5}, // inversion, tiny p
		{1000, 0.4},     // BTRS
		{200, 0.85},     // BTRS on 1-p
		{1_000_000, 0.5},
	} {
		c := one(t, sampler("b", config.SamplerBinomial, frame.Int, &config.BinomialParams{N: tc.n, P: tc.p}), 10_000)
		for _, v := range c.Ints {
			require.True(t, v >= 0 && v <= int64(tc.n), v)
		}
		xs := ints2floats(c.Ints)
		m, v := float64(tc.n)*tc.p, float64(tc.n)*tc.p*(1-tc.p)
		// 5 standard errors of the mean; variance within 10%.
		require.InDelta(t, m, mean(xs), 5*math.Sqrt(v/10_000), "n=%d p=%v", tc.n, tc.p)
		require.InEpsilon(t, v, variance(xs), 0.1, "n=%d p=%v", tc.n, tc.p)
	}
	for _, tc := range []struct {
		n    int
		p    float64
		want int64
	}{{0, 0.5, 0}, {10, 0, 0}, {10, 1, 10}} {
		c := one(t, sampler("b", config.SamplerBinomial, frame.Int, &config.BinomialParams{N: tc.n, P: tc.p}), 50)
		for _, v := range c.Ints {
			require.Equal(t, tc.want, v)
		}
	}
}

func TestPoisson(t *testing.T) {
	t.Parallel()
	for _, m := range []float64{0.5, 4, 29.5, 30, 100, 5000} {
		c := one(t, sampler("p", config.SamplerPoisson, frame.Int, &config.PoissonParams{Mean: m}), 10_000)
		for _, v := range c.Ints {
			require.GreaterOrEqual(t, v, int64(0))
		}
		xs := ints2floats(c.Ints)
		require.InDelta(t, m, mean(xs), 5*math.Sqrt(m/10_000), "mean %v", m)
		require.InEpsilon(t, m, variance(xs), 0.1, "mean %v", m)
	}
}

func parseISO(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(isoLayout, s)
	require.NoError(t, err, s)
	return v
}

func TestDatetimeFixedUnits(t *testing.T) {
	t.Parallel()
	start, end := date(2021, 3, 10, 6, 30, 15), date(2021, 6, 1, 0, 0, 0)
	for unit, step := range map[string]time.Duration{"D": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second, "": 24 * time.Hour} {
		c := one(t, sampler("d", config.SamplerDatetime, frame.String, &config.DatetimeParams{Start: start, End: end, Unit: unit}), 10_000)
		for _, s := range c.Strings {
			v := parseISO(t, s)
			require.False(t, v.Before(start), s)
			require.True(t, v.Before(end), s)
			require.Zero(t, v.Sub(start)%step, "unit %q: %s off the grid", unit, s)
		}
	}

	// Both ends of the grid are reached; end itself is excluded.
	c := one(t, sampler("d", config.SamplerDatetime, frame.String, &config.DatetimeParams{
		Start: date(2024, 2, 27, 0, 0, 0), End: date(2024, 3, 1, 0, 0, 0), Unit: "D"}), 1000)
	got := map[string]bool{}
	for _, s := range c.Strings {
		got[s] = true
	}
	require.Equal(t, map[string]bool{"2024-02-27T00:00:00": true, "2024-02-28T00:00:00": true, "2024-02-29T00:00:00": true}, got)

	// An end with a sub-second part admits the grid point at its whole second.
	c = one(t, sampler("d", config.SamplerDatetime, frame.String, &config.DatetimeParams{
		Start: date(2024, 1, 1, 0, 0, 0), End: date(2024, 1, 1, 0, 0, 2).Add(time.Millisecond), Unit: "s"}), 1000)
	got = map[string]bool{}
	for _, s := range c.Strings {
		got[s] = true
	}
	require.Len(t, got, 3)
}

func TestDatetimeCalendarUnits(t *testing.T) {
	t.Parallel()
	c := one(t, sampler("d", config.SamplerDatetime, frame.String, &config.DatetimeParams{
		Start: date(2020, 5, 15, 12, 0, 0), End: date(2023, 5, 15, 12, 0, 0), Unit: "Y"}), 2000)
	got := map[string]bool{}
	for _, s := range c.Strings {
		got[s] = true
	}
	require.Equal(t, map[string]bool{"2020-05-15T12:00:00": true, "2021-05-15T12:00:00": true, "2022-05-15T12:00:00": true}, got)

	start, end := date(2019, 11, 20, 0, 0, 0), date(2021, 2, 3, 0, 0, 0)
	c = one(t, sampler("d", config.SamplerDatetime, frame.String, &config.DatetimeParams{Start: start, End: end, Unit: "M"}), 10_000)
	months := map[string]bool{}
	for _, s := range c.Strings {
		v := parseISO(t, s)
		require.False(t, v.Before(start), s)
		require.True(t, v.Before(end), s)
		require.Equal(t, 20, v.Day(), s)
		months[s] = true
	}
	require.Len(t, months, 15) // 2019-11 … 2021-01

	// Days past the end of a month are clamped.
	c = one(t, sampler("d", config.SamplerDatetime, frame.String, &config.DatetimeParams{
		Start: date(2023, 1, 31, 0, 0, 0), End: date(2023, 4, 1, 0, 0, 0), Unit: "M"}), 1000)
	got = map[string]bool{}
	for _, s := range c.Strings {
		got[s] = true
	}
	require.Equal(t, map[string]bool{"2023-01-31T00:00:00": true, "2023-02-28T00:00:00": true, "2023-03-31T00:00:00": true}, got)
}

func TestDatetimeErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []*config.DatetimeParams{
		{Start: date(2020, 1, 1, 0, 0, 0), End: date(2020, 1, 1, 0, 0, 0)},
		{Start: date(2020, 1, 1, 0, 0, 0), End: date(2021, 1, 1, 0, 0, 0), Unit: "W"},
	} {
		_, err := Seeds([]*config.Column{sampler("when", config.SamplerDatetime, frame.String, p)}, 1, 0, 3)
		require.ErrorContains(t, err, `column "when"`)
	}
}

func TestTimedelta(t *testing.T) {
	t.Parallel()
	ref := sampler("start", config.SamplerDatetime, frame.String, &config.DatetimeParams{
		Start: date(2022, 1, 1, 0, 0, 0), End: date(2023, 1, 1, 0, 0, 0), Unit: "m"})
	for unit, step := range map[string]time.Duration{"D": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second} {
		td := sampler("end", config.SamplerTimedelta, frame.String, &config.TimedeltaParams{
			DtMin: 2, DtMax: 7, ReferenceColumnName: "start", Unit: unit})
		f := seeds(t, []*config.Column{ref, td}, 9, 1, 10_000)
		offsets := map[int64]bool{}
		for i, s := range f.Column("end").Strings {
			d := parseISO(t, s).Sub(parseISO(t, f.Column("start").Strings[i]))
			require.Zero(t, d%step, s)
			k := int64(d / step)
			require.True(t, k >= 2 && k < 7, "unit %s offset %d", unit, k)
			offsets[k] = true
		}
		require.Len(t, offsets, 5, unit)
	}

	// The reference keeps its instants even when it is written with convert_to.
	ref.ConvertTo = "%d/%m/%Y"
	td := sampler("end", config.SamplerTimedelta, frame.String, &config.TimedeltaParams{
		DtMin: 0, DtMax: 1, ReferenceColumnName: "start", Unit: "s"})
	f := seeds(t, []*config.Column{ref, td}, 9, 1, 100)
	for i, s := range f.Column("end").Strings {
		v := parseISO(t, s)
		require.Equal(t, v.Format("02/01/2006"), f.Column("start").Strings[i])
		require.Zero(t, v.Second())
	}

	// config only lets a timedelta read a datetime or timedelta sampler; anything else is
	// refused here too rather than parsed.
	cat := sampler("day", config.SamplerCategory, frame.String, &config.CategoryParams{Values: []any{"2024-03-01"}})
	td.Params = &config.TimedeltaParams{DtMin: 1, DtMax: 2, ReferenceColumnName: "day", Unit: "h"}
	_, err := Seeds([]*config.Column{cat, td}, 1, 0, 3)
	require.ErrorContains(t, err, `reference column "day" is not a datetime sampler`)

	_, err = Seeds([]*config.Column{td}, 1, 0, 3)
	require.ErrorContains(t, err, `column "end"`)
	td.Params = &config.TimedeltaParams{DtMin: 3, DtMax: 3, ReferenceColumnName: "day"}
	_, err = Seeds([]*config.Column{cat, td}, 1, 0, 3)
	require.ErrorContains(t, err, `column "end"`)
}

func TestConvertTo(t *testing.T) {
	t.Parallel()
	// Data Designer converts first and rounds to decimal_places last, on floats only: int
	// rounds the drawn value half to even, str writes it in full.
	u := sampler("u", config.SamplerUniform, frame.Int, &config.UniformParams{Low: 0, High: 10, DecimalPlaces: intp(1)})
	u.ConvertTo = "int"
	f := seeds(t, []*config.Column{u}, 1, 0, 5000)
	u2 := sampler("u", config.SamplerUniform, frame.Float, &config.UniformParams{Low: 0, High: 10})
	raw := seeds(t, []*config.Column{u2}, 1, 0, 5000).Column("u").Floats
	for i, v := range f.Column("u").Ints {
		require.Equal(t, int64(math.RoundToEven(raw[i])), v, raw[i])
	}

	u.ConvertTo, u.Output = "str", frame.String
	for i, s := range seeds(t, []*config.Column{u}, 1, 0, 5000).Column("u").Strings {
		require.Equal(t, pyfmt.Float(raw[i]), s)
	}
	u.ConvertTo, u.Output = "float", frame.Float
	for i, x := range seeds(t, []*config.Column{u}, 1, 0, 5000).Column("u").Floats {
		require.Equal(t, pyfmt.Round(raw[i], 1), x)
	}

	b := sampler("b", config.SamplerBernoulli, frame.Float, &config.BernoulliParams{P: 0.5})
	b.ConvertTo = "float"
	for _, v := range one(t, b, 100).Floats {
		require.Contains(t, []float64{0, 1}, v)
	}
	b.ConvertTo, b.Output = "str", frame.String
	for _, v := range one(t, b, 100).Strings {
		require.Contains(t, []string{"0", "1"}, v)
	}

	c := sampler("c", config.SamplerCategory, frame.String, &config.CategoryParams{Values: []any{int64(3), 1.5}})
	c.ConvertTo = "str"
	for _, v := range one(t, c, 100).Strings {
		require.Contains(t, []string{"3", "1.5"}, v)
	}
	c.ConvertTo, c.Output = "int", frame.Int
	for _, v := range one(t, c, 100).Ints {
		require.Contains(t, []int64{3, 2}, v) // 1.5 rounds half to even
	}

	d := sampler("d", config.SamplerDatetime, frame.String, &config.DatetimeParams{
		Start: date(2021, 7, 4, 15, 0, 0), End: date(2021, 7, 5, 0, 0, 0), Unit: "h"})
	d.ConvertTo = "%a %d %b %Y, %I %p (day %j)"
	got := map[string]bool{}
	for _, v := range one(t, d, 500).Strings {
		got[v] = true
	}
	require.Len(t, got, 9)
	require.True(t, got["Sun 04 Jul 2021, 03 PM (day 185)"])
	require.True(t, got["Sun 04 Jul 2021, 11 PM (day 185)"])

	d.ConvertTo = "%Y-%Q"
	_, err := Seeds([]*config.Column{d}, 1, 0, 10)
	require.ErrorContains(t, err, `column "d"`)
	require.ErrorContains(t, err, "%Q")

	u.ConvertTo = "decimal"
	_, err = Seeds([]*config.Column{u}, 1, 0, 10)
	require.ErrorContains(t, err, `column "u"`)

	// uuids ignore convert_to, as in Data Designer.
	id := sampler("id", config.SamplerUUID, frame.String, &config.UUIDParams{})
	id.ConvertTo = "int"
	require.Regexp(t, uuidHex, one(t, id, 1).Strings[0])
}

func TestSeedsErrorsNameColumn(t *testing.T) {
	t.Parallel()
	for _, col := range []*config.Column{
		sampler("x", "no_such_sampler", frame.String, nil),
		sampler("x", config.SamplerUniform, frame.Float, &config.GaussianParams{}),
		sampler("x", config.SamplerUniform, frame.Float, nil),
		sampler("x", config.SamplerUniform, frame.Float, &config.UniformParams{Low: 2, High: 1}),
		sampler("x", config.SamplerGaussian, frame.Float, &config.GaussianParams{Stddev: -1}),
		sampler("x", config.SamplerBernoulli, frame.Int, &config.BernoulliParams{P: 1.5}),
		sampler("x", config.SamplerBinomial, frame.Int, &config.BinomialParams{N: -1, P: 0.5}),
		sampler("x", config.SamplerPoisson, frame.Int, &config.PoissonParams{Mean: math.NaN()}),
		sampler("x", config.SamplerCategory, frame.String, &config.CategoryParams{}),
		sampler("x", config.SamplerCategory, frame.String, &config.CategoryParams{Values: []any{"a"}, Weights: []float64{1, 2}}),
		sampler("x", config.SamplerCategory, frame.String, &config.CategoryParams{Values: []any{"a"}, Weights: []float64{0}}),
		sampler("x", config.SamplerUniform, frame.Bool, &config.UniformParams{Low: 0, High: 1}),
	} {
		_, err := Seeds([]*config.Column{col}, 1, 0, 10)
		require.ErrorContains(t, err, `column "x"`, "%s %T", col.SamplerType, col.Params)
	}
	dup := sampler("x", config.SamplerBernoulli, frame.Int, &config.BernoulliParams{P: 1})
	_, err := Seeds([]*config.Column{dup, dup}, 1, 0, 1)
	require.ErrorContains(t, err, `column "x"`)
}

func TestPyFloat(t *testing.T) {
	t.Parallel()
	for f, want := range map[float64]string{
		0: "0.0", 3: "3.0", -2: "-2.0", 12.5: "12.5", pointThree: "0.30000000000000004", 1e16: "1e+16",
		1e15: "1000000000000000.0", 9999999999999998: "9999999999999998.0", 1e-4: "0.0001", 1e-5: "1e-05",
		1.5e-7: "1.5e-07", 123456789.125: "123456789.125", 1e100: "1e+100", -1e22: "-1e+22",
		math.Inf(1): "inf", math.Inf(-1): "-inf",
	} {
		require.Equal(t, want, pyfmt.Float(f), strconv.FormatFloat(f, 'g', -1, 64))
	}
	require.Equal(t, "nan", pyfmt.Float(math.NaN()))
	require.Equal(t, "-0.0", pyfmt.Float(math.Copysign(0, -1)))
	require.Equal(t, "None", pyfmt.Str(nil))
	require.Equal(t, "True", pyfmt.Str(true))
	require.Equal(t, "7", pyfmt.Str(int64(7)))
}

func TestPyRound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		x    float64
		n    int
		want float64
	}{
		{2.5, 0, 2}, {3.5, 0, 4}, {-2.5, 0, -2}, {0.125, 2, 0.12}, {0.375, 2, 0.38},
		{2.675, 2, 2.67}, {1.005, 2, 1}, {0.285, 2, 0.28}, {1.23456, 3, 1.235}, {-1.23456, 3, -1.235},
		{123456789.987654, 4, 123456789.9877}, {1e20, 2, 1e20}, {5e-324, 2, 0}, {0.1, 20, 0.1},
		{1234.5, -2, 1200}, {1250, -2, 1200}, {1350, -2, 1400}, {0.5, 0, 0}, {1.5, 0, 2},
	} {
		require.Equal(t, tc.want, pyfmt.Round(tc.x, tc.n), "round(%v, %d)", tc.x, tc.n)
	}
	require.True(t, math.Signbit(pyfmt.Round(-0.001, 2)))
	require.True(t, math.IsNaN(pyfmt.Round(math.NaN(), 2)))
}

func TestStrftime(t *testing.T) {
	t.Parallel()
	ts := time.Date(2009, 1, 4, 0, 7, 9, 123456789, time.UTC) // a Sunday
	for format, want := range map[string]string{
		"%Y-%m-%d %H:%M:%S":     "2009-01-04 00:07:09",
		"%y|%b|%B|%a|%A|%j":     "09|Jan|January|Sun|Sunday|004",
		"%I:%M %p":              "12:07 AM",
		"%S.%f":                 "09.123456",
		"100%% on %F at %T%z%Z": "100% on 2009-01-04 at 00:07:09",
		"no directives":         "no directives",
		"":                      "",
	} {
		f, err := compileStrftime(format)
		require.NoError(t, err, format)
		require.Equal(t, want, string(f.append(nil, ts)), format)
	}
	f, err := compileStrftime("%I %p")
	require.NoError(t, err)
	require.Equal(t, "01 PM", string(f.append(nil, ts.Add(13*time.Hour))))
	require.Equal(t, "12 PM", string(f.append(nil, ts.Add(12*time.Hour))))

	for format, dir := range map[string]string{"%Y %e": "%e", "%": "lone", "abc%": "lone", "%é": "%é"} {
		_, err := compileStrftime(format)
		require.ErrorContains(t, err, dir, format)
	}
}
