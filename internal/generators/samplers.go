package generators

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/rowforge/rowforge/internal/jinja"
	"github.com/rowforge/rowforge/internal/pyfmt"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// drawFunc draws one value for each of rows, the rows of the group that take params p. A
// sampler that reads another column (a subcategory its parent) reads it at those rows from d.
type drawFunc func(d *draws, p config.SamplerParams, r *rand.Rand, rows []int) (sampled, error)

// samplers maps each sampler_type to its draw; each sampler_<type>.go registers its own.
var samplers = map[string]drawFunc{}

// registerSampler adds the draw of the sampler type of P.
func registerSampler[P config.SamplerParams](draw func(d *draws, p P, r *rand.Rand, rows []int) (sampled, error)) {
	var zero P
	name := zero.SamplerType()
	if _, dup := samplers[name]; dup {
		panic("generators: sampler registered twice: " + name)
	}
	samplers[name] = func(d *draws, p config.SamplerParams, r *rand.Rand, rows []int) (sampled, error) {
		tp, ok := p.(P)
		if !ok {
			return sampled{}, fmt.Errorf("params: want %T, got %T", zero, p)
		}
		return draw(d, tp, r, rows)
	}
}

// maxRejectionsFactor is Data Designer's limit on rejection sampling: a column is drawn again
// at most this many times its row count, in rounds that each redraw the rows still breaking a
// constraint.
const maxRejectionsFactor = 5

// Samplers draws a config's sampler columns for row groups. Build it once per run; it is
// safe for concurrent use.
type Samplers struct {
	cols    []*samplerColumn
	opts    SamplerOptions
	persons map[*config.PersonParams]*personPool
}

// SamplerOptions are what samplers take from their run rather than their config.
type SamplerOptions struct {
	// AsOf is the date ages count to (birth dates of persons); the run's start, so that a
	// resumed run draws the dates an uninterrupted one drew. Zero: today.
	AsOf time.Time
	// Persons finds the managed person datasets (the person sampler); nil when no column
	// needs one. Seed seeds the sample of matching persons each person sampler keeps, of at
	// most PersonPool records (0: DefaultPersonPool).
	Persons    PersonSource
	Seed       uint64
	PersonPool int
}

type samplerColumn struct {
	col         *config.Column
	draw        drawFunc
	conditions  []*condition
	constraints []*config.Constraint
}

// condition is a compiled conditional_params entry.
type condition struct {
	cond *config.Conditional
	tpl  *exec.Template
}

// NewSamplers compiles the sampler columns cols, in dependency order (a column after the
// columns it reads), with the constraints on them.
func NewSamplers(cols []*config.Column, constraints []*config.Constraint, opts SamplerOptions) (*Samplers, error) {
	if opts.AsOf.IsZero() {
		opts.AsOf = time.Now()
	}
	opts.AsOf = opts.AsOf.UTC().Truncate(24 * time.Hour)
	s := &Samplers{opts: opts}
	seen := map[string]bool{}
	for i, col := range cols {
		if col == nil {
			return nil, fmt.Errorf("generators: sampler column %d is nil", i)
		}
		if seen[col.Name] {
			return nil, fmt.Errorf("column %q: listed twice", col.Name)
		}
		seen[col.Name] = true
		draw, ok := samplers[col.SamplerType]
		if !ok {
			return nil, fmt.Errorf("column %q: unsupported sampler type %q", col.Name, col.SamplerType)
		}
		// Params obey their sampler's rules (config.Validate checks them the same way), so the
		// draws can rely on them.
		if col.Params == nil || col.Params.SamplerType() != col.SamplerType {
			return nil, fmt.Errorf("column %q: want params of sampler_type %q, got %T", col.Name, col.SamplerType, col.Params)
		}
		if err := col.Params.Check(); err != nil {
			return nil, fmt.Errorf("column %q: params: %w", col.Name, err)
		}
		sc := &samplerColumn{col: col, draw: draw}
		for _, c := range col.Conditional {
			if c.Params == nil || c.Params.SamplerType() != col.SamplerType {
				return nil, fmt.Errorf("column %q: conditional_params[%s]: want params of sampler_type %q, got %T", col.Name, c.Condition, col.SamplerType, c.Params)
			}
			if err := c.Params.Check(); err != nil {
				return nil, fmt.Errorf("column %q: conditional_params[%s]: %w", col.Name, c.Condition, err)
			}
			tpl, err := jinja.Compile(c.Template)
			if err != nil {
				return nil, fmt.Errorf("column %q: conditional_params[%s]: %w", col.Name, c.Condition, err)
			}
			sc.conditions = append(sc.conditions, &condition{cond: c, tpl: tpl})
		}
		for _, c := range constraints {
			if c.Target == col.Name {
				if c.Type == config.ConstraintColumn && !seen[c.Column] {
					return nil, fmt.Errorf("column %q: %s: %q is not drawn before it", col.Name, c, c.Column)
				}
				sc.constraints = append(sc.constraints, c)
			}
		}
		s.cols = append(s.cols, sc)
	}
	var err error
	if s.persons, err = loadPersonPools(cols, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// Seeds draws the sampler columns cols, in dependency order, for row group group with size
// rows; there are no constraints. See Samplers.Draw.
func Seeds(cols []*config.Column, seed uint64, group int, size int) (*frame.Frame, error) {
	s, err := NewSamplers(cols, nil, SamplerOptions{})
	if err != nil {
		return nil, err
	}
	return s.Draw(seed, group, size)
}

// Draw materializes the sampler columns for row group group, with size rows: one frame column
// per sampler column, in dependency order, typed by Column.Output.
//
// Draw is deterministic: a column's values depend only on (seed, column name, group), the
// values of the columns it reads and its conditions read, and the row count. Errors name the
// column; a column that still breaks a constraint after Data Designer's limit of rounds
// returns a *RejectionError.
func (s *Samplers) Draw(seed uint64, group int, size int) (*frame.Frame, error) {
	if size < 0 {
		return nil, fmt.Errorf("generators: negative row-group size %d", size)
	}
	d := &draws{n: size, raw: map[string]sampled{}, view: map[string]sampled{}, asOf: s.opts.AsOf, persons: s.persons}
	f := frame.New(size)
	for _, sc := range s.cols {
		c, err := sc.materialize(d, columnRNG(seed, sc.col.Name, group))
		if err != nil {
			var rej *RejectionError
			if errors.As(err, &rej) {
				return nil, err
			}
			return nil, fmt.Errorf("column %q: %s sampler: %w", sc.col.Name, sc.col.SamplerType, err)
		}
		if err := f.Put(c); err != nil {
			return nil, fmt.Errorf("column %q: %w", sc.col.Name, err)
		}
	}
	return f, nil
}

// draws holds a group's sampler columns drawn so far.
type draws struct {
	n int
	// raw are the values as drawn, before convert_to: what dependent samplers read (a
	// subcategory its parent's values, a timedelta its reference's instants).
	raw map[string]sampled
	// view are the values after convert_to, instants still unformatted: what conditions and
	// constraints see, as Data Designer checks them before its final formatting.
	view map[string]sampled
	asOf time.Time
	// persons are the person samplers' pools, by their params.
	persons map[*config.PersonParams]*personPool
}

// RejectionError is a sampler column whose rows still broke a constraint after Data
// Designer's limit of redraws.
type RejectionError struct {
	Column      string
	Constraints []*config.Constraint
	Limit       int // rounds allowed: maxRejectionsFactor × the row count
	Rows        int // rows still breaking a constraint
}

func (e *RejectionError) Error() string {
	names := make([]string, len(e.Constraints))
	for i, c := range e.Constraints {
		names[i] = c.String()
	}
	return fmt.Sprintf("column %q: %d rows still break %s after the maximum of %d rejection rounds (%d × the %d rows of the group): the constraint cannot be met, or only rarely; loosen it or change the column's params",
		e.Column, e.Rows, strings.Join(names, " and "), e.Limit, maxRejectionsFactor, e.Limit/maxRejectionsFactor)
}

// materialize draws one column, redrawing the rows that break its constraints, and returns it
// formatted for the frame.
func (sc *samplerColumn) materialize(d *draws, r *rand.Rand) (*frame.Column, error) {
	col := sc.col
	parts, err := sc.partition(d)
	if err != nil {
		return nil, err
	}
	var raw, view sampled
	need := make([]bool, d.n)
	pending := d.n
	for i := range need {
		need[i] = true
	}
	limit := maxRejectionsFactor * d.n
	for round := 1; pending > 0; round++ {
		for pi, rows := range parts {
			if rows = selected(rows, need); len(rows) == 0 {
				continue
			}
			v, err := sc.draw(d, sc.params(pi), r, rows)
			if err != nil {
				return nil, err
			}
			if raw.len() != d.n {
				raw = newSampled(v.kind, d.n)
			}
			if err := raw.scatter(v, rows); err != nil {
				return nil, err
			}
		}
		if view, err = preproc(raw, col.ConvertTo); err != nil {
			return nil, err
		}
		if len(sc.constraints) == 0 {
			break
		}
		pending = 0
		for i := range need {
			if need[i] && !sc.holds(d, &view, i) {
				pending++
				continue
			}
			need[i] = false
		}
		if pending > 0 && round >= limit {
			return nil, &RejectionError{Column: col.Name, Constraints: sc.constraints, Limit: limit, Rows: pending}
		}
	}
	d.raw[col.Name], d.view[col.Name] = raw, view
	out, err := postproc(raw, view, col)
	if err != nil {
		return nil, err
	}
	return store(col.Name, col.Output, out, d.n)
}

// params returns the params of partition i: the column's own for 0, else condition i-1's.
func (sc *samplerColumn) params(i int) config.SamplerParams {
	if i == 0 {
		return sc.col.Params
	}
	return sc.conditions[i-1].cond.Params
}

// partition splits the group's rows by the params they draw with: partition 0 takes the
// column's own params, partition i the params of condition i-1. A row that meets several
// conditions takes the last, as Data Designer, which applies them in turn, does. Conditions
// read columns drawn before, which do not change, so rows are split once for every round.
func (sc *samplerColumn) partition(d *draws) ([][]int, error) {
	parts := make([][]int, 1+len(sc.conditions))
	if len(sc.conditions) == 0 {
		all := make([]int, d.n)
		for i := range all {
			all[i] = i
		}
		parts[0] = all
		return parts, nil
	}
	data := map[string]any{}
	tctx := exec.NewContext(data)
	var buf bytes.Buffer
	for i := range d.n {
		take := 0
		for ci, c := range sc.conditions {
			for _, in := range c.cond.Inputs {
				v, ok := d.view[in]
				if !ok {
					return nil, fmt.Errorf("conditional_params[%s]: column %q is not a sampler drawn before it", c.cond.Condition, in)
				}
				data[in] = jinja.Value(v.value(i))
			}
			buf.Reset()
			if err := c.tpl.Execute(&buf, tctx); err != nil {
				return nil, fmt.Errorf("conditional_params[%s]: row %d: %w", c.cond.Condition, i, err)
			}
			// Data Designer takes the params when the condition renders "True" exactly.
			if buf.String() == "True" {
				take = ci + 1
			}
		}
		parts[take] = append(parts[take], i)
	}
	return parts, nil
}

// holds reports whether row i of the column meets all of its constraints.
func (sc *samplerColumn) holds(d *draws, view *sampled, i int) bool {
	for _, c := range sc.constraints {
		cmp, ok := 0, false
		switch c.Type {
		case config.ConstraintScalar:
			var x float64
			if x, ok = view.number(i); ok {
				cmp, ok = compareFloat(x, c.Scalar)
			}
		case config.ConstraintColumn:
			rhs := d.view[c.Column]
			cmp, ok = compareAt(view, &rhs, i)
		}
		if !ok || !c.Holds(cmp) {
			return false
		}
	}
	return true
}

// compareAt compares row i of a and b: instants with instants, numbers with numbers. NaN
// compares with nothing, so a row holding one never meets a constraint, as in numpy.
func compareAt(a, b *sampled, i int) (int, bool) {
	if a.kind == kindTime && b.kind == kindTime {
		return a.times[i].Compare(b.times[i]), true
	}
	x, ok1 := a.number(i)
	y, ok2 := b.number(i)
	if !ok1 || !ok2 {
		return 0, false
	}
	return compareFloat(x, y)
}

func compareFloat(x, y float64) (int, bool) {
	switch {
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	case x == y:
		return 0, true
	}
	return 0, false // NaN
}

// selected returns the rows of rows that are still needed; rows itself when all are.
func selected(rows []int, need []bool) []int {
	for j, i := range rows {
		if !need[i] {
			out := append([]int(nil), rows[:j]...)
			for _, k := range rows[j+1:] {
				if need[k] {
					out = append(out, k)
				}
			}
			return out
		}
	}
	return rows
}

// preproc is convert_to as Data Designer applies it before checking constraints: numeric
// conversion; instants stay instants until postproc formats them.
func preproc(raw sampled, to string) (sampled, error) {
	if raw.kind == kindTime {
		return raw, nil
	}
	return convertTo(raw, to)
}

// postproc gives the column its final values: instants formatted (ISO-8601, or convert_to's
// strftime format), floats rounded to decimal_places. Data Designer rounds last, after
// convert_to, so a column converted to int or str is not rounded.
func postproc(raw, view sampled, col *config.Column) (sampled, error) {
	if raw.kind == kindTime {
		return convertTo(raw, col.ConvertTo)
	}
	if places := decimalPlacesOf(col.Params); places != nil && view.kind == kindFloat {
		out := sampled{kind: kindFloat, floats: make([]float64, len(view.floats))}
		for i, x := range view.floats {
			out.floats[i] = pyfmt.Round(x, *places)
		}
		return out, nil
	}
	return view, nil
}

// decimalPlacesOf returns the decimal_places of params that have them.
func decimalPlacesOf(p config.SamplerParams) *int {
	if dp, ok := p.(interface{ Places() *int }); ok {
		return dp.Places()
	}
	return nil
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
