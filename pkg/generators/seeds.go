package generators

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// Seeds materializes the sampler columns cols for row group group, with size rows. cols must
// be in dependency order (a subcategory after its parent, a timedelta after its reference);
// the frame holds one column per entry of cols, in that order, typed by Column.Output.
//
// Seeds is deterministic: a column's values depend only on (seed, column name, group, row index)
// and, for subcategory and timedelta, on the values of the column they read. It is safe to call
// concurrently; it does not retain cols. Errors name the column.
func Seeds(cols []*config.Column, seed uint64, group int, size int) (*frame.Frame, error) {
	if size < 0 {
		return nil, fmt.Errorf("generators: negative row-group size %d", size)
	}
	run := &seedRun{
		size:  size,
		f:     frame.New(size),
		cats:  map[string]*catDraw{},
		times: map[string][]time.Time{},
	}
	for i, col := range cols {
		if col == nil {
			return nil, fmt.Errorf("generators: sampler column %d is nil", i)
		}
		if run.f.Column(col.Name) != nil {
			return nil, fmt.Errorf("column %q: listed twice", col.Name)
		}
		c, err := run.column(col, columnRNG(seed, col.Name, group))
		if err != nil {
			return nil, fmt.Errorf("column %q: %s sampler: %w", col.Name, col.SamplerType, err)
		}
		if err := run.f.Put(c); err != nil {
			return nil, fmt.Errorf("column %q: %w", col.Name, err)
		}
	}
	return run.f, nil
}

// columnRNG returns the column's random stream for one row group. The seed is FNV-1a 64 over
// (seed as 8 little-endian bytes, the column name, 0xff, group as 8 little-endian bytes), spread
// over PCG's 128-bit state with splitmix64: stable across processes, platforms and Go releases.
func columnRNG(seed uint64, name string, group int) *rand.Rand {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	for _, c := range b {
		h = (h ^ uint64(c)) * prime64
	}
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * prime64
	}
	h = (h ^ 0xff) * prime64
	binary.LittleEndian.PutUint64(b[:], uint64(int64(group)))
	for _, c := range b {
		h = (h ^ uint64(c)) * prime64
	}
	return rand.New(rand.NewPCG(splitmix64(h), splitmix64(h^0x9e3779b97f4a7c15)))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// seedRun is the state of one Seeds call: the frame so far, plus what dependent samplers read
// before conversion (category draws for subcategories, instants for timedeltas).
type seedRun struct {
	size  int
	f     *frame.Frame
	cats  map[string]*catDraw
	times map[string][]time.Time
}

// catDraw is a category column's draws: idx[i] indexes values; keys are their Python str().
type catDraw struct {
	idx  []int32
	keys []string
}

type kind uint8

const (
	kindInt kind = iota
	kindFloat
	kindStr
	kindAny
	kindTime
)

// sampled is a column's raw values; the slice matching kind is set.
type sampled struct {
	kind   kind
	ints   []int64
	floats []float64
	strs   []string
	anys   []any
	times  []time.Time
}

func paramsOf[T any](col *config.Column) (*T, error) {
	switch p := col.Params.(type) {
	case *T:
		if p != nil {
			return p, nil
		}
	case T:
		return &p, nil
	}
	return nil, fmt.Errorf("params: want %T, got %T", (*T)(nil), col.Params)
}

func (s *seedRun) column(col *config.Column, r *rand.Rand) (*frame.Column, error) {
	n := s.size
	var (
		v   sampled
		err error
	)
	switch col.SamplerType {
	case config.SamplerUUID:
		var p *config.UUIDParams
		if p, err = paramsOf[config.UUIDParams](col); err == nil {
			v = sampled{kind: kindStr}
			v.strs, err = sampleUUID(r, p, n)
		}
	case config.SamplerCategory:
		var p *config.CategoryParams
		if p, err = paramsOf[config.CategoryParams](col); err == nil {
			var d *catDraw
			v = sampled{kind: kindAny}
			if v.anys, d, err = sampleCategory(r, p, n); err == nil {
				s.cats[col.Name] = d
			}
		}
	case config.SamplerSubcategory:
		var p *config.SubcategoryParams
		if p, err = paramsOf[config.SubcategoryParams](col); err == nil {
			v = sampled{kind: kindAny}
			v.anys, err = s.subcategory(r, p)
		}
	case config.SamplerUniform:
		var p *config.UniformParams
		if p, err = paramsOf[config.UniformParams](col); err == nil {
			v = sampled{kind: kindFloat}
			v.floats, err = sampleUniform(r, p, n)
		}
	case config.SamplerGaussian:
		var p *config.GaussianParams
		if p, err = paramsOf[config.GaussianParams](col); err == nil {
			v = sampled{kind: kindFloat}
			v.floats, err = sampleGaussian(r, p, n)
		}
	case config.SamplerBernoulli:
		var p *config.BernoulliParams
		if p, err = paramsOf[config.BernoulliParams](col); err == nil {
			v = sampled{kind: kindInt}
			v.ints, err = sampleBernoulli(r, p, n)
		}
	case config.SamplerBinomial:
		var p *config.BinomialParams
		if p, err = paramsOf[config.BinomialParams](col); err == nil {
			v = sampled{kind: kindInt}
			v.ints, err = sampleBinomial(r, p, n)
		}
	case config.SamplerPoisson:
		var p *config.PoissonParams
		if p, err = paramsOf[config.PoissonParams](col); err == nil {
			v = sampled{kind: kindInt}
			v.ints, err = samplePoisson(r, p, n)
		}
	case config.SamplerDatetime:
		var p *config.DatetimeParams
		if p, err = paramsOf[config.DatetimeParams](col); err == nil {
			v = sampled{kind: kindTime}
			v.times, err = sampleDatetime(r, p, n)
		}
	case config.SamplerTimedelta:
		var p *config.TimedeltaParams
		if p, err = paramsOf[config.TimedeltaParams](col); err == nil {
			v = sampled{kind: kindTime}
			v.times, err = s.timedelta(r, p)
		}
	default:
		err = errors.New("unsupported sampler type")
	}
	if err != nil {
		return nil, err
	}
	if v.kind == kindTime {
		s.times[col.Name] = v.times
	}
	if v, err = convertTo(v, col.ConvertTo); err != nil {
		return nil, err
	}
	return store(col.Name, col.Output, v, n)
}

func sampleUUID(r *rand.Rand, p *config.UUIDParams, n int) ([]string, error) {
	width := 32
	var seen map[uint32]struct{}
	if p.ShortForm {
		width = 8
		if n > 1<<31 {
			return nil, fmt.Errorf("%d rows cannot all get distinct short uuids", n)
		}
		seen = make(map[uint32]struct{}, n)
	}
	out := make([]string, n)
	buf := make([]byte, 0, len(p.Prefix)+32)
	var raw [16]byte
	var hx [32]byte
	for i := range out {
		for {
			binary.LittleEndian.PutUint64(raw[:8], r.Uint64())
			binary.LittleEndian.PutUint64(raw[8:], r.Uint64())
			if seen == nil {
				break
			}
			// Data Designer re-draws an id already used in the batch; only the 32-bit short
			// form can realistically collide.
			k := binary.LittleEndian.Uint32(raw[:4])
			if _, dup := seen[k]; !dup {
				seen[k] = struct{}{}
				break
			}
		}
		raw[6] = raw[6]&0x0f | 0x40 // version 4
		raw[8] = raw[8]&0x3f | 0x80 // RFC 4122 variant
		hex.Encode(hx[:], raw[:])
		if p.Uppercase {
			for j := range width {
				if hx[j] >= 'a' {
					hx[j] -= 'a' - 'A'
				}
			}
		}
		buf = append(append(buf[:0], p.Prefix...), hx[:width]...)
		out[i] = string(buf)
	}
	return out, nil
}

func sampleCategory(r *rand.Rand, p *config.CategoryParams, n int) ([]any, *catDraw, error) {
	k := len(p.Values)
	if k == 0 {
		return nil, nil, errors.New("no values")
	}
	if k > math.MaxInt32 {
		return nil, nil, fmt.Errorf("%d values is too many", k)
	}
	var cum []float64
	if p.Weights != nil {
		if len(p.Weights) != k {
			return nil, nil, fmt.Errorf("%d weights for %d values", len(p.Weights), k)
		}
		cum = make([]float64, k)
		total := 0.0
		for i, w := range p.Weights {
			if !(w >= 0) || math.IsInf(w, 1) {
				return nil, nil, fmt.Errorf("invalid weight %v", w)
			}
			total += w
			cum[i] = total
		}
		if total <= 0 {
			return nil, nil, errors.New("weights sum to zero")
		}
	}
	d := &catDraw{idx: make([]int32, n), keys: make([]string, k)}
	for i, v := range p.Values {
		d.keys[i] = config.CategoryKey(v) // the key the config was validated with
	}
	out := make([]any, n)
	for i := range out {
		var j int
		if cum == nil {
			j = r.IntN(k)
		} else {
			u := r.Float64() * cum[k-1]
			j = sort.Search(k, func(m int) bool { return cum[m] > u })
			if j == k { // u rounded up to the total
				j = k - 1
			}
		}
		d.idx[i] = int32(j)
		out[i] = p.Values[j]
	}
	return out, d, nil
}

func (s *seedRun) subcategory(r *rand.Rand, p *config.SubcategoryParams) ([]any, error) {
	n := s.size
	out := make([]any, n)
	choose := func(i int, key string, choices []any, ok bool) error {
		if !ok || len(choices) == 0 {
			return fmt.Errorf("row %d: no values for %q = %q", i, p.Category, key)
		}
		out[i] = choices[r.IntN(len(choices))]
		return nil
	}
	if d, ok := s.cats[p.Category]; ok {
		// Resolve each parent value's choices once.
		choices := make([][]any, len(d.keys))
		found := make([]bool, len(d.keys))
		for j, key := range d.keys {
			choices[j], found[j] = p.Values[key]
		}
		for i, j := range d.idx {
			if err := choose(i, d.keys[j], choices[j], found[j]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	parent := s.f.Column(p.Category)
	if parent == nil {
		return nil, fmt.Errorf("parent column %q is not a sampler listed before it", p.Category)
	}
	for i := range out {
		key := config.CategoryKey(parent.Value(i))
		c, ok := p.Values[key]
		if err := choose(i, key, c, ok); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decimals(xs []float64, places *int) {
	if places == nil {
		return
	}
	for i, x := range xs {
		xs[i] = pyfmt.Round(x, *places)
	}
}

func sampleUniform(r *rand.Rand, p *config.UniformParams, n int) ([]float64, error) {
	if !(p.Low <= p.High) || math.IsInf(p.Low, 0) || math.IsInf(p.High, 0) {
		return nil, fmt.Errorf("need finite low ≤ high, got low=%v high=%v", p.Low, p.High)
	}
	out := make([]float64, n)
	span := p.High - p.Low
	for i := range out {
		out[i] = p.Low + r.Float64()*span
	}
	decimals(out, p.DecimalPlaces)
	return out, nil
}

func sampleGaussian(r *rand.Rand, p *config.GaussianParams, n int) ([]float64, error) {
	if !(p.Stddev >= 0) || math.IsInf(p.Stddev, 0) || math.IsNaN(p.Mean) || math.IsInf(p.Mean, 0) {
		return nil, fmt.Errorf("need finite mean and stddev ≥ 0, got mean=%v stddev=%v", p.Mean, p.Stddev)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = p.Mean + p.Stddev*r.NormFloat64()
	}
	decimals(out, p.DecimalPlaces)
	return out, nil
}

func checkProb(p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("p must be in [0, 1], got %v", p)
	}
	return nil
}

func sampleBernoulli(r *rand.Rand, p *config.BernoulliParams, n int) ([]int64, error) {
	if err := checkProb(p.P); err != nil {
		return nil, err
	}
	out := make([]int64, n)
	for i := range out {
		if r.Float64() < p.P {
			out[i] = 1
		}
	}
	return out, nil
}

func sampleBinomial(r *rand.Rand, p *config.BinomialParams, n int) ([]int64, error) {
	if err := checkProb(p.P); err != nil {
		return nil, err
	}
	if p.N < 0 {
		return nil, fmt.Errorf("n must be ≥ 0, got %d", p.N)
	}
	g := newBinomial(int64(p.N), p.P)
	out := make([]int64, n)
	for i := range out {
		out[i] = g.draw(r)
	}
	return out, nil
}

func samplePoisson(r *rand.Rand, p *config.PoissonParams, n int) ([]int64, error) {
	if !(p.Mean >= 0) || p.Mean > 1e15 {
		return nil, fmt.Errorf("mean must be in [0, 1e15], got %v", p.Mean)
	}
	g := newPoisson(p.Mean)
	out := make([]int64, n)
	for i := range out {
		out[i] = g.draw(r)
	}
	return out, nil
}

// unitSeconds is the length of a fixed datetime/timedelta unit.
func unitSeconds(unit string) (int64, bool) {
	switch unit {
	case "", "D":
		return 86400, true
	case "h":
		return 3600, true
	case "m":
		return 60, true
	case "s":
		return 1, true
	}
	return 0, false
}

// addMonths moves t by m calendar months, clamping the day to the target month's length.
func addMonths(t time.Time, m int) time.Time {
	mo := int(t.Month()) - 1 + m
	y := t.Year() + mo/12
	mo %= 12
	if mo < 0 {
		mo += 12
		y--
	}
	month := time.Month(mo + 1)
	d := t.Day()
	if last := time.Date(y, month+1, 0, 0, 0, 0, 0, time.UTC).Day(); d > last {
		d = last
	}
	return time.Date(y, month, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func sampleDatetime(r *rand.Rand, p *config.DatetimeParams, n int) ([]time.Time, error) {
	start, end := p.Start.UTC(), p.End.UTC()
	if !end.After(start) {
		return nil, fmt.Errorf("end %s is not after start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	out := make([]time.Time, n)
	switch p.Unit {
	case "Y", "M":
		step := 1
		if p.Unit == "Y" {
			step = 12
		}
		// kmax is the last k with start + k·step months before end.
		kmax := ((end.Year()-start.Year())*12 + int(end.Month()) - int(start.Month())) / step
		for kmax > 0 && !addMonths(start, kmax*step).Before(end) {
			kmax--
		}
		for addMonths(start, (kmax+1)*step).Before(end) {
			kmax++
		}
		for i := range out {
			out[i] = addMonths(start, r.IntN(kmax+1)*step)
		}
	default:
		u, ok := unitSeconds(p.Unit)
		if !ok {
			return nil, fmt.Errorf("unsupported unit %q (want Y, M, D, h, m or s)", p.Unit)
		}
		// start + k·u < end  ⇔  k·u ≤ diff-1 when end has no more sub-second part than start.
		diff := end.Unix() - start.Unix()
		if end.Nanosecond() <= start.Nanosecond() {
			diff--
		}
		count := diff/u + 1
		s0, ns := start.Unix(), int64(start.Nanosecond())
		for i := range out {
			out[i] = time.Unix(s0+r.Int64N(count)*u, ns).UTC()
		}
	}
	return out, nil
}

func (s *seedRun) timedelta(r *rand.Rand, p *config.TimedeltaParams) ([]time.Time, error) {
	u, ok := unitSeconds(p.Unit)
	if !ok {
		return nil, fmt.Errorf("unsupported unit %q (want D, h, m or s)", p.Unit)
	}
	if p.DtMin < 0 || p.DtMin >= p.DtMax {
		return nil, fmt.Errorf("need 0 ≤ dt_min < dt_max, got dt_min=%d dt_max=%d", p.DtMin, p.DtMax)
	}
	ref, ok := s.times[p.ReferenceColumnName]
	if !ok {
		var err error
		if ref, err = s.parseTimes(p.ReferenceColumnName); err != nil {
			return nil, err
		}
	}
	span := int64(p.DtMax - p.DtMin)
	out := make([]time.Time, s.size)
	for i := range out {
		k := int64(p.DtMin) + r.Int64N(span)
		t := ref[i]
		out[i] = time.Unix(t.Unix()+k*u, int64(t.Nanosecond())).UTC()
	}
	return out, nil
}

var datetimeLayouts = []string{isoLayout, "2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999", time.RFC3339Nano}

// parseTimes reads a reference column that is not a datetime sampler of this call from the
// frame: its strings must be datetimes in one of datetimeLayouts.
func (s *seedRun) parseTimes(name string) ([]time.Time, error) {
	c := s.f.Column(name)
	if c == nil {
		return nil, fmt.Errorf("reference column %q is not a sampler listed before it", name)
	}
	if c.Type != frame.String {
		return nil, fmt.Errorf("reference column %q holds %s values, not datetimes", name, c.Type)
	}
	out := make([]time.Time, len(c.Strings))
	for i, str := range c.Strings {
		var err error
		for _, layout := range datetimeLayouts {
			if out[i], err = time.Parse(layout, str); err == nil {
				break
			}
		}
		if err != nil || c.IsNull(i) {
			return nil, fmt.Errorf("reference column %q row %d: %q is not a datetime", name, i, str)
		}
		out[i] = out[i].UTC()
	}
	return out, nil
}

// convertTo applies a sampler's convert_to.
func convertTo(v sampled, to string) (sampled, error) {
	if v.kind == kindTime {
		strs := make([]string, len(v.times))
		var buf []byte
		if to == "" {
			for i, t := range v.times {
				buf = t.AppendFormat(buf[:0], isoLayout)
				strs[i] = string(buf)
			}
		} else {
			f, err := compileStrftime(to)
			if err != nil {
				return v, fmt.Errorf("convert_to: %w", err)
			}
			for i, t := range v.times {
				buf = f.append(buf[:0], t)
				strs[i] = string(buf)
			}
		}
		return sampled{kind: kindStr, strs: strs}, nil
	}
	if to == "" || v.kind == kindStr { // uuids pass through, as in Data Designer
		return v, nil
	}
	var err error
	switch to {
	case "int":
		v, err = toInts(v)
	case "float":
		v, err = toFloats(v)
	case "str":
		v = toStrs(v)
	default:
		err = fmt.Errorf("unsupported convert_to %q (want int, float or str)", to)
	}
	if err != nil {
		return v, fmt.Errorf("convert_to %s: %w", to, err)
	}
	return v, nil
}

func toInts(v sampled) (sampled, error) {
	out := sampled{kind: kindInt}
	switch v.kind {
	case kindInt:
		return v, nil
	case kindFloat:
		out.ints = make([]int64, len(v.floats))
		for i, f := range v.floats {
			x, err := roundToInt64(f)
			if err != nil {
				return v, fmt.Errorf("row %d: %w", i, err)
			}
			out.ints[i] = x
		}
	case kindAny:
		out.ints = make([]int64, len(v.anys))
		for i, a := range v.anys {
			var err error
			switch x := a.(type) {
			case int64:
				out.ints[i] = x
			case int:
				out.ints[i] = int64(x)
			case float64:
				out.ints[i], err = roundToInt64(x)
			case string:
				out.ints[i], err = strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			default:
				err = fmt.Errorf("cannot convert %T to int", a)
			}
			if err != nil {
				return v, fmt.Errorf("row %d: value %q: %w", i, pyfmt.Str(a), err)
			}
		}
	}
	return out, nil
}

func toFloats(v sampled) (sampled, error) {
	out := sampled{kind: kindFloat}
	switch v.kind {
	case kindFloat:
		return v, nil
	case kindInt:
		out.floats = make([]float64, len(v.ints))
		for i, x := range v.ints {
			out.floats[i] = float64(x)
		}
	case kindAny:
		out.floats = make([]float64, len(v.anys))
		for i, a := range v.anys {
			var err error
			switch x := a.(type) {
			case int64:
				out.floats[i] = float64(x)
			case int:
				out.floats[i] = float64(x)
			case float64:
				out.floats[i] = x
			case string:
				out.floats[i], err = strconv.ParseFloat(strings.TrimSpace(x), 64)
			default:
				err = fmt.Errorf("cannot convert %T to float", a)
			}
			if err != nil {
				return v, fmt.Errorf("row %d: value %q: %w", i, pyfmt.Str(a), err)
			}
		}
	}
	return out, nil
}

func toStrs(v sampled) sampled {
	out := sampled{kind: kindStr}
	switch v.kind {
	case kindStr:
		return v
	case kindInt:
		out.strs = make([]string, len(v.ints))
		for i, x := range v.ints {
			out.strs[i] = strconv.FormatInt(x, 10)
		}
	case kindFloat:
		out.strs = make([]string, len(v.floats))
		for i, x := range v.floats {
			out.strs[i] = pyfmt.Float(x)
		}
	case kindAny:
		out.strs = make([]string, len(v.anys))
		for i, x := range v.anys {
			out.strs[i] = pyfmt.Str(x)
		}
	}
	return out
}

// store writes v into a new column of type t, converting where nothing is lost (ints to
// floats, integral floats to ints, anything to its Python str form).
func store(name string, t frame.Type, v sampled, n int) (*frame.Column, error) {
	if t == frame.String {
		v = toStrs(v)
		c := &frame.Column{Name: name, Type: t, Strings: v.strs}
		if c.Strings == nil {
			c.Strings = make([]string, n)
		}
		return c, nil
	}
	switch {
	case t == frame.Int && v.kind == kindInt:
		return &frame.Column{Name: name, Type: t, Ints: v.ints}, nil
	case t == frame.Float && v.kind == kindFloat:
		return &frame.Column{Name: name, Type: t, Floats: v.floats}, nil
	}
	c := frame.NewColumn(name, t, n)
	bad := func(i int, x any) error {
		return fmt.Errorf("row %d: value %s cannot be stored as %s", i, pyfmt.Str(x), t)
	}
	switch {
	case v.kind == kindInt:
		for i, x := range v.ints {
			if err := setLossless(c, i, x); err != nil {
				return nil, bad(i, x)
			}
		}
	case v.kind == kindFloat:
		for i, x := range v.floats {
			if err := setLossless(c, i, x); err != nil {
				return nil, bad(i, x)
			}
		}
	case v.kind == kindAny:
		for i, x := range v.anys {
			if err := setLossless(c, i, x); err != nil {
				return nil, bad(i, x)
			}
		}
	default:
		return nil, fmt.Errorf("string values cannot be stored as %s", t)
	}
	return c, nil
}

var errLossy = errors.New("lossy conversion")

func setLossless(c *frame.Column, i int, v any) error {
	switch c.Type {
	case frame.Int:
		switch x := v.(type) {
		case int64:
			c.Ints[i] = x
			return nil
		case int:
			c.Ints[i] = int64(x)
			return nil
		case float64:
			if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
				c.Ints[i] = int64(x)
				return nil
			}
		}
	case frame.Float:
		switch x := v.(type) {
		case int64:
			c.Floats[i] = float64(x)
			return nil
		case int:
			c.Floats[i] = float64(x)
			return nil
		case float64:
			c.Floats[i] = x
			return nil
		}
	case frame.Bool:
		switch x := v.(type) {
		case bool:
			c.Bools[i] = x
			return nil
		case int64:
			if x == 0 || x == 1 {
				c.Bools[i] = x == 1
				return nil
			}
		}
	}
	return errLossy
}
