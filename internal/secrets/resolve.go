package secrets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rowforge/rowforge/pkg/config"
)

// FileFormat describes the --secrets file, for help texts.
const FileFormat = `one secret a line, NAME=VALUE, where NAME is the marker's name without "redacted:" ` +
	`(model_providers.<provider>, providers.<provider> for the controller's --providers file, ` +
	`mcp_providers.<provider>, seed_config.token); blank lines and lines starting with # are skipped; ` +
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
// the endpoint answering 401 to the marker.
type MissingError struct {
	Secret string // the secret's name (the marker without "redacted:")
	Use    string // what needs it: `model "m" (provider "p")`, `MCP provider "p"`
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s: the api_key was a literal key, redacted from the run record as %q; "+
		"give it to this worker in its --secrets file as %s=<key> or in its environment as %s "+
		"(or name an environment variable in the config's api_key instead)",
		e.Use, Marker(e.Secret), e.Secret, EnvName(e.Secret))
}

// Fill replaces the markers that a worker needs with their values: the api_key of the provider
// each model of cfg uses (providers is the worker's resolution of provider names, whose
// entries it changes) and of each MCP provider a tool config names. A marker it cannot resolve
// is a *MissingError (several are joined); a provider nothing uses keeps its marker.
func (r *Resolver) Fill(cfg *config.Config, providers map[string]*config.Provider) error {
	var errs []error
	fill := func(key *string, use string) {
		name, ok := MarkerName(*key)
		if !ok {
			return
		}
		v, ok := r.Lookup(name)
		if !ok {
			errs = append(errs, &MissingError{Secret: name, Use: use})
			return
		}
		*key = v
	}
	done := map[*config.Provider]bool{}
	for _, m := range cfg.Models {
		if p := providers[m.Provider]; p != nil && !done[p] {
			done[p] = true
			fill(&p.APIKey, fmt.Sprintf("model %q (provider %q)", m.Alias, p.Name))
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
			fill(&p.APIKey, fmt.Sprintf("MCP provider %q", p.Name))
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
