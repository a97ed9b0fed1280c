// Command mcpstub serves mcpstub's tools over stdio, for tests of MCP providers of type stdio.
//
//	mcpstub [-prefix P] [-pid-dir D]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/rowforge/rowforge/internal/mcpstub"
)

func main() {
	prefix := flag.String("prefix", "", "prefix of the tool names")
	pidDir := flag.String("pid-dir", "", "create a file named after the process id in this folder (tests check that the program ended)")
	flag.Parse()
	if *pidDir != "" {
		if err := os.WriteFile(filepath.Join(*pidDir, strconv.Itoa(os.Getpid())), nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mcpstub:", err)
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(os.Stderr, "mcpstub: serving on stdio")
	if err := mcpstub.New(*prefix).Run(ctx, &mcp.StdioTransport{}); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "mcpstub:", err)
		os.Exit(1)
	}
}
