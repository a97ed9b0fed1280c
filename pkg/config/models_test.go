package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

// ddExample is Data Designer's own example config (data-designer.md §2.4) without the parts
// rowforge does not have yet (seed_config, constraints, the validation column). Score option
// keys are written as YAML integers, as Python-built configs dump them.
const ddExample = `
model_configs:
  - alias: my_own_code_model
    model: openai/meta/llama-3.3-70b-instruct
    provider: openai
    inference_parameters:
      temperature: {distribution_type: uniform, params: {low: 0.5, high: 0.9}}
columns:
  - {name: code_id, column_type: sampler, sampler_type: uuid, params: {prefix: code_, short_form: true}}
  - {name: age, column_type: sampler, sampler_type: uniform, params: {low: 35, high: 88}}
  - {name: topic, column_type: sampler, sampler_type: category,
     params: {values: [Web Development, Data Science, Machine Learning]}}
  - {name: text, column_type: llm-text, model_alias: my_own_code_model,
     prompt: "Write a description of python code in topic {{ topic }}"}
  - {name: code, column_type: llm-code, model_alias: my_own_code_model, code_lang: python,
     prompt: "Write Python code for: {{ text }}"}
  - name: code_judge_result
    column_type: llm-judge
    model_alias: my_own_code_model
    prompt: "Judge the quality of {{ code }}"
    scores:
      - {name: Readability, description: "...", options: {4: "clear", 0: "unreadable"}}
`

func TestParseLLMExample(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(ddExample))
	require.NoError(t, err)
	require.Equal(t, []string{"code_id", "age", "topic", "text", "code", "code_judge_result"}, cfg.Order)

	require.Len(t, cfg.Models, 1)
	m := cfg.Model("my_own_code_model")
	require.Same(t, cfg.Models[0], m)
	require.Nil(t, cfg.Model("other"))
	require.Equal(t, &Model{
		Alias:    "my_own_code_model",
		Model:    "openai/meta/llama-3.3-70b-instruct",
		Provider: "openai",
		Params: InferenceParams{
			Temperature:         &Distribution{Uniform: &[2]float64{0.5, 0.9}},
			MaxParallelRequests: DefaultMaxParallelRequests,
		},
	}, m)
	require.Empty(t, cfg.Providers, "a model's provider need not be in model_providers")

	text := cfg.Column("text")
	require.Equal(t, TypeLLMText, text.Type)
	require.Equal(t, frame.String, text.Output)
	require.Equal(t, []string{"topic"}, text.Inputs)
	require.Equal(t, &LLM{
		ModelAlias:              "my_own_code_model",
		Prompt:                  "Write a description of python code in topic {{ topic }}",
		MaxConversationRestarts: DefaultMaxConversationRestarts,
		WithTrace:               TraceNone,
	}, text.LLM)

	code := cfg.Column("code")
	require.Equal(t, "python", code.LLM.CodeLang)
	require.Equal(t, []string{"text"}, code.Inputs)
	require.Equal(t, frame.String, code.Output)

	judge := cfg.Column("code_judge_result")
	require.Equal(t, []Score{{
		Name: "Readability", Description: "...",
		Options: map[string]string{"4": "clear", "0": "unreadable"},
	}}, judge.LLM.Scores)
	require.Equal(t, frame.String, judge.Output)

	var generated []string
	for _, c := range cfg.GeneratedColumns() {
		generated = append(generated, c.Name)
	}
	require.Equal(t, []string{"text", "code", "code_judge_result"}, generated)

	// Raw keeps the config as written: the distribution stays a distribution.
	raw := cfg.Raw["model_configs"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{
		"distribution_type": "uniform",
		"params":            map[string]any{"low": 0.5, "high": 0.9},
	}, raw["inference_parameters"].(map[string]any)["temperature"])
	again, err := Parse(cfg.JSON())
	require.NoError(t, err)
	require.Equal(t, cfg.Hash(), again.Hash(), "builder_config.json loads back as the same config")
}

func TestParseLLMColumns(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
model_configs:
  - {alias: m, model: gpt-x, provider: p}
columns:
  - {name: topic, column_type: sampler, sampler_type: category, params: {values: [soup]}}
  - {name: tone, column_type: sampler, sampler_type: category, params: {values: [dry]}}
  - name: recipe
    column_type: llm-structured
    model_alias: m
    system_prompt: "You are a chef. Be {{ tone }}."
    prompt: "A recipe for {{ topic }}"
    max_conversation_restarts: 0
    output_format:
      $defs:
        Step: {type: object, properties: {text: {type: string}}, required: [text]}
      type: object
      properties:
        title: {type: string}
        price: {type: number, decimal_places: 2}
        steps: {type: array, items: {$ref: "#/$defs/Step"}}
      required: [title, steps]
  - name: blurb
    column_type: llm-text
    model_alias: m
    prompt: "Sell {{ recipe.title }} in a {{ tone }} way"
    system_prompt: null
    multi_modal_context: []
    tool_alias: null
    with_trace: none
    extract_reasoning_content: false
    drop: true
`))
	require.NoError(t, err)
	recipe := cfg.Column("recipe")
	require.Equal(t, []string{"tone", "topic"}, recipe.Inputs, "prompt and system_prompt, sorted and unique")
	require.Equal(t, "You are a chef. Be {{ tone }}.", recipe.LLM.SystemPrompt)
	require.Equal(t, 0, recipe.LLM.MaxConversationRestarts)
	require.Equal(t, frame.String, recipe.Output)
	require.Contains(t, recipe.LLM.OutputFormat, "$defs")
	props := recipe.LLM.OutputFormat["properties"].(map[string]any)
	require.Equal(t, int64(2), props["price"].(map[string]any)["decimal_places"], "unknown keywords are kept")

	sch, err := CompileSchema(recipe.LLM.OutputFormat)
	require.NoError(t, err)
	require.NoError(t, sch.Validate(map[string]any{"title": "Soup", "price": 2.5, "steps": []any{map[string]any{"text": "boil"}}}))
	require.Error(t, sch.Validate(map[string]any{"title": "Soup", "steps": []any{map[string]any{}}}))

	blurb := cfg.Column("blurb")
	require.Equal(t, []string{"recipe", "tone"}, blurb.Inputs, "a field of a structured column reads the column")
	require.Empty(t, blurb.LLM.SystemPrompt)
	require.Equal(t, DefaultMaxConversationRestarts, blurb.LLM.MaxConversationRestarts)
	require.Equal(t, []string{"topic", "tone", "recipe", "blurb"}, cfg.Order)
	require.Equal(t, []string{"blurb"}, cfg.DroppedColumns())
}

func TestParseModelsAndProviders(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
columns:
  - {name: a, column_type: sampler, sampler_type: uuid}
model_configs:
  - {alias: plain, model: m1, provider: local}
  - alias: tuned
    model: m2
    provider: cloud
    skip_health_check: true
    inference_parameters:
      generation_type: chat-completion
      temperature: 0.7
      top_p: {distribution_type: manual, params: {values: [0.5, 0.9, 1], weights: [1, 2, 1]}}
      max_tokens: 512
      max_parallel_requests: 16
      timeout: 1.5
      extra_body: {reasoning: {effort: low}}
  - alias: manual
    model: m3
    provider: local
    inference_parameters:
      temperature: {distribution_type: manual, params: {values: [0, 2]}}
      top_p: 1
      timeout: null
model_providers:
  - {name: local, endpoint: "http://localhost:8000/v1"}
  - {name: cloud, endpoint: "https://api.example.com/v1", provider_type: openai, api_key: CLOUD_KEY,
     extra_headers: {X-Team: data}, extra_body: {seed: 1}}
`))
	require.NoError(t, err)
	require.Len(t, cfg.Models, 3)
	require.Equal(t, []string{"plain", "tuned", "manual"}, []string{cfg.Models[0].Alias, cfg.Models[1].Alias, cfg.Models[2].Alias})

	require.Equal(t, InferenceParams{MaxParallelRequests: 4}, cfg.Model("plain").Params, "defaults")
	require.False(t, cfg.Model("plain").SkipHealthCheck)
	require.True(t, cfg.Model("tuned").SkipHealthCheck)

	tuned := cfg.Model("tuned").Params
	require.Equal(t, &Distribution{Fixed: new(0.7)}, tuned.Temperature)
	require.Equal(t, []float64{0.5, 0.9, 1}, tuned.TopP.Values)
	require.InDeltaSlice(t, []float64{0.25, 0.5, 0.25}, tuned.TopP.Weights, 1e-12)
	require.Nil(t, tuned.TopP.Fixed)
	require.Nil(t, tuned.TopP.Uniform)
	require.Equal(t, 512, tuned.MaxTokens)
	require.Equal(t, 16, tuned.MaxParallelRequests)
	require.Equal(t, 1500*time.Millisecond, tuned.Timeout)
	require.Equal(t, map[string]any{"reasoning": map[string]any{"effort": "low"}}, tuned.ExtraBody)

	manual := cfg.Model("manual").Params
	require.Equal(t, &Distribution{Values: []float64{0, 2}}, manual.Temperature, "no weights: uniform over the values")
	require.Equal(t, &Distribution{Fixed: new(1.0)}, manual.TopP)
	require.Zero(t, manual.Timeout)

	require.Equal(t, []*Provider{
		{Name: "local", Endpoint: "http://localhost:8000/v1", ProviderType: ProviderOpenAI},
		{Name: "cloud", Endpoint: "https://api.example.com/v1", ProviderType: ProviderOpenAI, APIKey: "CLOUD_KEY",
			ExtraHeaders: map[string]string{"X-Team": "data"}, ExtraBody: map[string]any{"seed": int64(1)}},
	}, cfg.Providers)
}

// TestParseLLMFullForm loads the shape Data Designer exports: every optional field written
// out at its default.
func TestParseLLMFullForm(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`{
  "data_designer": {
    "columns": [
      {"name": "t", "column_type": "sampler", "sampler_type": "category", "params": {"values": ["a"]}},
      {"name": "x", "column_type": "llm-judge", "drop": false, "skip": null, "propagate_skip": true,
       "prompt": "Rate {{ t }}", "model_alias": "m", "system_prompt": null, "multi_modal_context": null,
       "tool_alias": null, "with_trace": "none", "extract_reasoning_content": false,
       "scores": [{"name": "q", "description": "quality", "options": {"1": "bad", "2": "good"}}]}
    ],
    "model_configs": [{"alias": "m", "model": "x/y", "provider": "nvidia", "skip_health_check": false,
      "inference_parameters": {"generation_type": "chat-completion", "temperature": null, "top_p": null,
        "max_tokens": null, "max_parallel_requests": 4, "timeout": null, "extra_body": null}}],
    "tool_configs": [], "seed_config": null, "constraints": null, "profilers": null, "processors": null
  },
  "library_version": "0.5.0"
}`))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"1": "bad", "2": "good"}, cfg.Column("x").LLM.Scores[0].Options)
	require.Equal(t, InferenceParams{MaxParallelRequests: 4}, cfg.Model("m").Params)
}

func TestParseLLMErrors(t *testing.T) {
	t.Parallel()
	const (
		models = "\nmodel_configs: [{alias: m, model: x, provider: p}]\ncolumns:\n  - {name: a, column_type: sampler, sampler_type: uuid}"
		judge  = `{name: j, column_type: llm-judge, model_alias: m, prompt: "{{ a }}", scores: `
	)
	col := func(s string) string { return models + "\n  - " + s }
	// model_configs with one entry; the column list holds one sampler.
	model := func(s string) string {
		return "columns:\n  - {name: a, column_type: sampler, sampler_type: uuid}\nmodel_configs:\n  - " + s
	}
	params := func(s string) string {
		return model("{alias: m, model: x, provider: p, inference_parameters: " + s + "}")
	}
	provider := func(s string) string {
		return "columns:\n  - {name: a, column_type: sampler, sampler_type: uuid}\nmodel_providers:\n  - " + s
	}
	tests := []struct {
		name   string
		yaml   string
		column string
		field  string
		msg    string
	}{
		// Fields of all LLM columns.
		{"missing model_alias", col(`{name: t, column_type: llm-text, prompt: "hi"}`), "t", "model_alias", "required"},
		{"model_alias not a string", col(`{name: t, column_type: llm-text, prompt: "hi", model_alias: [m]}`), "t", "model_alias", "want a string"},
		{"blank model_alias", col(`{name: t, column_type: llm-text, prompt: "hi", model_alias: " "}`), "t", "model_alias", "must not be empty"},
		{"missing prompt", col(`{name: t, column_type: llm-text, model_alias: m}`), "t", "prompt", "required"},
		{"blank prompt", col(`{name: t, column_type: llm-code, code_lang: go, model_alias: m, prompt: " \n"}`), "t", "prompt", "must not be blank"},
		{"invalid prompt", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "{{ a "}`), "t", "prompt", "invalid Jinja template"},
		{"invalid system_prompt", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", system_prompt: "{% if a %}"}`), "t", "system_prompt", "invalid Jinja template"},
		{"unknown reference in prompt", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "{{ aa }}"}`), "t", "prompt", `unknown reference "aa"`},
		{"unknown reference in system_prompt", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "{{ a }}", system_prompt: "{{ nope }}"}`), "t", "system_prompt", `unknown reference "nope"`},
		{"llm cycle", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "{{ u }}"}`) + "\n  - " + `{name: u, column_type: expression, expr: "{{ t }}"}`, "t", "prompt", "dependency cycle: t -> u -> t"},
		{"sampler reads llm", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi"}`) + "\n  - " + `{name: u, column_type: sampler, sampler_type: subcategory, params: {category: t, values: {x: [1]}}}`, "u", "params.category", `"t" is a llm-text column`},
		{"max_conversation_restarts negative", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", max_conversation_restarts: -1}`), "t", "max_conversation_restarts", "must be at least 0"},
		{"max_conversation_restarts fractional", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", max_conversation_restarts: 1.5}`), "t", "max_conversation_restarts", "want an integer"},
		{"unknown llm key", col(`{name: t, column_type: llm-text, model_alias: m, prompts: "hi"}`), "t", "prompts", `unknown key "prompts" (did you mean "prompt"?)`},
		{"code_lang on llm-text", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", code_lang: go}`), "t", "code_lang", `unknown key "code_lang"`},
		{"multi_modal_context audio", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", multi_modal_context: [{modality: audio, column_name: a}]}`), "t", "multi_modal_context[0].modality", `modality "audio" is not supported yet`},
		{"multi_modal_context base64 without format", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", multi_modal_context: [{modality: image, column_name: a, data_type: base64}]}`), "t", "multi_modal_context[0].image_format", "required when data_type is base64"},
		{"multi_modal_context format", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", multi_modal_context: [{modality: image, column_name: a, image_format: bmp}]}`), "t", "multi_modal_context[0].image_format", `unknown image_format "bmp"`},
		{"multi_modal_context column", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", multi_modal_context: [{modality: image, column_name: b}]}`), "t", "multi_modal_context[0].column_name", `unknown reference "b"`},
		{"multi_modal_context key", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", multi_modal_context: [{modality: image, column: a}]}`), "t", "multi_modal_context[0].column", `unknown key "column"`},
		{"multi_modal_context not a list", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", multi_modal_context: x}`), "t", "multi_modal_context", "want a list"},
		{"tool_alias", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", tool_alias: search}`), "t", "tool_alias", `unknown tool_alias "search": the config has no tool_configs`},
		{"embedding on a chat model", col(`{name: v, column_type: embedding, target_column: a, model_alias: m}`), "v", "model_alias", "is a chat-completion model; an embedding column needs one with generation_type: embedding"},
		{"embedding target", col(`{name: v, column_type: embedding, target_column: zz, model_alias: m}`), "v", "target_column", `unknown reference "zz"`},
		{"embedding without target", col(`{name: v, column_type: embedding, model_alias: m}`), "v", "target_column", "required"},
		{"side column name taken", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", with_trace: last_message}`) + "\n  - " + `{name: t__trace, column_type: expression, expr: "x"}`, "t__trace", "name", `has the name of a side column of "t" (its __trace)`},
		{"reads its own trace", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "{{ t__trace }}", with_trace: last_message}`), "t", "prompt", `column "t" reads itself`},
		{"skip reads its own trace", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "{{ a }}", with_trace: last_message, skip: {when: "{{ t__trace }}"}}`), "t", "skip.when", "cannot gate its own generation"},
		{"extract_reasoning_content not a bool", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", extract_reasoning_content: "yes"}`), "t", "extract_reasoning_content", "want true or false"},
		{"with_trace unknown", col(`{name: t, column_type: llm-text, model_alias: m, prompt: "hi", with_trace: all_message}`), "t", "with_trace", `unknown with_trace "all_message" (did you mean "all_messages"?)`},

		// llm-code.
		{"missing code_lang", col(`{name: t, column_type: llm-code, model_alias: m, prompt: "hi"}`), "t", "code_lang", "required"},
		{"code_lang typo", col(`{name: t, column_type: llm-code, model_alias: m, prompt: "hi", code_lang: pyhton}`), "t", "code_lang", `unknown code_lang "pyhton" (did you mean "python"?)`},
		{"code_lang sql typo", col(`{name: t, column_type: llm-code, model_alias: m, prompt: "hi", code_lang: "sql:postgre"}`), "t", "code_lang", `did you mean "sql:postgres"?`},
		{"code_lang unknown", col(`{name: t, column_type: llm-code, model_alias: m, prompt: "hi", code_lang: haskell}`), "t", "code_lang", `unknown code_lang "haskell" (want one of bash, c, cobol`},

		// llm-structured.
		{"missing output_format", col(`{name: t, column_type: llm-structured, model_alias: m, prompt: "hi"}`), "t", "output_format", "required"},
		{"output_format not a mapping", col(`{name: t, column_type: llm-structured, model_alias: m, prompt: "hi", output_format: "{}"}`), "t", "output_format", `want a JSON schema mapping, got string "{}"`},
		{"output_format bad type", col(`{name: t, column_type: llm-structured, model_alias: m, prompt: "hi", output_format: {type: strnig}}`), "t", "output_format", "not a valid JSON schema: at '/type': value must be one of"},
		{"output_format bad keyword value", col(`{name: t, column_type: llm-structured, model_alias: m, prompt: "hi", output_format: {type: object, properties: {x: {minimum: low}}}}`), "t", "output_format", "at '/properties/x/minimum': got string, want number"},
		{"output_format dangling ref", col(`{name: t, column_type: llm-structured, model_alias: m, prompt: "hi", output_format: {$ref: "#/$defs/Nope"}}`), "t", "output_format", `json-pointer in "#/$defs/Nope" not found`},
		{"output_format external ref", col(`{name: t, column_type: llm-structured, model_alias: m, prompt: "hi", output_format: {$ref: "other.json"}}`), "t", "output_format", `"other.json": a schema cannot load other documents`},
		{"output_format remote metaschema", col(`{name: t, column_type: llm-structured, model_alias: m, prompt: "hi", output_format: {$schema: "https://example.com/meta"}}`), "t", "output_format", `"https://example.com/meta": a schema cannot load other documents`},
		{"output_format remote ref", col(`{name: t, column_type: llm-structured, model_alias: m, prompt: "hi", output_format: {properties: {x: {$ref: "https://example.com/s.json"}}}}`), "t", "output_format", `"https://example.com/s.json": a schema cannot load other documents`},

		// llm-judge.
		{"missing scores", col(`{name: j, column_type: llm-judge, model_alias: m, prompt: "hi"}`), "j", "scores", "required"},
		{"empty scores", col(judge + "[]}"), "j", "scores", "must list at least one score"},
		{"scores not a list", col(judge + "{q: x}}"), "j", "scores", "want a list of scores"},
		{"score not a mapping", col(judge + "[q]}"), "j", "scores[0]", "want a mapping with name, description and options"},
		{"score missing name", col(judge + "[{description: d, options: {1: x}}]}"), "j", "scores[0].name", "required"},
		{"score missing description", col(judge + "[{name: q, options: {1: x}}]}"), "j", "scores[0].description", "required"},
		{"score missing options", col(judge + "[{name: q, description: d}]}"), "j", "scores[0].options", "required"},
		{"score empty options", col(judge + "[{name: q, description: d, options: {}}]}"), "j", "scores[0].options", "must list at least one option"},
		{"score options not a mapping", col(judge + "[{name: q, description: d, options: [1, 2]}]}"), "j", "scores[0].options", "want a mapping"},
		{"score option not a string", col(judge + "[{name: q, description: d, options: {1: 2}}]}"), "j", "scores[0].options.1", "want a string, got int 2"},
		{"duplicate score", col(judge + "[{name: q, description: d, options: {1: x}}, {name: q, description: e, options: {1: y}}]}"), "j", "scores[1].name", `duplicate score name "q": scores[0] and scores[1] both use it`},
		{"unknown score key", col(judge + "[{name: q, description: d, options: {1: x}, descripton: e}]}"), "j", "scores[0].descripton", `unknown key "descripton" (did you mean "description"?)`},

		// Model aliases of columns.
		{"unknown model alias", col(`{name: t, column_type: llm-text, model_alias: n, prompt: "hi"}`) + "\n  - " + `{name: u, column_type: llm-text, model_alias: mm, prompt: "hi"}`, "u", "model_alias", `unknown model alias "mm": did you mean "m"?`},
		{"unknown model alias far", col(`{name: t, column_type: llm-text, model_alias: other, prompt: "hi"}`), "t", "model_alias", `unknown model alias "other" (model_configs has m)`},
		{"no model_configs", "columns:\n  - {name: t, column_type: llm-text, model_alias: m, prompt: hi}", "t", "model_alias", "model_configs is required for LLM columns"},
		{"empty model_configs", "model_configs: []\ncolumns:\n  - {name: t, column_type: llm-text, model_alias: m, prompt: hi}", "t", "model_alias", "model_configs is required for LLM columns"},

		// model_configs.
		{"model_configs not a list", "columns:\n  - {name: a, column_type: sampler, sampler_type: uuid}\nmodel_configs: {alias: m}", "", "model_configs", "want a list of models"},
		{"model not a mapping", model("m"), "", "model_configs[0]", "want a model mapping"},
		{"model missing alias", model("{model: x, provider: p}"), "", "model_configs[0].alias", "required"},
		{"model blank alias", model(`{alias: "", model: x, provider: p}`), "", "model_configs[0].alias", "must not be empty"},
		{"model alias not a string", model("{alias: [m], model: x, provider: p}"), "", "model_configs[0].alias", "want a string"},
		{"model missing model", model("{alias: m, provider: p}"), "", "model_configs[m].model", "required"},
		{"model missing provider", model("{alias: m, model: x}"), "", "model_configs[m].provider", "required"},
		{"model blank provider", model(`{alias: m, model: x, provider: " "}`), "", "model_configs[m].provider", "must not be empty"},
		{"duplicate alias", model("{alias: m, model: x, provider: p}\n  - {alias: m, model: y, provider: p}"), "", "model_configs[m].alias", `duplicate model alias "m": model_configs[0] and model_configs[1] both use it`},
		{"unknown model key", model("{alias: m, model: x, provider: p, inference_params: {}}"), "", "model_configs[m].inference_params", `unknown key "inference_params" (did you mean "inference_parameters"?)`},
		{"skip_health_check not a bool", model("{alias: m, model: x, provider: p, skip_health_check: 1}"), "", "model_configs[m].skip_health_check", "want true or false"},
		{"inference_parameters not a mapping", params("[1]"), "", "model_configs[m].inference_parameters", "want a mapping"},
		{"unknown inference key", params("{temprature: 1}"), "", "model_configs[m].inference_parameters.temprature", `unknown key "temprature" (did you mean "temperature"?)`},
		{"generation_type image", params("{generation_type: image}"), "", "model_configs[m].inference_parameters.generation_type", `generation_type "image" is not supported yet`},
		{"embedding encoding_format", params("{generation_type: embedding, encoding_format: hex}"), "", "model_configs[m].inference_parameters.encoding_format", `unknown encoding_format "hex"`},
		{"embedding has no temperature", params("{dimensions: 64, temperature: 0.5}"), "", "model_configs[m].inference_parameters.temperature", `unknown key "temperature"`},
		{"generation_type unknown", params("{generation_type: chat}"), "", "model_configs[m].inference_parameters.generation_type", `unknown generation_type "chat"`},
		{"temperature too high", params("{temperature: 2.5}"), "", "model_configs[m].inference_parameters.temperature", "must be between 0.0 and 2.0, got 2.5"},
		{"temperature negative", params("{temperature: -1}"), "", "model_configs[m].inference_parameters.temperature", "must be between 0.0 and 2.0"},
		{"top_p too high", params("{top_p: 1.01}"), "", "model_configs[m].inference_parameters.top_p", "must be between 0.0 and 1.0, got 1.01"},
		{"temperature not a number", params(`{temperature: "0.5"}`), "", "model_configs[m].inference_parameters.temperature", `want a number or a distribution`},
		{"temperature not finite", params("{temperature: .nan}"), "", "model_configs[m].inference_parameters.temperature", "NaN has no JSON form"},
		{"distribution missing type", params("{temperature: {params: {low: 0, high: 1}}}"), "", "model_configs[m].inference_parameters.temperature.distribution_type", "required"},
		{"distribution unknown type", params("{temperature: {distribution_type: unifrom, params: {low: 0, high: 1}}}"), "", "model_configs[m].inference_parameters.temperature.distribution_type", `did you mean "uniform"?`},
		{"distribution missing params", params("{temperature: {distribution_type: uniform}}"), "", "model_configs[m].inference_parameters.temperature.params", "required"},
		{"distribution params not a mapping", params("{temperature: {distribution_type: uniform, params: [0, 1]}}"), "", "model_configs[m].inference_parameters.temperature.params", "want a mapping"},
		{"distribution unknown key", params("{temperature: {distribution_type: uniform, params: {low: 0, high: 1}, parms: {}}}"), "", "model_configs[m].inference_parameters.temperature.parms", `unknown key "parms"`},
		{"uniform low not below high", params("{temperature: {distribution_type: uniform, params: {low: 1, high: 1}}}"), "", "model_configs[m].inference_parameters.temperature.params.high", "must be greater than low"},
		{"uniform high out of range", params("{top_p: {distribution_type: uniform, params: {low: 0.5, high: 1.5}}}"), "", "model_configs[m].inference_parameters.top_p.params.high", "must be between 0.0 and 1.0, got 1.5"},
		{"uniform missing low", params("{top_p: {distribution_type: uniform, params: {high: 1}}}"), "", "model_configs[m].inference_parameters.top_p.params.low", "required"},
		{"uniform unknown param", params("{top_p: {distribution_type: uniform, params: {low: 0, high: 1, values: [1]}}}"), "", "model_configs[m].inference_parameters.top_p.params.values", `unknown param "values"`},
		{"manual missing values", params("{temperature: {distribution_type: manual, params: {weights: [1]}}}"), "", "model_configs[m].inference_parameters.temperature.params.values", "required"},
		{"manual empty values", params("{temperature: {distribution_type: manual, params: {values: []}}}"), "", "model_configs[m].inference_parameters.temperature.params.values", "must list at least one value"},
		{"manual value not a number", params("{temperature: {distribution_type: manual, params: {values: [0.5, x]}}}"), "", "model_configs[m].inference_parameters.temperature.params.values[1]", "want a number"},
		{"manual value out of range", params("{temperature: {distribution_type: manual, params: {values: [0.5, 3]}}}"), "", "model_configs[m].inference_parameters.temperature.params.values[1]", "must be between 0.0 and 2.0, got 3.0"},
		{"manual weights length", params("{temperature: {distribution_type: manual, params: {values: [0.5, 1], weights: [1]}}}"), "", "model_configs[m].inference_parameters.temperature.params.weights", "1 weights for 2 values"},
		{"manual weight negative", params("{temperature: {distribution_type: manual, params: {values: [0.5, 1], weights: [1, -1]}}}"), "", "model_configs[m].inference_parameters.temperature.params.weights[1]", "must not be negative"},
		{"manual weights zero", params("{temperature: {distribution_type: manual, params: {values: [0.5, 1], weights: [0, 0]}}}"), "", "model_configs[m].inference_parameters.temperature.params.weights", "positive, finite sum"},
		{"manual unknown param", params("{temperature: {distribution_type: manual, params: {values: [1], low: 0}}}"), "", "model_configs[m].inference_parameters.temperature.params.low", `unknown param "low"`},
		{"max_tokens zero", params("{max_tokens: 0}"), "", "model_configs[m].inference_parameters.max_tokens", "must be at least 1, got 0"},
		{"max_tokens not an integer", params("{max_tokens: many}"), "", "model_configs[m].inference_parameters.max_tokens", "want an integer"},
		{"max_parallel_requests zero", params("{max_parallel_requests: 0}"), "", "model_configs[m].inference_parameters.max_parallel_requests", "must be at least 1, got 0"},
		{"timeout below a second", params("{timeout: 0.5}"), "", "model_configs[m].inference_parameters.timeout", "must be at least 1 second, got 0.5"},
		{"timeout too long", params("{timeout: 1e12}"), "", "model_configs[m].inference_parameters.timeout", "too long"},
		{"extra_body not a mapping", params("{extra_body: [x]}"), "", "model_configs[m].inference_parameters.extra_body", "want a mapping"},
		{"alias-less model named by position", model("{model: x, provider: p, inference_parameters: {top_p: 2}}"), "", "model_configs[0].inference_parameters.top_p", "must be between 0.0 and 1.0"},

		// model_providers.
		{"provider extra_headers value", provider(`{name: p, endpoint: "http://x/v1", extra_headers: {X-N: 1}}`), "", "model_providers[p].extra_headers.X-N", "want a string"},
		{"provider extra_body", provider(`{name: p, endpoint: "http://x/v1", extra_body: [a]}`), "", "model_providers[p].extra_body", "want a mapping"},
		{"model_providers not a list", "columns:\n  - {name: a, column_type: sampler, sampler_type: uuid}\nmodel_providers: {name: p}", "", "model_providers", "want a list of providers"},
		{"provider not a mapping", provider("p"), "", "model_providers[0]", "want a provider mapping"},
		{"provider missing name", provider(`{endpoint: "http://x"}`), "", "model_providers[0].name", "required"},
		{"provider missing endpoint", provider("{name: p}"), "", "model_providers[p].endpoint", "required"},
		{"provider endpoint scheme", provider(`{name: p, endpoint: "ftp://example.com"}`), "", "model_providers[p].endpoint", "want an http or https URL"},
		{"provider endpoint without scheme", provider(`{name: p, endpoint: "api.example.com/v1"}`), "", "model_providers[p].endpoint", "want an http or https URL"},
		{"provider endpoint without host", provider(`{name: p, endpoint: "https:///v1"}`), "", "model_providers[p].endpoint", "has no host"},
		{"provider endpoint not a URL", provider(`{name: p, endpoint: "http://[::1"}`), "", "model_providers[p].endpoint", "is not a URL"},
		{"provider endpoint blank", provider(`{name: p, endpoint: ""}`), "", "model_providers[p].endpoint", "required"},
		{"provider_type", provider(`{name: p, endpoint: "http://x", provider_type: azure}`), "", "model_providers[p].provider_type", `unknown provider_type "azure" (want one of openai)`},
		{"provider api_key not a string", provider(`{name: p, endpoint: "http://x", api_key: 1}`), "", "model_providers[p].api_key", "want a string"},
		{"duplicate provider", provider(`{name: p, endpoint: "http://x"}`) + "\n  - " + `{name: p, endpoint: "http://y"}`, "", "model_providers[p].name", `duplicate provider name "p": model_providers[0] and model_providers[1] both use it`},
		{"unknown provider key", provider(`{name: p, endpoint: "http://x", extra_header: {a: b}}`), "", "model_providers[p].extra_header", `unknown key "extra_header"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse([]byte(tt.yaml))
			require.Error(t, err)
			require.Nil(t, cfg)
			for _, e := range errorsOf(err) {
				if e.Column == tt.column && e.Field == tt.field && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			require.Failf(t, "no matching error", "want column %q field %q msg containing %q, got:\n%v", tt.column, tt.field, tt.msg, err)
		})
	}
}

func TestParseLLMReportsEveryProblemOnce(t *testing.T) {
	t.Parallel()
	messages := func(yaml string) []string {
		cfg, err := Parse([]byte(yaml))
		require.Nil(t, cfg)
		var msgs []string
		for _, e := range errorsOf(err) {
			msgs = append(msgs, e.Error())
		}
		return msgs
	}
	// A model without an alias is the likely target of an alias that matches none: its own
	// problem is the one reported.
	require.Equal(t, []string{
		`model_configs[1].alias: required`,
	}, messages(`
model_configs:
  - {alias: m, model: x, provider: p}
  - {model: y, provider: p}
columns:
  - {name: t, column_type: llm-text, model_alias: n, prompt: hi}
`))
	// Every problem of an LLM column is reported, not just the first.
	require.ElementsMatch(t, []string{
		`column "t": code_lang: unknown code_lang "pyton" (did you mean "python"?)`,
		`column "t": prompt: invalid Jinja template: '}}' expected here (Line: 1 Col: 5, near "")`,
		`column "t": model_alias: unknown model alias "mm": did you mean "m"?`,
		`model_configs[m].inference_parameters.top_p: must be between 0.0 and 1.0, got 3.0`,
	}, messages(`
model_configs: [{alias: m, model: x, provider: p, inference_parameters: {top_p: 3}}]
columns:
  - {name: t, column_type: llm-code, model_alias: mm, prompt: "{{ a", code_lang: pyton, with_trace: all_messages}
`))
}

func TestValidateLLM(t *testing.T) {
	t.Parallel()
	valid := func() *Config {
		return &Config{
			Columns: []*Column{
				{Name: "b", Type: TypeLLMJudge, Inputs: []string{"a"}, Output: frame.String, LLM: &LLM{
					ModelAlias: "m", Prompt: "Rate {{ a }}", MaxConversationRestarts: 5,
					Scores: []Score{{Name: "q", Description: "d", Options: map[string]string{"1": "x"}}},
				}},
				{Name: "a", Type: TypeSampler, SamplerType: SamplerUUID, Params: &UUIDParams{}},
			},
			Models: []*Model{{Alias: "m", Model: "x", Provider: "p", Params: InferenceParams{
				Temperature:         &Distribution{Values: []float64{0.5, 1}, Weights: []float64{0.5, 0.5}},
				MaxParallelRequests: 1,
			}}},
			Providers: []*Provider{{Name: "p", Endpoint: "http://localhost:1234/v1", ProviderType: ProviderOpenAI}},
		}
	}
	cfg := valid()
	require.NoError(t, cfg.Validate())
	require.Equal(t, []string{"a", "b"}, cfg.Order)

	cfg = valid()
	cfg.Columns = append(cfg.Columns,
		&Column{Name: "c", Type: TypeLLMText},
		&Column{Name: "d", Type: TypeLLMCode, LLM: &LLM{ModelAlias: "mm", Prompt: "{{ a }}", CodeLang: "golang"}, Inputs: []string{"a"}},
		&Column{Name: "e", Type: TypeLLMStructured, LLM: &LLM{ModelAlias: "m", Prompt: "hi", OutputFormat: map[string]any{"type": int64(1)}}},
	)
	cfg.Models = append(cfg.Models,
		&Model{Alias: "m", Model: "y", Provider: "p", Params: InferenceParams{MaxParallelRequests: 1}},
		&Model{Alias: "n", Model: "y", Provider: "p", Params: InferenceParams{TopP: &Distribution{Uniform: &[2]float64{0.5, 2}}}},
	)
	cfg.Providers[0].Endpoint = "localhost:1234"
	var msgs []string
	for _, e := range errorsOf(cfg.Validate()) {
		msgs = append(msgs, e.Error())
	}
	require.ElementsMatch(t, []string{
		`column "c": an llm-text column needs its LLM settings (Column.LLM is nil)`,
		`column "d": code_lang: unknown code_lang "golang" (want one of bash, c, cobol, cpp, csharp, go, java, javascript, kotlin, python, ruby, rust, scala, swift, typescript, sql:sqlite, sql:tsql, sql:bigquery, sql:mysql, sql:postgres, sql:ansi)`,
		`column "d": model_alias: unknown model alias "mm": did you mean "m"?`,
		`column "e": output_format: not a valid JSON schema: at '/type': value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string'; at '/type': got number, want array`,
		`model_configs[m].alias: duplicate model alias "m": model_configs[0] and model_configs[1] both use it`,
		`model_configs[n].inference_parameters.top_p: must be between 0.0 and 1.0, got 2.0`,
		`model_configs[n].inference_parameters.max_parallel_requests: must be at least 1, got 0`,
		`model_providers[p].endpoint: "localhost:1234": want an http or https URL, such as https://api.openai.com/v1`,
	}, msgs)
}

func TestWeightsWithoutValidValuesAreNotUnknown(t *testing.T) {
	t.Parallel()
	for _, yaml := range []string{
		"columns:\n  - {name: a, column_type: sampler, sampler_type: category, params: {values: [], weights: [1]}}",
		"columns:\n  - {name: a, column_type: sampler, sampler_type: uuid}\nmodel_configs:\n  - {alias: m, model: x, provider: p, inference_parameters: {temperature: {distribution_type: manual, params: {weights: [1]}}}}",
	} {
		_, err := Parse([]byte(yaml))
		require.Error(t, err)
		require.Len(t, errorsOf(err), 1, "%v", err)
		require.NotContains(t, err.Error(), "unknown")
	}
}

func TestSideColumns(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
model_configs: [{alias: m, model: x, provider: p}]
columns:
  - {name: q, column_type: llm-text, model_alias: m, prompt: "hi", with_trace: all_messages, extract_reasoning_content: true}
  - {name: r, column_type: expression, expr: "{{ q__reasoning_content }}"}
  - {name: s, column_type: llm-text, model_alias: m, prompt: "{{ r }}", with_trace: last_message}
`))
	require.NoError(t, err)
	require.Equal(t, []string{"q__trace", "q__reasoning_content"}, cfg.Column("q").SideColumns())
	require.Equal(t, []string{"q", "q__trace", "q__reasoning_content", "r", "s", "s__trace"}, cfg.OutputColumns())
	require.Equal(t, []string{"q", "r", "s"}, cfg.Order, "reading a side column orders after its column")
}

func TestEmbeddingColumn(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
model_configs:
  - {alias: chat, model: x, provider: p}
  - {alias: emb, model: y, provider: p, inference_parameters: {generation_type: embedding, dimensions: 256, encoding_format: base64}}
  - {alias: implied, model: z, provider: p, inference_parameters: {dimensions: 8}}
columns:
  - {name: a, column_type: sampler, sampler_type: uuid}
  - {name: v, column_type: embedding, target_column: a, model_alias: emb}
  - {name: w, column_type: embedding, target_column: a, model_alias: implied}
  - {name: t, column_type: llm-text, model_alias: emb, prompt: "{{ a }}"}
`))
	require.ErrorContains(t, err, `column "t": model_alias: model "emb" is an embedding model; a llm-text column needs a chat-completion model`)
	require.Nil(t, cfg)
	cfg, err = Parse([]byte(`
model_configs:
  - {alias: emb, model: y, provider: p, inference_parameters: {generation_type: embedding, dimensions: 256, encoding_format: base64}}
  - {alias: implied, model: z, provider: p, inference_parameters: {dimensions: 8}}
columns:
  - {name: a, column_type: sampler, sampler_type: uuid}
  - {name: v, column_type: embedding, target_column: a, model_alias: emb}
  - {name: w, column_type: embedding, target_column: a, model_alias: implied}
`))
	require.NoError(t, err)
	require.Equal(t, frame.Vector, cfg.Column("v").Output)
	require.Equal(t, []string{"a"}, cfg.Column("v").Inputs)
	require.Equal(t, InferenceParams{GenerationType: GenerationEmbedding, EncodingFormat: "base64", Dimensions: 256, MaxParallelRequests: 4}, cfg.Model("emb").Params)
	require.Equal(t, GenerationEmbedding, cfg.Model("implied").Params.GenerationType, "dimensions make embedding params, as in Data Designer")
}
