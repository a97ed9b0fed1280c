package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rowforge/rowforge/internal/pyfmt"
)

// LLM column types (Data Designer's `column_type`).
const (
	TypeLLMText       = "llm-text"
	TypeLLMCode       = "llm-code"
	TypeLLMStructured = "llm-structured"
	TypeLLMJudge      = "llm-judge"
)

// IsLLM reports whether a column type calls a model.
func IsLLM(columnType string) bool {
	switch columnType {
	case TypeLLMText, TypeLLMCode, TypeLLMStructured, TypeLLMJudge:
		return true
	}
	return false
}

// LLM holds the fields of an LLM column (Column.LLM; nil for other types).
type LLM struct {
	ModelAlias   string
	Prompt       string // Jinja template over other columns
	SystemPrompt string // Jinja template; "" for none
	// CodeLang is llm-code's language (Data Designer's CodeLang: python, go, sql:postgres, …).
	CodeLang string
	// OutputFormat is llm-structured's JSON schema, as the config wrote it (CompileSchema
	// compiles it). It is shared with Raw: read it, do not modify it.
	OutputFormat map[string]any
	// Scores are llm-judge's rubric; the column's value is a JSON object with one entry per score.
	Scores []Score
	// MaxConversationRestarts is how many times a reply that fails validation (llm-structured,
	// llm-judge, llm-code without code) is asked again before the row is dropped (default 5).
	MaxConversationRestarts int
	// WithTrace (TraceNone, TraceLastMessage or TraceAllMessages) and ExtractReasoning add
	// the side columns SideColumns names.
	WithTrace        string
	ExtractReasoning bool
	// ToolAlias names the tool_configs entry whose MCP tools the model may call; "" for none.
	ToolAlias string
	// Images are multi_modal_context: images from other columns, sent before the prompt.
	Images []ImageContext
}

// ImageContext is an image entry of multi_modal_context: the images of a column (a value, or
// a list of them, or its JSON), as URLs or base64 data.
type ImageContext struct {
	Column string
	// DataType is "url", "base64" or "" (decided per value: a data URI or an http(s) URL with an
	// image extension is used as is, anything else is base64).
	DataType string
	// Format is the image format of base64 values without a data URI (png, jpg, jpeg, gif,
	// webp); "" detects it from the bytes. Required with DataType "base64".
	Format string
}

// Image data types and formats of multi_modal_context, as Data Designer names them.
const (
	ImageURL    = "url"
	ImageBase64 = "base64"
)

// ImageFormats are Data Designer's image formats.
var ImageFormats = []string{"png", "jpg", "jpeg", "gif", "webp"}

// Score is one criterion of an llm-judge column.
type Score struct {
	Name        string
	Description string
	// Options maps each allowed score (keys are strings, as Data Designer normalizes them) to
	// what it means.
	Options map[string]string
}

// Model is a `model_configs` entry: an alias columns name, the model and its provider.
type Model struct {
	Alias    string
	Model    string // the model name the endpoint expects
	Provider string // a Provider's Name
	Params   InferenceParams
	// SkipHealthCheck leaves the model out of the check a run makes before its first group
	// (one small request per model): for an endpoint the controller's machine cannot reach.
	SkipHealthCheck bool
}

// InferenceParams are a model's `inference_parameters` (chat-completion).
type InferenceParams struct {
	// GenerationType is GenerationEmbedding for an embedding model, else "" (chat-completion).
	GenerationType string
	// EncodingFormat (float or base64) and Dimensions (0: the model's own) are an embedding
	// model's.
	EncodingFormat string
	Dimensions     int
	Temperature    *Distribution // nil: the endpoint's default
	TopP           *Distribution
	MaxTokens      int // 0: the endpoint's default
	// MaxParallelRequests caps the requests in flight to this model for the whole run, across
	// every worker (default 4).
	MaxParallelRequests int
	Timeout             time.Duration // per request; 0: no timeout of its own
	// ExtraBody are fields added to each request's JSON body. It is shared with Raw: read it,
	// do not modify it.
	ExtraBody map[string]any
}

// Distribution is a number, or a distribution a number is drawn from for each request
// (`{distribution_type: uniform, params: {low, high}}` or `{distribution_type: manual,
// params: {values, weights}}`).
type Distribution struct {
	Fixed   *float64
	Uniform *[2]float64 // low, high (low < high)
	Values  []float64   // manual
	Weights []float64   // manual; nil: uniform; normalized to sum 1
}

// Provider is a model provider, as in Data Designer's providers file.
type Provider struct {
	Name         string
	Endpoint     string // base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1
	ProviderType string // "openai"
	// APIKey is the name of an environment variable holding the key, or the key itself; in a
	// config read back from a run record, a literal key is a marker (see package secrets).
	APIKey string
	// ExtraHeaders are sent with every request; ExtraBody's fields are added to every request
	// body (a model's own extra_body wins over its provider's). In a config read back from a
	// run record, a credential header's value (Authorization, x-api-key...) is a marker.
	ExtraHeaders map[string]string
	ExtraBody    map[string]any
}

// DefaultMaxParallelRequests is InferenceParams.MaxParallelRequests when a model does not set
// it, as in Data Designer.
const DefaultMaxParallelRequests = 4

// GenerationChatCompletion is the default `generation_type`; Data Designer's image models are
// not supported yet.
const GenerationChatCompletion = "chat-completion"

// ProviderOpenAI is the only `provider_type`: an OpenAI-compatible chat completions API.
const ProviderOpenAI = "openai"

var generationTypes = []string{GenerationChatCompletion, "embedding", "image"}

var distributionTypes = []string{"uniform", "manual"}

// Model returns the model with the alias or nil.
func (c *Config) Model(alias string) *Model {
	for _, m := range c.Models {
		if m != nil && m.Alias == alias {
			return m
		}
	}
	return nil
}

// modelField is the key path under which problems of a model are reported: its alias when it
// has a usable one, else its position.
func modelField(alias string, i int) string {
	if strings.TrimSpace(alias) != "" {
		return "model_configs[" + alias + "]"
	}
	return fmt.Sprintf("model_configs[%d]", i)
}

// providerField is modelField for model_providers.
func providerField(name string, i int) string {
	if strings.TrimSpace(name) != "" {
		return "model_providers[" + name + "]"
	}
	return fmt.Sprintf("model_providers[%d]", i)
}

// parseModels decodes `model_configs`. It also reports whether an entry was left without a
// usable alias, so that columns naming an alias that matches none are not blamed for it.
func parseModels(v any, p *problems) (models []*Model, aliasless bool) {
	list, ok := listOf(v, "model_configs", "want a list of models", p)
	if !ok {
		// A section that is there but no list leaves its models without aliases too.
		return nil, !isEmpty(v)
	}
	names := uniqueNames{}
	for i, m := range mappingsOf(list, "model_configs", "want a model mapping with alias, model and provider", p) {
		alias, _ := m["alias"].(string)
		f := newFields(p, "", modelField(alias, i)+".", "key", m)
		model := &Model{}
		if a, ok := f.str("alias", true); ok {
			model.Alias = a
			if !names.named(f, "alias", a, i, "model alias", "model_configs") {
				model.Alias = ""
			}
		}
		if model.Alias == "" {
			aliasless = true
		}
		model.Model = nonBlank(f, "model")
		model.Provider = nonBlank(f, "provider")
		model.SkipHealthCheck, _ = f.bool("skip_health_check")
		model.Params = InferenceParams{MaxParallelRequests: DefaultMaxParallelRequests}
		if pm, ok := f.mapping("inference_parameters", false, "a mapping"); ok {
			parseInferenceParams(newFields(p, "", f.prefix+"inference_parameters.", "key", pm), &model.Params)
		}
		f.unknown()
		models = append(models, model)
	}
	// Each mapping made a model: an entry that made none was no mapping, and has no alias.
	return models, aliasless || len(models) < len(list)
}

// nonBlank reads a required string that must not be blank.
func nonBlank(f *fields, key string) string {
	s, ok := f.str(key, true)
	if ok && strings.TrimSpace(s) == "" {
		f.errorf(key, "must not be empty")
	}
	return s
}

// parseInferenceParams decodes chat-completion inference_parameters into ip, which holds the
// defaults.
func parseInferenceParams(f *fields, ip *InferenceParams) {
	// As in Data Designer, encoding_format or dimensions make embedding params too.
	if f.has("encoding_format") || f.has("dimensions") {
		ip.GenerationType = GenerationEmbedding
	}
	if gt, ok := f.str("generation_type", false); ok {
		switch {
		case gt == GenerationChatCompletion:
			ip.GenerationType = ""
		case gt == GenerationEmbedding:
			ip.GenerationType = gt
		case slices.Contains(generationTypes, gt):
			f.errorf("generation_type", "generation_type %q is not supported yet (%s and %s are)", gt, GenerationChatCompletion, GenerationEmbedding)
			return // the other keys depend on the generation type
		default:
			f.errorf("generation_type", "%s", unknownMsg("generation_type", gt, generationTypes))
			return
		}
	}
	if ip.GenerationType == GenerationEmbedding {
		if e, ok := f.str("encoding_format", false); ok {
			if e != "float" && e != "base64" {
				f.errorf("encoding_format", "%s", unknownMsg("encoding_format", e, []string{"float", "base64"}))
			}
			ip.EncodingFormat = e
		}
		if n, ok := f.intAtLeast("dimensions", 1); ok {
			ip.Dimensions = n
		}
	} else {
		ip.Temperature = distribution(f, "temperature", 0, 2)
		ip.TopP = distribution(f, "top_p", 0, 1)
		if n, ok := f.intAtLeast("max_tokens", 1); ok {
			ip.MaxTokens = n
		}
	}
	if n, ok := f.intAtLeast("max_parallel_requests", 1); ok {
		ip.MaxParallelRequests = n
	}
	if secs, ok := f.float("timeout", false); ok {
		if err := checkModelTimeout(secs); err != nil {
			f.errorf("timeout", "%v", err)
		} else {
			ip.Timeout = time.Duration(secs * float64(time.Second))
		}
	}
	if m, ok := f.mapping("extra_body", false, "a mapping of fields to add to each request"); ok {
		ip.ExtraBody = m
	}
	f.unknown()
}

// checkModelTimeout checks a request timeout in seconds: at least 1, as Data Designer has it.
func checkModelTimeout(secs float64) error {
	if !(secs >= 1) {
		return fmt.Errorf("must be at least 1 second, got %s", pyfmt.Float(secs))
	}
	return checkTimeout(secs)
}

// distribution decodes a sampling parameter that is a number, or a distribution a number is
// drawn from for each request. Every value it can give must lie in [lo, hi], as Data Designer
// checks them. It returns nil when the key is unset or has problems.
func distribution(f *fields, key string, lo, hi float64) *Distribution {
	v, ok := f.get(key)
	if !ok {
		return nil
	}
	before := len(f.p.errs)
	inRange := func(df *fields, field string, x float64) {
		if !(x >= lo && x <= hi) {
			df.errorf(field, "must be between %s and %s, got %s", pyfmt.Float(lo), pyfmt.Float(hi), pyfmt.Float(x))
		}
	}
	d := &Distribution{}
	switch x := v.(type) {
	case int64, float64:
		n, _ := number(x)
		inRange(f, key, n)
		d.Fixed = &n
	case map[string]any:
		df := newFields(f.p, f.column, f.prefix+key+".", "key", x)
		dt, okType := df.str("distribution_type", true)
		if okType && !slices.Contains(distributionTypes, dt) {
			df.errorf("distribution_type", "%s", unknownMsg("distribution_type", dt, distributionTypes))
			okType = false
		}
		pv, okParams := df.required("params")
		params, isMap := pv.(map[string]any)
		if okParams && !isMap {
			df.errorf("params", "want a mapping, got %s", describe(pv))
		}
		df.unknown()
		if !okType || !isMap {
			return nil // without a known type the allowed params are unknown
		}
		pf := newFields(f.p, f.column, df.prefix+"params.", "param", params)
		switch dt {
		case "uniform":
			low, okLow := pf.float("low", true)
			high, okHigh := pf.float("high", true)
			if okLow {
				inRange(pf, "low", low)
			}
			if okHigh {
				inRange(pf, "high", high)
			}
			if okLow && okHigh && !(low < high) {
				pf.errorf("high", "must be greater than low (low %s, high %s)", pyfmt.Float(low), pyfmt.Float(high))
			}
			d.Uniform = &[2]float64{low, high}
		case "manual":
			if vv, ok := pf.required("values"); ok {
				d.Values = numberList(pf, "values", vv)
				for i, x := range d.Values {
					inRange(pf, fmt.Sprintf("values[%d]", i), x)
				}
			}
			if d.Values != nil {
				d.Weights = weights(pf, len(d.Values))
			} else {
				pf.get("weights") // cannot be checked without valid values, but is no unknown key
			}
		}
		pf.unknown()
	default:
		f.errorf(key, "want a number or a distribution ({distribution_type: uniform, params: {low, high}} or {distribution_type: manual, params: {values, weights}}), got %s", describe(v))
	}
	if len(f.p.errs) != before {
		return nil
	}
	return d
}

// numberList decodes a non-empty list of numbers.
func numberList(f *fields, key string, v any) []float64 {
	return listOfType(f, key, v, "numbers", "must list at least one value", "a number", number)
}

// parseProviders decodes `model_providers`, rowforge's addition to Data Designer's config: the
// providers of its models, which Data Designer keeps in a separate file.
func parseProviders(v any, p *problems) []*Provider {
	var providers []*Provider
	names := uniqueNames{}
	for i, m := range sectionMappings(v, "model_providers", "want a list of providers", "want a provider mapping with name and endpoint", p) {
		name, _ := m["name"].(string)
		f := newFields(p, "", providerField(name, i)+".", "key", m)
		pr := &Provider{ProviderType: ProviderOpenAI}
		if n, ok := f.str("name", true); ok {
			pr.Name = n
			names.named(f, "name", n, i, "provider name", "model_providers")
		}
		if ep, ok := f.str("endpoint", true); ok {
			pr.Endpoint = ep
			if err := checkEndpoint(ep); err != nil {
				f.errorf("endpoint", "%v", err)
			}
		}
		if pt, ok := f.str("provider_type", false); ok {
			pr.ProviderType = pt
			if pt != ProviderOpenAI {
				f.errorf("provider_type", "%s", unknownMsg("provider_type", pt, []string{ProviderOpenAI}))
			}
		}
		pr.APIKey, _ = f.str("api_key", false)
		if v, ok := f.get("extra_headers"); ok && !isEmpty(v) {
			pr.ExtraHeaders = map[string]string{}
			if m, isMap := v.(map[string]any); !isMap {
				f.errorf("extra_headers", "want a mapping of header names to values, got %s", describe(v))
			} else {
				for _, k := range sortedKeys(m) {
					s, isStr := m[k].(string)
					if !isStr {
						f.errorf("extra_headers."+k, "want a string, got %s", describe(m[k]))
					}
					pr.ExtraHeaders[k] = s
				}
			}
		}
		if v, ok := f.get("extra_body"); ok && !isEmpty(v) {
			if m, isMap := v.(map[string]any); !isMap {
				f.errorf("extra_body", "want a mapping of fields to add to each request, got %s", describe(v))
			} else {
				pr.ExtraBody = m
			}
		}
		f.unknown()
		providers = append(providers, pr)
	}
	return providers
}

// checkEndpoint checks that an endpoint is an absolute http or https URL with a host.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New("required")
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v", s, errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: want an http or https URL, such as https://api.openai.com/v1", s)
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// checkModels makes the checks of models built in code that the parser makes while decoding
// (Validate's counterpart of parseModels).
func checkModels(models []*Model, p *problems) (aliasless bool) {
	names := uniqueNames{}
	for i, m := range models {
		if m == nil {
			p.add("", fmt.Sprintf("model_configs[%d]", i), "nil model")
			continue
		}
		at := modelField(m.Alias, i)
		if !names.required(p, "", at+".alias", m.Alias, i, "model alias", "model_configs") {
			aliasless = true
		}
		if strings.TrimSpace(m.Model) == "" {
			p.add("", at+".model", "required")
		}
		if strings.TrimSpace(m.Provider) == "" {
			p.add("", at+".provider", "required")
		}
		ip := m.Params
		checkDistribution(ip.Temperature, at+".inference_parameters.temperature", 0, 2, p)
		checkDistribution(ip.TopP, at+".inference_parameters.top_p", 0, 1, p)
		if ip.MaxTokens < 0 {
			p.add("", at+".inference_parameters.max_tokens", "must be at least 1, got %d", ip.MaxTokens)
		}
		if ip.MaxParallelRequests < 1 {
			p.add("", at+".inference_parameters.max_parallel_requests", "must be at least 1, got %d", ip.MaxParallelRequests)
		}
		if ip.Timeout != 0 {
			if err := checkModelTimeout(ip.Timeout.Seconds()); err != nil {
				p.add("", at+".inference_parameters.timeout", "%v", err)
			}
		}
	}
	return aliasless
}

// checkDistribution checks a Distribution built in code: one form set, every value it can
// give in [lo, hi], manual weights one per value and summing to 1.
func checkDistribution(d *Distribution, at string, lo, hi float64, p *problems) {
	if d == nil {
		return
	}
	forms := 0
	for _, set := range []bool{d.Fixed != nil, d.Uniform != nil, d.Values != nil} {
		if set {
			forms++
		}
	}
	if forms != 1 {
		p.add("", at, "want exactly one of Fixed, Uniform and Values, got %d", forms)
		return
	}
	var values []float64
	switch {
	case d.Fixed != nil:
		values = []float64{*d.Fixed}
	case d.Uniform != nil:
		values = d.Uniform[:]
		if !(d.Uniform[0] < d.Uniform[1]) {
			p.add("", at+".params.high", "must be greater than low (low %s, high %s)", pyfmt.Float(d.Uniform[0]), pyfmt.Float(d.Uniform[1]))
		}
	default:
		values = d.Values
		if len(d.Values) == 0 {
			p.add("", at+".params.values", "must list at least one value")
		}
	}
	for _, x := range values {
		if !(x >= lo && x <= hi) {
			p.add("", at, "must be between %s and %s, got %s", pyfmt.Float(lo), pyfmt.Float(hi), pyfmt.Float(x))
			break
		}
	}
	if d.Weights == nil {
		return
	}
	if len(d.Weights) != len(d.Values) {
		p.add("", at+".params.weights", "%d weights for %d values: want one weight per value", len(d.Weights), len(d.Values))
		return
	}
	sum := 0.0
	for _, w := range d.Weights {
		if !(w >= 0) {
			p.add("", at+".params.weights", "must not be negative, got %s", pyfmt.Float(w))
			return
		}
		sum += w
	}
	if math.Abs(sum-1) > 1e-9 {
		p.add("", at+".params.weights", "must sum to 1, got %s", pyfmt.Float(sum))
	}
}

// checkProviders makes the checks of providers built in code that the parser makes while
// decoding (Validate's counterpart of parseProviders).
func checkProviders(providers []*Provider, p *problems) {
	names := uniqueNames{}
	for i, pr := range providers {
		if pr == nil {
			p.add("", fmt.Sprintf("model_providers[%d]", i), "nil provider")
			continue
		}
		at := providerField(pr.Name, i)
		names.required(p, "", at+".name", pr.Name, i, "provider name", "model_providers")
		if err := checkEndpoint(pr.Endpoint); err != nil {
			p.add("", at+".endpoint", "%v", err)
		}
		if pr.ProviderType != ProviderOpenAI {
			p.add("", at+".provider_type", "%s", unknownMsg("provider_type", pr.ProviderType, []string{ProviderOpenAI}))
		}
	}
}
