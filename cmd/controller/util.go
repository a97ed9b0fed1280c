package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/rowforge/rowforge/pkg/config"
)

func baseName(p string) string { return filepath.Base(p) }
func extOf(p string) string    { return filepath.Ext(p) }

// writeColumns prints the columns in dependency order with what each reads.
func writeColumns(w io.Writer, cfg *config.Config) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tcolumn\tgenerator\ttype\tinputs\tdrop")
	for i, name := range cfg.Order {
		c := cfg.Column(name)
		gen := c.Type
		if c.Type == config.TypeSampler {
			gen += "/" + c.SamplerType
		}
		inputs := "-"
		if len(c.Inputs) > 0 {
			inputs = strings.Join(c.Inputs, ", ")
		}
		drop := ""
		if c.Drop {
			drop = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, c.Name, gen, c.Output, inputs, drop)
	}
	return tw.Flush()
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
