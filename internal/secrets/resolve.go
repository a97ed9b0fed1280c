package secrets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/rowforge/rowforge/pkg/config"
)

// FileFormat describes the --secrets file, for help texts.
const FileFormat = `one secret a line, NAME=VALUE, where NAME is the marker's name without "redacted:" ` +
	`(model_providers.<provider>, providers.<provider> for the controller's --providers file, ` +
	`mcp_providers.<provider>, seed_config.token; a credential header or variable adds ` +
	`.extra_headers.<header> or .env.<variable> to its provider's name, and its VALUE is the whole ` +
	`header value, "Bearer " included); blank lines and lines starting with # are skipped; ` +
	`keep it mode 0600`

// Resolver finds the value of a marker: in the secrets it was given in memory (local mode's
// workers get the controller's), then in its secrets file, then in the environment variable
// EnvName(name). The zero Resolver reads only the environment.
type Resolver struct {
	Memory Store // from the controller in the same process; never sent anywhere
	File   Store // from LoadFile
	// Getenv reads the environment (default os.LookupEnv); tests replace it.
	Getenv func(string) (string, bool)
}

// Lookup returns the value of the secret name and whether the resolver has it.
func (r *Resolver) Lookup(name string) (string, bool) {
	if r == nil {
		return os.LookupEnv(EnvName(name))
	}
	if v, ok := r.Memory[name]; ok {
		return v, true
	}
	if v, ok := r.File[name]; ok {
		return v, true
	}
	getenv := r.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	return getenv(EnvName(name))
}

// MissingError is a marker a worker has no value for. The group fails with it, rather than
// the endpoint answering 401 to the marker (or an MCP server starting without its token).
type MissingError struct {
	Secret string // the secret's name (the marker without "redacted:")
	Use    string // what needs it: `model "m" (provider "p")`, `MCP provider "p"`
	// Field is what held the literal: "api_key" (also for the empty Field of older callers),
	// `header "Authorization"` or `env "GITHUB_TOKEN"`.
	Field string
}

func (e *MissingError) Error() string {
	field, value, hint := e.Field, "<value>", ""
	if field == "" || field == "api_key" {
		// Only an api_key can name a variable instead of holding the key.
		field, value, hint = "api_key", "<key>", " (or name an environment variable in the config's api_key instead)"
	}
	return fmt.Sprintf("%s: the %s was a literal secret, redacted from the run record as %q; "+
		"give it to this worker in its --secrets file as %s=%s or in its environment as %s%s",
		e.Use, field, Marker(e.Secret), e.Secret, value, EnvName(e.Secret), hint)
}

// Fill replaces the markers that a worker needs with their values: the api_key and the
// extra_headers values of the provider each model of cfg uses (providers is the worker's
// resolution of provider names, whose entries it changes; a header map is replaced by a
// filled copy, since it may be shared with the run record) and the api_key and env values of
// each MCP provider a tool config names. A header or variable is filled whatever its name:
// only redaction put a marker there. A marker it cannot resolve is a *MissingError (several
// are joined); a provider nothing uses keeps its markers.
func (r *Resolver) Fill(cfg *config.Config, providers map[string]*config.Provider) error {
	var errs []error
	fill := func(v string, use, field string) string {
		name, ok := MarkerName(v)
		if !ok {
			return v
		}
		value, ok := r.Lookup(name)
		if !ok {
			errs = append(errs, &MissingError{Secret: name, Use: use, Field: field})
			return v
		}
		return value
	}
	fillMap := func(m map[string]string, use, kind string) map[string]string {
		var out map[string]string
		for _, k := range slices.Sorted(maps.Keys(m)) { // errors in a stable order
			if _, marker := MarkerName(m[k]); !marker {
				continue
			}
			if out == nil {
				out = maps.Clone(m)
			}
			out[k] = fill(m[k], use, fmt.Sprintf("%s %q", kind, k))
		}
		if out == nil {
			return m
		}
		return out
	}
	done := map[*config.Provider]bool{}
	for _, m := range cfg.Models {
		if p := providers[m.Provider]; p != nil && !done[p] {
			done[p] = true
			use := fmt.Sprintf("model %q (provider %q)", m.Alias, p.Name)
			p.APIKey = fill(p.APIKey, use, "api_key")
			p.ExtraHeaders = fillMap(p.ExtraHeaders, use, "header")
		}
	}
	used := map[string]bool{}
	for _, t := range cfg.Tools {
		for _, name := range t.Providers {
			used[name] = true
		}
	}
	for _, p := range cfg.MCPProviders {
		if used[p.Name] {
			use := fmt.Sprintf("MCP provider %q", p.Name)
			p.APIKey = fill(p.APIKey, use, "api_key")
			p.Env = fillMap(p.Env, use, "env")
		}
	}
	return errors.Join(errs...)
}

// LoadFile reads a secrets file (FileFormat). A file others can read is accepted: the
// operator may have reasons, and refusing would only move the key into an environment
// variable.
func LoadFile(path string) (Store, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets file: %w", err)
	}
	out := Store{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			// The line may be a key: say where, never what.
			return nil, fmt.Errorf("secrets file %s: line %d: want NAME=VALUE", path, n)
		}
		out[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("secrets file %s: %w", path, err)
	}
	return out, nil
}
