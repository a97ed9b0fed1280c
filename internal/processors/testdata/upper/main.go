// Command upper is a small exec processor for the tests, written as a user would write one:
// it reads a row group as JSON lines on stdin, upper-cases the string column named by its
// argument, adds the column <name>_len with the length of the original text, and writes the
// rows back as JSON lines on stdout.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: upper COLUMN")
		os.Exit(2)
	}
	col := os.Args[1]
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		dec := json.NewDecoder(strings.NewReader(in.Text()))
		dec.UseNumber() // keep 2.0 a float and 2 an int
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			fmt.Fprintln(os.Stderr, "upper:", err)
			os.Exit(1)
		}
		if s, ok := row[col].(string); ok {
			row[col] = strings.ToUpper(s)
			row[col+"_len"] = len(s)
		} else {
			row[col+"_len"] = nil
		}
		if err := enc.Encode(row); err != nil {
			fmt.Fprintln(os.Stderr, "upper:", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "upper:", err)
		os.Exit(1)
	}
	if err := out.Flush(); err != nil {
		os.Exit(1)
	}
}
