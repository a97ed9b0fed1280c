package profile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rowforge/rowforge/internal/llm"
)

// Completer is what Summarize needs of a model (an *llm.Model).
type Completer interface {
	Complete(ctx context.Context, req llm.Request) (llm.Reply, error)
}

// Summarize asks model for a summary of each judge score of a, from its distribution and a
// sample of the judge's reasoning (Build with a SampleSize), with Data Designer's prompt. A
// failed request is written as the summary ("Score summarization failed: …"), as Data
// Designer does: the profile is a report, not a reason to fail.
func Summarize(ctx context.Context, a *Analysis, model Completer) {
	for _, jp := range a.ColumnProfiles {
		jp.Summaries = map[string]*JudgeSummary{}
		for _, score := range slices.Sorted(maps.Keys(jp.Scores)) {
			s := &JudgeSummary{Score: score, Samples: jp.samples[score]}
			jp.Summaries[score] = s
			if len(s.Samples) == 0 {
				s.Summary = "No judge score information available to summarize."
				continue
			}
			reply, err := model.Complete(ctx, llm.Request{System: summarySystem, Prompt: summaryPrompt(score, jp.Scores[score], s.Samples)})
			if err != nil {
				s.Summary = fmt.Sprintf("Score summarization failed: %v", err)
				continue
			}
			s.Summary = strings.TrimSpace(reply.Content)
		}
	}
}

const summarySystem = "You are an expert at distilling complex feedback into concise summaries. " +
	"Focus on specificity and balance, incorporating both the distribution context and individual reasoning examples."

func summaryPrompt(score string, h *Histogram, samples []JudgeSample) string {
	total := 0
	for _, c := range h.Counts {
		total += c
	}
	var parts []string
	most, mostN := "", -1
	for i, cat := range h.Categories {
		parts = append(parts, fmt.Sprintf("%s: %d records (%.1f%%)", cat, h.Counts[i], 100*float64(h.Counts[i])/float64(total)))
		if h.Counts[i] > mostN {
			most, mostN = cat, h.Counts[i]
		}
	}
	reasons := make([]string, len(samples))
	for i, s := range samples {
		reasons[i] = s.Reasoning
	}
	return fmt.Sprintf("Based on the following evaluator reasoning for the '%s' criterion, "+
		"provide a concise summary that captures both the strengths and areas for improvement mentioned. "+
		"Be specific about what worked well and what needs improvement.\n\n"+
		"Overall distribution of scores: Score distribution - %s, Most common value: %s. "+
		"\nA sample of reasoning:\n%s\n\n"+
		"Do not include any titles like `Summary` or `Summary:`. "+
		"Do not wrap the summary in quotation marks. "+
		"YOU WILL PRODUCE LESS THAN 75 WORDS in a readable sentence format. "+
		"No need to use bullets or headers. Write naturally.", score, strings.Join(parts, ", "), most, strings.Join(reasons, "\n"))
}
