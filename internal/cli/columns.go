package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rowforge/rowforge/pkg/config"
)

// WriteColumns prints the config's columns in dependency order with what each reads, so that
// a config's author sees the order the workers will generate them in.
func WriteColumns(w io.Writer, cfg *config.Config) error {
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
