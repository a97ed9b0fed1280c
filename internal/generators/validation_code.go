package generators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rowforge/rowforge/internal/processors"
)

// lookPath finds a program on PATH; tests replace it.
var lookPath = exec.LookPath

// linterTimeout bounds one run of a linter over a batch.
const linterTimeout = 5 * time.Minute

// newCodeValidator returns the code validator of a language: Python and SQL through the
// linters Data Designer uses, run as programs. (Vitess has a well-kept MySQL parser in Go, but
// it brings glog, which starts a goroutine and registers flags in every process that links it:
// sqlfluff, Data Designer's own, checks every dialect.)
func newCodeValidator(lang string) (validator, error) {
	if lang == "python" {
		return newPythonValidator()
	}
	dialect := strings.TrimPrefix(lang, "sql:")
	bin, err := lookPath("sqlfluff")
	if err != nil {
		return nil, fmt.Errorf("the code validator for %s runs sqlfluff (Data Designer's SQL linter), which is not on this worker's PATH: install it (pip install sqlfluff, or apt install sqlfluff)", lang)
	}
	return &sqlfluffValidator{bin: bin, dialect: dialect}, nil
}

// Data Designer's Python checks: ruff's rules, sorted into pylint's message categories, and
// pylint's score.
var (
	pylintCategories = []string{"fatal", "error", "warning", "convention", "refactor"}
	validCategories  = []string{"warning", "convention", "refactor"}
	ruffCategories   = map[string]string{"E": "refactor", "F": "error", "SIM": "refactor", "PLC": "convention",
		"PLE": "error", "PLR": "refactor", "PLW": "warning", "SyntaxError": "fatal"}
)

// pythonValidator lints each record's code with ruff (Data Designer's linter, with its rules)
// or, when ruff is absent, pylint (pylint's own checks, sorted and scored the same way).
type pythonValidator struct {
	ruff, pylint, python string // paths; one of ruff and pylint is set; python counts statements
}

func newPythonValidator() (*pythonValidator, error) {
	v := &pythonValidator{}
	if p, err := lookPath("ruff"); err == nil {
		v.ruff = p
	} else if p, err := lookPath("pylint"); err == nil {
		v.pylint = p
	} else {
		return nil, fmt.Errorf("the python code validator runs ruff (Data Designer's linter) or pylint, and neither is on this worker's PATH: install one (pip install ruff, or apt install pylint)")
	}
	if p, err := lookPath("python3"); err == nil {
		v.python = p
	}
	return v, nil
}

type lintMessage struct {
	Type    string `json:"type"`
	Symbol  string `json:"symbol"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (v *pythonValidator) check(ctx context.Context, batch []map[string]any) ([]map[string]any, error) {
	dir, files, _, err := writeBatch(batch, "rowforge-python-*", ".py")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	msgs, err := v.lint(ctx, dir, files)
	if err != nil {
		return nil, err
	}
	statements := v.statements(ctx, files)
	out := make([]map[string]any, len(batch))
	for i, f := range files {
		m := msgs[f]
		slices.SortStableFunc(m, func(a, b lintMessage) int {
			if d := slices.Index(pylintCategories, a.Type) - slices.Index(pylintCategories, b.Type); d != 0 {
				return d
			}
			return a.Line - b.Line
		})
		severity := "none"
		valid := true
		if len(m) > 0 {
			severity = m[0].Type
			valid = slices.Contains(validCategories, severity)
		}
		if m == nil {
			m = []lintMessage{}
		}
		out[i] = map[string]any{"is_valid": valid, "python_linter_score": pylintScore(m, statements[i]),
			"python_linter_severity": severity, "python_linter_messages": m}
	}
	return out, nil
}

// pylintScore is pylint's evaluation: 10 - (5 × errors + warnings + refactors + conventions)
// / statements × 10, at least 0, and 0 with a fatal message.
func pylintScore(msgs []lintMessage, statements int) float64 {
	count := map[string]int{}
	for _, m := range msgs {
		count[m.Type]++
	}
	if count["fatal"] > 0 {
		return 0
	}
	statements = max(statements, 1)
	bad := float64(5*count["error"] + count["warning"] + count["refactor"] + count["convention"])
	return max(0, 10-bad/float64(statements)*10)
}

// lint runs the linter over the batch's files and returns their messages by file.
func (v *pythonValidator) lint(ctx context.Context, dir string, files []string) (map[string][]lintMessage, error) {
	out := map[string][]lintMessage{}
	if v.ruff != "" {
		stdout, err := runLinter(ctx, []string{v.ruff, "check", "--select", "E,F6,F7,F8,SIM,PLC,PLE,PLR,PLW", "--output-format=json", "--no-cache", dir})
		if err != nil {
			return nil, err
		}
		var diags []struct {
			Code     *string `json:"code"`
			Filename string  `json:"filename"`
			Message  string  `json:"message"`
			Location struct {
				Row    int `json:"row"`
				Column int `json:"column"`
			} `json:"location"`
		}
		if err := json.Unmarshal(stdout, &diags); err != nil {
			return nil, fmt.Errorf("ruff's output is not its JSON: %w", err)
		}
		for _, d := range diags {
			code := "SyntaxError"
			if d.Code != nil {
				code = *d.Code
			}
			typ, ok := ruffCategories[strings.TrimRightFunc(code, func(r rune) bool { return r >= '0' && r <= '9' })]
			if !ok {
				typ = "warning"
			}
			out[d.Filename] = append(out[d.Filename], lintMessage{Type: typ, Symbol: code, Line: d.Location.Row, Column: d.Location.Column, Message: d.Message})
		}
		return out, nil
	}
	// pylint's naming and docstring conventions are left out: Data Designer's rules have none.
	stdout, err := runLinter(ctx, append([]string{v.pylint, "--output-format=json", "--score=n", "--persistent=n",
		"--disable=missing-module-docstring,missing-class-docstring,missing-function-docstring,invalid-name"}, files...))
	if err != nil {
		return nil, err
	}
	var diags []struct {
		Type    string `json:"type"`
		Path    string `json:"path"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Symbol  string `json:"symbol"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(stdout, &diags); err != nil {
		return nil, fmt.Errorf("pylint's output is not its JSON: %w", err)
	}
	for _, d := range diags {
		path := d.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, filepath.Base(path))
		}
		out[path] = append(out[path], lintMessage{Type: d.Type, Symbol: d.Symbol, Line: d.Line, Column: d.Column, Message: d.Message})
	}
	return out, nil
}

// runLinter runs a linter, whose exit code says that it found something: only output that is
// not its JSON is a failure.
func runLinter(ctx context.Context, command []string) ([]byte, error) {
	out, err := processors.RunProgram(ctx, command, nil, linterTimeout, nil)
	var exit *processors.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.Code > 0 && exit.Code < 32) {
		return nil, err
	}
	return out, nil
}

// statements counts each file's Python statements with Python's own parser, as Data
// Designer does, or, without python3, its non-blank lines that are not comments.
func (v *pythonValidator) statements(ctx context.Context, files []string) []int {
	counts := make([]int, len(files))
	if v.python != "" {
		const script = `import ast, json, sys
out = []
for path in sys.argv[1:]:
    try:
        out.append(sum(isinstance(n, ast.stmt) for n in ast.walk(ast.parse(open(path, encoding="utf-8").read()))))
    except Exception:
        out.append(0)
print(json.dumps(out))`
		stdout, err := processors.RunProgram(ctx, append([]string{v.python, "-c", script}, files...), nil, linterTimeout, nil)
		if err == nil && json.Unmarshal(stdout, &counts) == nil && len(counts) == len(files) {
			return counts
		}
		counts = make([]int, len(files))
	}
	for i, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				counts[i]++
			}
		}
	}
	return counts
}

// decimalWithoutScale is Data Designer's own SQL check: DECIMAL(p) without a scale.
var decimalWithoutScale = regexp.MustCompile(`DECIMAL\(\d+\)`)

const decimalMessage = "Custom Check: Found DECIMAL definitions without a scale, which may be incorrect."

// sqlResult is Data Designer's SQL result: invalid when parsing found errors.
func sqlResult(query string, parseErrors []string) map[string]any {
	msgs := strings.Join(parseErrors, "\n")
	if decimalWithoutScale.MatchString(query) {
		msgs += "\n" + decimalMessage
	}
	return map[string]any{"is_valid": msgs == "", "error_messages": msgs}
}

// sqlfluffValidator lints each batch's queries with sqlfluff, as Data Designer does, keeping
// its parse errors (codes PRS).
type sqlfluffValidator struct{ bin, dialect string }

func (v *sqlfluffValidator) check(ctx context.Context, batch []map[string]any) ([]map[string]any, error) {
	dir, files, queries, err := writeBatch(batch, "rowforge-sql-*", ".sql")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	stdout, err := runLinter(ctx, append([]string{v.bin, "lint", "--dialect", v.dialect, "--format", "json", "--nofail", "--disable-progress-bar"}, files...))
	if err != nil {
		return nil, err
	}
	var reports []struct {
		Filepath   string `json:"filepath"`
		Violations []struct {
			Code        string `json:"code"`
			Description string `json:"description"`
		} `json:"violations"`
	}
	if err := json.Unmarshal(stdout, &reports); err != nil {
		return nil, fmt.Errorf("sqlfluff's output is not its JSON: %w", err)
	}
	byFile := map[string][]string{}
	for _, r := range reports {
		for _, viol := range r.Violations {
			if strings.HasPrefix(viol.Code, "PRS") {
				byFile[filepath.Base(r.Filepath)] = append(byFile[filepath.Base(r.Filepath)], viol.Code+": "+viol.Description)
			}
		}
	}
	out := make([]map[string]any, len(batch))
	for i, f := range files {
		out[i] = sqlResult(queries[i], byFile[filepath.Base(f)])
	}
	return out, nil
}

// soleText is the text of a record of one target column.
// writeBatch writes the code of each record (its one target column) to a file of its own,
// record_<i><ext>, in a new temporary directory named after pattern: the linters read files,
// and name them in their reports. It returns the files and the texts written; the caller
// removes dir.
func writeBatch(batch []map[string]any, pattern, ext string) (dir string, files, texts []string, err error) {
	dir, err = os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, nil, err
	}
	files, texts = make([]string, len(batch)), make([]string, len(batch))
	for i, rec := range batch {
		texts[i] = soleText(rec)
		files[i] = filepath.Join(dir, fmt.Sprintf("record_%d%s", i, ext))
		if err := os.WriteFile(files[i], []byte(texts[i]), 0o600); err != nil {
			os.RemoveAll(dir)
			return "", nil, nil, err
		}
	}
	return dir, files, texts, nil
}

func soleText(rec map[string]any) string {
	for _, x := range rec {
		s, _ := x.(string)
		return s
	}
	return ""
}
