package llm

import (
	"fmt"
	"net/url"
	"os"
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/rowforge/rowforge/pkg/config"
)

// DefaultProviders are Data Designer's built-in providers, used for a model whose provider the
// config and the providers file do not define. Their keys are read from the environment.
func DefaultProviders() []*config.Provider {
	return []*config.Provider{
		{Name: "nvidia", Endpoint: "https://integrate.api.nvidia.com/v1", ProviderType: "openai", APIKey: "NVIDIA_API_KEY"},
		{Name: "openai", Endpoint: "https://api.openai.com/v1", ProviderType: "openai", APIKey: "OPENAI_API_KEY"},
		{Name: "openrouter", Endpoint: "https://openrouter.ai/api/v1", ProviderType: "openai", APIKey: "OPENROUTER_API_KEY"},
	}
}

// ProvidersFile is Data Designer's providers file (model_providers.yaml):
//
//	providers:
//	  - {name: local, endpoint: http://localhost:8000/v1, provider_type: openai, api_key: VLLM_KEY}
//	default: local
type ProvidersFile struct {
	Providers []struct {
		Name         string            `yaml:"name"`
		Endpoint     string            `yaml:"endpoint"`
		ProviderType string            `yaml:"provider_type"`
		APIKey       string            `yaml:"api_key"`
		ExtraHeaders map[string]string `yaml:"extra_headers"`
		ExtraBody    map[string]any    `yaml:"extra_body"`
	} `yaml:"providers"`
	Default string `yaml:"default"`
}

// LoadProviders reads a providers file. Problems name the file and the provider.
func LoadProviders(path string) ([]*config.Provider, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("providers file: %w", err)
	}
	var f ProvidersFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("providers file %s: %w", path, err)
	}
	var out []*config.Provider
	seen := map[string]bool{}
	for i, p := range f.Providers {
		where := fmt.Sprintf("providers file %s: providers[%d]", path, i)
		if p.Name != "" {
			where = fmt.Sprintf("providers file %s: provider %q", path, p.Name)
		}
		switch {
		case p.Name == "":
			return nil, fmt.Errorf("%s: name is required", where)
		case seen[p.Name]:
			return nil, fmt.Errorf("%s: defined twice", where)
		case p.ProviderType != "" && p.ProviderType != "openai":
			return nil, fmt.Errorf("%s: provider_type %q is not supported (only openai, for OpenAI-compatible endpoints)", where, p.ProviderType)
		}
		if err := checkEndpoint(p.Endpoint); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		seen[p.Name] = true
		out = append(out, &config.Provider{Name: p.Name, Endpoint: p.Endpoint, ProviderType: "openai", APIKey: p.APIKey,
			ExtraHeaders: p.ExtraHeaders, ExtraBody: p.ExtraBody})
	}
	return out, nil
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q is not an http(s) URL", s)
	}
	return nil
}

// Resolve returns the providers by name: the config's own first, then the providers file's,
// then the built-in defaults.
func Resolve(fromConfig, fromFile []*config.Provider) map[string]*config.Provider {
	out := map[string]*config.Provider{}
	for _, list := range [][]*config.Provider{DefaultProviders(), fromFile, fromConfig} {
		for _, p := range list {
			out[p.Name] = p
		}
	}
	return out
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// APIKey returns the key of p: the value of the environment variable p.APIKey names, or
// p.APIKey itself when it cannot be a variable name (a key has dashes or dots). A variable that
// is not set gives no key, which local endpoints (vLLM, NIM) accept.
func APIKey(p *config.Provider) string {
	if p.APIKey == "" {
		return ""
	}
	if envName.MatchString(p.APIKey) {
		return os.Getenv(p.APIKey)
	}
	return p.APIKey
}
