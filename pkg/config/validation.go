package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rowforge/rowforge/pkg/frame"
)

// TypeValidation is Data Designer's validation column: it checks other columns and holds, per
// row, a JSON object with `is_valid` and what the validator adds.
const TypeValidation = "validation"

// Validator types (`validator_type`).
const (
	ValidatorCode          = "code"
	ValidatorLocalCallable = "local_callable"
	ValidatorRemote        = "remote"
)

var validatorTypes = []string{ValidatorCode, ValidatorLocalCallable, ValidatorRemote}

// validatorCodeLangs are the languages the code validator checks, as in Data Designer.
var validatorCodeLangs = []string{"python", "sql:sqlite", "sql:tsql", "sql:bigquery", "sql:mysql", "sql:postgres", "sql:ansi"}

// Data Designer's defaults.
const (
	DefaultValidationBatchSize  = 10
	DefaultRemoteTimeout        = 30.0
	DefaultRemoteMaxRetries     = 3
	DefaultRemoteRetryBackoff   = 2.0
	DefaultRemoteMaxParallelism = 4
)

// Validation is a validation column's settings.
type Validation struct {
	TargetColumns []string
	Type          string // ValidatorCode, ValidatorLocalCallable or ValidatorRemote
	BatchSize     int    // rows per validator call

	CodeLang string // code: python or sql:<dialect>

	// Command is a local_callable validator's program and arguments. Data Designer calls a
	// Python function; rowforge runs a program with the exec processor's contract: the batch's
	// target columns go to its stdin as JSON lines, and one JSON object per row, with
	// is_valid, comes back on its stdout.
	Command []string
	// OutputSchema (local_callable, remote) is a JSON schema each row's result must match.
	OutputSchema map[string]any

	// remote
	EndpointURL         string
	Timeout             float64 // seconds per request
	MaxRetries          int
	RetryBackoff        float64 // backoff factor: retry k waits RetryBackoff × 2^(k-1) seconds
	MaxParallelRequests int     // requests in flight for the whole run, across workers
}

// parseValidation decodes a validation column.
func parseValidation(f *fields, col *Column) {
	v := &Validation{BatchSize: DefaultValidationBatchSize}
	col.Validation, col.Output = v, frame.String
	if tv, ok := f.required("target_columns"); ok {
		list, isList := tv.([]any)
		if !isList || len(list) == 0 {
			f.errorf("target_columns", "want a list of column names, got %s", describe(tv))
		}
		for i, x := range list {
			s, ok := x.(string)
			if !ok || strings.TrimSpace(s) == "" {
				f.errorf(fmt.Sprintf("target_columns[%d]", i), "want a column name, got %s", describe(x))
				continue
			}
			v.TargetColumns = append(v.TargetColumns, s)
		}
		col.Inputs = slices.Compact(slices.Sorted(slices.Values(v.TargetColumns)))
	}
	if n, ok := f.intAtLeast("batch_size", 1); ok {
		v.BatchSize = n
	}
	vt, ok := f.str("validator_type", true)
	var params map[string]any
	if pv, has := f.required("validator_params"); has {
		if params, has = pv.(map[string]any); !has {
			f.errorf("validator_params", "want a mapping, got %s", describe(pv))
		}
	}
	if s, ok := params["validator_type"].(string); ok { // as with sampler_type, the params' own wins
		vt = s
	}
	if !ok && vt == "" {
		return
	}
	if !slices.Contains(validatorTypes, vt) {
		f.errorf("validator_type", "%s", unknownMsg("validator_type", vt, validatorTypes))
		return
	}
	v.Type = vt
	if params == nil {
		return
	}
	pf := newFields(f.p, col.Name, f.prefix+"validator_params.", "param", params)
	pf.get("validator_type")
	switch vt {
	case ValidatorCode:
		if lang, ok := pf.str("code_lang", true); ok {
			if !slices.Contains(validatorCodeLangs, lang) {
				pf.errorf("code_lang", "%s", unknownMsg("code_lang", lang, validatorCodeLangs))
			}
			v.CodeLang = lang
		}
	case ValidatorLocalCallable:
		if fn, ok := pf.get("validation_function"); ok {
			pf.errorf("validation_function", "a Python function (%s) cannot run here: rowforge runs a program instead — give validator_params.command, "+
				"a program that reads the batch as JSON lines on stdin and writes one JSON object per row, with is_valid, on stdout", describe(fn))
		}
		v.Command = parseCommand(pf)
		v.OutputSchema = outputSchema(pf)
	case ValidatorRemote:
		v.EndpointURL, _ = pf.str("endpoint_url", true)
		if v.EndpointURL != "" && !strings.HasPrefix(v.EndpointURL, "http://") && !strings.HasPrefix(v.EndpointURL, "https://") {
			pf.errorf("endpoint_url", "want an http or https URL, got %q", v.EndpointURL)
		}
		v.OutputSchema = outputSchema(pf)
		v.Timeout, v.MaxRetries, v.RetryBackoff, v.MaxParallelRequests = DefaultRemoteTimeout, DefaultRemoteMaxRetries, DefaultRemoteRetryBackoff, DefaultRemoteMaxParallelism
		if x, ok := pf.floatAbove("timeout", 0); ok {
			v.Timeout = x
		}
		if n, ok := pf.intAtLeast("max_retries", 0); ok {
			v.MaxRetries = n
		}
		if x, ok := pf.floatAbove("retry_backoff", 1); ok {
			v.RetryBackoff = x
		}
		if n, ok := pf.intAtLeast("max_parallel_requests", 1); ok {
			v.MaxParallelRequests = n
		}
	}
	pf.unknown()
}

// parseCommand reads a program and its arguments: a list of strings, the program first.
func parseCommand(f *fields) []string {
	if v, ok := f.required("command"); ok {
		return stringList(f, "command", v)
	}
	return nil
}

// outputSchema reads an optional output_schema (a JSON schema) and checks that it compiles.
func outputSchema(f *fields) map[string]any {
	v, ok := f.get("output_schema")
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		f.errorf("output_schema", "want a JSON schema (a mapping), got %s", describe(v))
		return nil
	}
	if _, err := CompileSchema(m); err != nil {
		f.errorf("output_schema", "not a valid JSON schema: %v", err)
	}
	return m
}
