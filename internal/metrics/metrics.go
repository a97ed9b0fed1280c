// Package metrics is the operational surface of rowforge's long-running processes: the
// Prometheus collectors of a worker and of sinkd, and the HTTP server that exposes them with a
// health check.
//
// Collectors are registered on the registry a process passes in, never on the global default
// one, so that each test sees only its own and nothing registers behind a process's back. Every
// method is safe on a nil receiver and records nothing, so packages call them unconditionally
// and a process without a metrics address pays nothing but a nil check.
package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rowforge/rowforge/internal/llm"
	"github.com/rowforge/rowforge/pkg/wire"
)

// Error kinds of rowforge_errors_total. They name what failed, not where, so that one alert
// covers the same fault in every process.
const (
	ErrPublish          = "publish"           // an outcome or commit could not be stored; the message is redelivered
	ErrMalformedMessage = "malformed_message" // a message no instance can use; it is terminated
	ErrRunRecord        = "run_record"        // rf_runs could not be read
	ErrModelUnavailable = "model_unavailable" // a model answered only errors past its patience; the run fails
	ErrModelBadReply    = "model_bad_reply"   // a model's replies were not chat completions (HTML, empty, wrong shape); the run fails
	ErrHeartbeat        = "heartbeat"         // the worker's rf_workers entry could not be written
	ErrKeptCells        = "kept_cells"        // a group's cells kept in rf_cells could not be read
	ErrFinalize         = "finalize"          // a dataset's metadata could not be written
	ErrDiscard          = "discard"           // an aborted run's partial files could not be removed
	// ErrPanic is a panic recovered while a group was handled: a bug in rowforge or in the
	// config's code (a generator, a skip expression), never a transient fault. The worker
	// survives it and the group fails; the log has the stack.
	ErrPanic = "panic"
)

// Group statuses of rowforge_worker_groups_total: the scheduler's four, and the hand-back of a
// group that another worker will finish.
const (
	StatusCompleted  = string(wire.OutcomeCompleted)
	StatusDropped    = string(wire.OutcomeDropped)
	StatusFailed     = string(wire.OutcomeFailed)
	StatusAborted    = string(wire.OutcomeAborted)
	StatusHandedBack = "handed_back"
)

// Results of rowforge_sinkd_groups_total.
const (
	ResultWritten = "written" // committed to the run's sink
	ResultFailed  = "failed"  // the write failed; the controller is told, with the error
	ResultRefused = "refused" // not written: the run is over or discarded, or the message is unusable
)

// Worker holds the collectors of a worker process. Its fields are exported so that tests and
// tools can read single series (testutil.ToFloat64); code records through the methods.
type Worker struct {
	GroupsInFlight prometheus.Gauge
	Groups         *prometheus.CounterVec // status
	Cells          *prometheus.CounterVec // column
	CellErrors     *prometheus.CounterVec // column
	LLMRequests    *prometheus.CounterVec // model, outcome
	LLMTokens      *prometheus.CounterVec // model, kind
	LLMInFlight    *prometheus.GaugeVec   // model
	Errors         *prometheus.CounterVec // kind
}

// NewWorker registers a worker's collectors on reg. Workers that share a registry (several in
// one process) share the collectors, so their counts add up.
func NewWorker(reg prometheus.Registerer) *Worker {
	m := &Worker{
		GroupsInFlight: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rowforge_worker_groups_in_flight", Help: "Row groups this worker holds."})),
		Groups: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rowforge_worker_groups_total", Help: "Row groups settled by this worker, by final status."}, []string{"status"})),
		Cells: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rowforge_worker_cells_total", Help: "Cells generated, by column (rows, for a column generated whole)."}, []string{"column"})),
		CellErrors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rowforge_worker_cell_errors_total", Help: "Rows a column dropped because its cell failed, by column."}, []string{"column"})),
		LLMRequests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rowforge_llm_requests_total", Help: "Model requests sent (retries included), by model alias and outcome."}, []string{"model", "outcome"})),
		LLMTokens: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rowforge_llm_tokens_total", Help: "Tokens the endpoints reported, by model alias and kind."}, []string{"model", "kind"})),
		LLMInFlight: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rowforge_llm_in_flight", Help: "Model requests awaiting a reply, by model alias."}, []string{"model"})),
		Errors: registerErrors(reg),
	}
	// Series that exist from the start, so that rate() and absence alerts see a zero.
	for _, s := range []string{StatusCompleted, StatusDropped, StatusFailed, StatusAborted, StatusHandedBack} {
		m.Groups.WithLabelValues(s)
	}
	for _, k := range []string{ErrPublish, ErrMalformedMessage, ErrRunRecord, ErrModelUnavailable, ErrModelBadReply, ErrHeartbeat, ErrKeptCells, ErrPanic} {
		m.Errors.WithLabelValues(k)
	}
	return m
}

// GroupStarted counts a group in hand; GroupDone takes it off.
func (m *Worker) GroupStarted() {
	if m != nil {
		m.GroupsInFlight.Inc()
	}
}

// GroupDone takes a group off the in-flight gauge and counts it by status (one of the Status
// constants); "" counts nothing, for a message that was terminated rather than run.
func (m *Worker) GroupDone(status string) {
	if m == nil {
		return
	}
	m.GroupsInFlight.Dec()
	if status != "" {
		m.Groups.WithLabelValues(status).Inc()
	}
}

// ColumnCells counts one group's generated and failed cells of column.
func (m *Worker) ColumnCells(column string, generated, failed int) {
	if m == nil {
		return
	}
	if generated > 0 {
		m.Cells.WithLabelValues(column).Add(float64(generated))
	}
	if failed > 0 {
		m.CellErrors.WithLabelValues(column).Add(float64(failed))
	}
}

// Error counts a failure of kind (one of the Err constants).
func (m *Worker) Error(kind string) {
	if m != nil {
		m.Errors.WithLabelValues(kind).Inc()
	}
}

// Request implements llm.Observer.
func (m *Worker) Request(model string, outcome llm.Outcome, promptTokens, completionTokens int64) {
	if m == nil {
		return
	}
	m.LLMRequests.WithLabelValues(model, outcomeLabel(outcome)).Inc()
	if promptTokens > 0 {
		m.LLMTokens.WithLabelValues(model, "prompt").Add(float64(promptTokens))
	}
	if completionTokens > 0 {
		m.LLMTokens.WithLabelValues(model, "completion").Add(float64(completionTokens))
	}
}

// InFlight implements llm.Observer.
func (m *Worker) InFlight(model string, delta int) {
	if m != nil {
		m.LLMInFlight.WithLabelValues(model).Add(float64(delta))
	}
}

var _ llm.Observer = (*Worker)(nil)

func outcomeLabel(o llm.Outcome) string {
	switch o {
	case llm.Succeeded:
		return "ok"
	case llm.RateLimited:
		return "rate_limited"
	default:
		return "failed"
	}
}

// Sinkd holds the collectors of a sinkd process.
type Sinkd struct {
	Groups       *prometheus.CounterVec // result
	Rows         prometheus.Counter
	WriteSeconds prometheus.Histogram
	Finalized    prometheus.Counter
	Errors       *prometheus.CounterVec // kind
}

// NewSinkd registers sinkd's collectors on reg.
func NewSinkd(reg prometheus.Registerer) *Sinkd {
	m := &Sinkd{
		Groups: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rowforge_sinkd_groups_total", Help: "Row group messages settled by sinkd, by result."}, []string{"result"})),
		Rows: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rowforge_sinkd_rows_total", Help: "Rows written to sinks (main datasets, not side datasets)."})),
		// Parquet encoding and an fsync per group: from milliseconds to tens of seconds.
		WriteSeconds: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rowforge_sinkd_write_seconds", Help: "Time to write one row group to its sink.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)})),
		Finalized: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rowforge_sinkd_finalized_total", Help: "Datasets finalized (metadata written)."})),
		Errors: registerErrors(reg),
	}
	for _, r := range []string{ResultWritten, ResultFailed, ResultRefused} {
		m.Groups.WithLabelValues(r)
	}
	for _, k := range []string{ErrPublish, ErrMalformedMessage, ErrRunRecord, ErrFinalize, ErrDiscard} {
		m.Errors.WithLabelValues(k)
	}
	return m
}

// Group counts a group message that was not written, by result (ResultFailed, ResultRefused).
func (m *Sinkd) Group(result string) {
	if m != nil {
		m.Groups.WithLabelValues(result).Inc()
	}
}

// Written counts a group written and committed, with its rows.
func (m *Sinkd) Written(rows int) {
	if m == nil {
		return
	}
	m.Groups.WithLabelValues(ResultWritten).Inc()
	m.Rows.Add(float64(rows))
}

// WriteTook records how long one write to a sink took, committed or not.
func (m *Sinkd) WriteTook(d time.Duration) {
	if m != nil {
		m.WriteSeconds.Observe(d.Seconds())
	}
}

// Finalize counts a dataset finalized.
func (m *Sinkd) Finalize() {
	if m != nil {
		m.Finalized.Inc()
	}
}

// Error counts a failure of kind (one of the Err constants).
func (m *Sinkd) Error(kind string) {
	if m != nil {
		m.Errors.WithLabelValues(kind).Inc()
	}
}

// registerErrors registers rowforge_errors_total, which a worker and sinkd in one process share.
func registerErrors(reg prometheus.Registerer) *prometheus.CounterVec {
	return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rowforge_errors_total", Help: "Failures a process logged and recovered from, by kind."}, []string{"kind"}))
}

// register registers c on reg, or returns the collector already registered under the same
// name, so that several services of one process share it. A clash of the same name with
// other labels or help is a programming error, as for MustRegister.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}
