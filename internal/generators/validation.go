package generators

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/internal/processors"
	"github.com/rowforge/rowforge/internal/scheduler"
	"github.com/rowforge/rowforge/pkg/config"
	"github.com/rowforge/rowforge/pkg/frame"
)

// ValidationOptions are what a validation column takes from the worker that runs it.
type ValidationOptions struct {
	// Limiter admits a remote validator's requests; the worker ties it to the run's seats, so
	// that max_parallel_requests holds across workers. nil: the column's cap on this worker.
	Limiter *llm.Limiter
	// HTTPClient sends a remote validator's requests; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Backoff scales the remote validator's waits between retries (1: as the config says);
	// tests shrink it.
	Backoff float64
}

// validator checks one batch of records (target column → value) and returns one result per
// record: a JSON object with is_valid and the validator's own fields.
type validator interface {
	check(ctx context.Context, batch []map[string]any) ([]map[string]any, error)
}

// Validation returns the full-column generator of a validation column: it checks the target
// columns of the rows it is given, batch_size rows per validator call (remote batches run
// concurrently, within max_parallel_requests), and writes each row's result as a JSON object.
// A code validator checks each target column on its own; with several, a row's result is an
// object by column, as in Data Designer. A batch that fails (a program's error, an endpoint
// down after its retries, a result that does not match output_schema) drops its rows, with an
// error that names the column and the validator: dropped rows count toward early shutdown.
func Validation(col *config.Column, opts ValidationOptions) (*scheduler.Generator, error) {
	v := col.Validation
	if v == nil {
		return nil, fmt.Errorf("column %q: not a validation column", col.Name)
	}
	var val validator
	var err error
	switch v.Type {
	case config.ValidatorCode:
		val, err = newCodeValidator(v.CodeLang)
	case config.ValidatorLocalCallable:
		val, err = newProgramValidator(v)
	case config.ValidatorRemote:
		val, err = newRemoteValidator(v, opts)
	default:
		err = fmt.Errorf("unsupported validator_type %q", v.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", col.Name, err)
	}
	g := &validationColumn{col: col, v: v, val: val, parallel: 1}
	if v.Type == config.ValidatorRemote {
		g.parallel = v.MaxParallelRequests
	}
	return withSkip(&scheduler.Generator{Name: col.Name, Type: frame.String, Column: g.column}, col)
}

type validationColumn struct {
	col      *config.Column
	v        *config.Validation
	val      validator
	parallel int // batches in flight at once
}

// groups lists the sets of target columns checked together: each alone for a code validator.
func (g *validationColumn) groups() [][]string {
	if g.v.Type != config.ValidatorCode {
		return [][]string{g.v.TargetColumns}
	}
	var out [][]string
	for _, c := range g.v.TargetColumns {
		out = append(out, []string{c})
	}
	return out
}

func (g *validationColumn) column(ctx context.Context, in *frame.Frame, rows []int) (*frame.Column, map[int]error, error) {
	n := in.Len()
	results := make(map[int]map[string]any, len(rows)) // row → result (by target column for several)
	rowErrs := map[int]error{}
	byColumn := g.v.Type == config.ValidatorCode && len(g.v.TargetColumns) > 1
	for _, cols := range g.groups() {
		got, errs, err := g.checkRows(ctx, in, rows, cols)
		if err != nil {
			return nil, nil, err
		}
		for row, e := range errs {
			rowErrs[row] = e
		}
		for row, res := range got {
			if !byColumn {
				results[row] = res
				continue
			}
			if results[row] == nil {
				results[row] = map[string]any{}
			}
			results[row][cols[0]] = res
		}
	}
	out := frame.NewColumn(g.col.Name, frame.String, n)
	out.Valid = make([]bool, n)
	for _, row := range rows {
		if _, failed := rowErrs[row]; failed {
			continue
		}
		b, err := json.Marshal(results[row])
		if err != nil {
			return nil, nil, err
		}
		out.Strings[row], out.Valid[row] = string(b), true
	}
	if len(rowErrs) == 0 && len(rows) == n {
		out.Valid = nil
	}
	return out, rowErrs, nil
}

// checkRows checks the rows' values of cols in batches and returns the results by row, and the
// rows of failed batches with their error. Only the context's end fails the whole call.
func (g *validationColumn) checkRows(ctx context.Context, in *frame.Frame, rows []int, cols []string) (map[int]map[string]any, map[int]error, error) {
	type batch struct{ rows []int }
	var batches []batch
	for start := 0; start < len(rows); start += g.v.BatchSize {
		batches = append(batches, batch{rows: rows[start:min(start+g.v.BatchSize, len(rows))]})
	}
	results := map[int]map[string]any{}
	rowErrs := map[int]error{}
	var mu sync.Mutex
	sem := make(chan struct{}, g.parallel)
	var wg sync.WaitGroup
	for _, b := range batches {
		records := make([]map[string]any, len(b.rows))
		for i, row := range b.rows {
			rec := make(map[string]any, len(cols))
			for _, c := range cols {
				rec[c] = in.Column(c).Value(row)
			}
			records[i] = rec
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, nil, ctx.Err()
		}
		wg.Add(1)
		go func(rows []int, records []map[string]any) {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := g.val.check(ctx, records)
			if err == nil && len(out) != len(records) {
				err = fmt.Errorf("%d results for %d records", len(out), len(records))
			}
			mu.Lock()
			defer mu.Unlock()
			for i, row := range rows {
				if err != nil {
					rowErrs[row] = fmt.Errorf("column %q: %s validator: %w", g.col.Name, g.v.Type, err)
					continue
				}
				results[row] = out[i]
			}
		}(b.rows, records)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return results, rowErrs, nil
}

// programValidator is a local_callable validator: a program with the exec processor's
// contract, run once per batch.
type programValidator struct {
	command []string
	schema  *jsonschema.Schema
}

// programTimeout bounds one run of a local_callable validator's program.
const programTimeout = 5 * time.Minute

func newProgramValidator(v *config.Validation) (validator, error) {
	p := &programValidator{command: v.Command}
	if v.OutputSchema != nil {
		var err error
		if p.schema, err = config.CompileSchema(v.OutputSchema); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *programValidator) check(ctx context.Context, batch []map[string]any) ([]map[string]any, error) {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	enc.SetEscapeHTML(false)
	for _, rec := range batch {
		if err := enc.Encode(rec); err != nil {
			return nil, err
		}
	}
	out, err := processors.RunProgram(ctx, p.command, nil, programTimeout, in.Bytes())
	if err != nil {
		return nil, err
	}
	var list []any
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var res any
		if err := dec.Decode(&res); err != nil {
			return nil, fmt.Errorf("output of %q: result %d is not JSON: %w", p.command[0], len(list)+1, err)
		}
		list = append(list, res)
	}
	results, err := resultsOf(map[string]any{"data": list}, p.schema)
	if err != nil {
		return nil, fmt.Errorf("output of %q: %w", p.command[0], err)
	}
	return results, nil
}

// checkResult checks one validation result: is_valid a boolean or null, and the output
// schema, when there is one.
func checkResult(res map[string]any, schema *jsonschema.Schema) error {
	v, ok := res["is_valid"]
	if !ok {
		return errors.New("no is_valid")
	}
	if _, isBool := v.(bool); !isBool && v != nil {
		return fmt.Errorf("is_valid is %v, want true, false or null", v)
	}
	if schema == nil {
		return nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if err := schema.Validate(doc); err != nil {
		return fmt.Errorf("does not match output_schema: %w", err)
	}
	return nil
}
