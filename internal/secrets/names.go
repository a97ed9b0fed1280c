package secrets

import "strings"

// credentialWords are the parts of a header or environment variable name that say its value
// is a credential. "auth" covers Authorization, Proxy-Authorization and X-Auth-Token; "key"
// covers api-key, x-api-key and AWS_SECRET_ACCESS_KEY.
var credentialWords = []string{"auth", "key", "token", "secret", "password", "passwd", "cookie", "credential"}

// CredentialName reports whether the header or environment variable called name carries a
// credential, so that its value is redacted like a literal api_key: a model provider's
// extra_headers and an MCP stdio provider's env are sent or handed over as written, with no
// variable indirection, so the name is the only hint of what the value is. The test is a
// case-insensitive substring match of credentialWords. It errs toward redacting: a
// harmless KEYBOARD_LAYOUT is redacted too, which costs a distributed worker one more entry
// in its secrets file, whereas a missed token would be published with every run record.
func CredentialName(name string) bool {
	lower := strings.ToLower(name)
	for _, w := range credentialWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// isSecretValue reports whether a credential header's or variable's value is to be redacted:
// anything but empty and a marker. Unlike api_key, such a value is never a variable name.
func isSecretValue(s string) bool {
	if s == "" {
		return false
	}
	_, marker := MarkerName(s)
	return !marker
}

// headerSecret is the secret name of a model provider's credential header, as the marker
// "redacted:<provider prefix><provider>.extra_headers.<header>" carries it; provider is the
// provider's secret name ("model_providers.local" or "providers.local").
func headerSecret(provider, header string) string { return provider + ".extra_headers." + header }

// envSecret is the secret name of an MCP stdio provider's credential variable.
func envSecret(provider, variable string) string { return provider + ".env." + variable }
