package profile

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
)

//go:embed report.html.tmpl
var templates embed.FS

var reportTmpl = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"bars": bars,
	"num":  func(x float64) string { return fmtNum(x) },
	"pct": func(n, of int) string {
		if of == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
	},
}).ParseFS(templates, "report.html.tmpl"))

// Write profiles the finished dataset in dir and saves the profile there.
func Write(ctx context.Context, dir string, opts Options) (*Analysis, error) {
	a, err := Build(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	return a, Save(dir, a)
}

// Save writes analysis.json and report.html of a into dir, each atomically (a temp file
// renamed).
func Save(dir string, a *Analysis) error {
	js, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	html, err := Render(a)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{AnalysisFile, append(js, '\n')}, {ReportFile, html}} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	return nil
}

// Render returns the report of a: one HTML page with its styles and plots (inline SVG), no
// script and nothing to fetch, so it opens anywhere, offline.
func Render(a *Analysis) ([]byte, error) {
	var b bytes.Buffer
	if err := reportTmpl.Execute(&b, a); err != nil {
		return nil, fmt.Errorf("profile: render report: %w", err)
	}
	return b.Bytes(), nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// bars draws a histogram as a horizontal bar chart in SVG.
func bars(h *Histogram) template.HTML {
	if h == nil || len(h.Counts) == 0 {
		return ""
	}
	const (
		labelW, barW, countW, rowH = 220, 360, 70, 18
	)
	most := 1
	for _, c := range h.Counts {
		most = max(most, c)
	}
	height := rowH*len(h.Counts) + 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d">`,
		labelW+barW+countW, height, labelW+barW+countW, height)
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(h.Label))
	for i, c := range h.Counts {
		y := i*rowH + 2
		label := h.Categories[i]
		if r := []rune(label); len(r) > 32 {
			label = string(r[:31]) + "…"
		}
		w := barW * c / most
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`, labelW-6, y+13, template.HTMLEscapeString(label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" class="bar"><title>%s: %d</title></rect>`,
			labelW, y+2, max(w, 1), rowH-4, template.HTMLEscapeString(h.Categories[i]), c)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="cnt">%d</text>`, labelW+w+6, y+13, c)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every value in it is escaped above
}
