// Package secrets keeps literal API keys out of everything a run persists or publishes.
//
// A config may give a provider's api_key (or an MCP provider's, or a seed's hf token) as the
// name of an environment variable or as the key itself. A variable name is not a secret and
// travels as written. A model provider's extra_headers and an MCP stdio provider's env are
// always literal: the value of each entry whose name says it is a credential (CredentialName:
// Authorization, x-api-key, GITHUB_TOKEN...) is a secret too. A literal key is replaced,
// before the config is hashed, written or published, by a marker "redacted:<name>", where name
// says where the key was (for example "model_providers.local" or
// "model_providers.local.extra_headers.Authorization"). The literal stays in the controller's
// memory: its own model calls use it, and local mode hands it to its in-process workers
// (Resolver.Memory). A worker of a distributed deployment resolves a marker from its --secrets
// file or its environment (EnvName); one that cannot fails the group with a *MissingError that
// says how to give it.
//
// So builder_config.json, the run record in rf_runs and config_hash never depend on a key's
// value: the hash of a config is the same whatever key it carries.
package secrets

import (
	"regexp"
	"strings"
)

// MarkerPrefix starts every marker that stands for a redacted key.
const MarkerPrefix = "redacted:"

// Names of the secrets a config or a providers file can hold, by where the key was written.
const (
	modelProvider = "model_providers." // + the provider's name: the config's model_providers
	fileProvider  = "providers."       // + the provider's name: the controller's --providers file
	mcpProvider   = "mcp_providers."   // + the provider's name: the config's mcp_providers
	seedToken     = "seed_config.token"
	// A credential header or variable adds ".extra_headers.<header>" or ".env.<variable>" to
	// its provider's name (headerSecret, envSecret).
)

// envName matches what the engine reads as the name of an environment variable rather than
// a key (llm.APIKey): keys have dashes or dots.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Store maps secret names to their values.
type Store map[string]string

// Marker returns the marker that stands for the secret name.
func Marker(name string) string { return MarkerPrefix + name }

// MarkerName returns the secret name a marker stands for, and false for a value that is not a
// marker.
func MarkerName(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, MarkerPrefix)
	return name, ok && name != ""
}

// IsLiteral reports whether an api_key or token value is the key itself: not empty, not the
// name of an environment variable and not already a marker.
func IsLiteral(s string) bool {
	if s == "" || envName.MatchString(s) {
		return false
	}
	_, marker := MarkerName(s)
	return !marker
}

// upperEnvName is the stricter test for values whose users do not follow llm.APIKey's rule:
// an MCP provider's api_key (read as a variable only when the worker has it set) and a seed's
// hf token, whose literal form (hf_ and letters) also matches envName. Only a name in capitals
// is taken for a variable there; anything else is redacted, since a leaked key costs more than
// a lowercase variable name that a worker must then be given as a secret.
var upperEnvName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// isLiteralToken is IsLiteral for MCP api_key and seed token values (see upperEnvName).
func isLiteralToken(s string) bool {
	if s == "" || upperEnvName.MatchString(s) {
		return false
	}
	_, marker := MarkerName(s)
	return !marker
}

// Display is an api_key value as logs may show it: the variable name or the marker as is, a
// literal key as its marker-like placeholder. Logs never print a key.
func Display(s string) string {
	if IsLiteral(s) {
		return MarkerPrefix + "literal key"
	}
	return s
}

// EnvName is the environment variable a worker reads the secret name from when its --secrets
// file does not have it: RF_SECRET_ and the name in capitals, with every character that cannot
// be in a variable name replaced by an underscore ("model_providers.local" →
// RF_SECRET_MODEL_PROVIDERS_LOCAL).
func EnvName(name string) string {
	var b strings.Builder
	b.WriteString("RF_SECRET_")
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
