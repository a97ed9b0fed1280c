package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSubjectBuilders(t *testing.T) {
	t.Parallel()
	l := DefaultLayout()
	acme := Layout{Prefix: "acme"}
	tests := []struct {
		name, got, want string
	}{
		{"group", l.GroupSubject("r1", 7), "rf.groups.r1.7"},
		{"groups of run", l.GroupsOfRun("r1"), "rf.groups.r1.>"},
		{"outcome", l.OutcomeSubject("r1", KindGroup, "3"), "rf.outcomes.r1.group.3"},
		{"sink group", l.SinkSubject("r1", SinkGroup, 4), "rf.sink.r1.group.4"},
		{"sink finalize", l.SinkSubject("r1", SinkFinalize, 4), "rf.sink.r1.finalize"},
		{"sink abort", l.SinkSubject("r1", SinkAbort, 0), "rf.sink.r1.abort"},
		{"control", l.ControlSubject("r1"), "rf.control.r1"},
		{"progress", acme.ProgressSubject("r1"), "acme.progress.r1"},
		{"other prefix", acme.GroupSubject("r1", 0), "acme.groups.r1.0"},
		{"groups stream", l.GroupsStream(), "RF_GROUPS"},
		{"outcomes stream", acme.OutcomesStream(), "ACME_OUTCOMES"},
		{"sink stream", l.SinkStream(), "RF_SINK"},
		{"runs bucket", l.RunsBucket(), "rf_runs"},
		{"workers bucket", l.WorkersBucket(), "rf_workers"},
		{"preview bucket", l.PreviewBucket(), "rf_preview"},
		{"payloads bucket", acme.PayloadsBucket(), "acme_payloads"},
		{"run consumer", RunConsumer("r1"), "run-r1"},
		{"commit consumer", CommitConsumer("r1"), "commits-r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.got)
		})
	}
}

func TestParseSubjectRoundTrip(t *testing.T) {
	t.Parallel()
	for _, l := range []Layout{DefaultLayout(), {Prefix: "acme"}} {
		tests := []struct {
			name, area, subject string
			want                Subject
		}{
			{"group", "groups", l.GroupSubject("r1", 12), Subject{Run: "r1", ID: "12"}},
			{"group outcome", "outcomes", l.OutcomeSubject("r1", KindGroup, "0"), Subject{Run: "r1", Kind: KindGroup, ID: "0"}},
			{"drain outcome", "outcomes", l.OutcomeSubject("r1", KindDrain, "w-1"), Subject{Run: "r1", Kind: KindDrain, ID: "w-1"}},
			{"sink commit", "outcomes", l.OutcomeSubject("r1", KindSink, "5"), Subject{Run: "r1", Kind: KindSink, ID: "5"}},
			{"final commit", "outcomes", l.OutcomeSubject("r1", KindFinal, "0"), Subject{Run: "r1", Kind: KindFinal, ID: "0"}},
			{"sink group", "sink", l.SinkSubject("r1", SinkGroup, 9), Subject{Run: "r1", Kind: SinkGroup, ID: "9"}},
			{"sink finalize", "sink", l.SinkSubject("r1", SinkFinalize, 0), Subject{Run: "r1", Kind: SinkFinalize}},
			{"sink abort", "sink", l.SinkSubject("r1", SinkAbort, 0), Subject{Run: "r1", Kind: SinkAbort}},
			{"control", "control", l.ControlSubject("r1"), Subject{Run: "r1"}},
			{"progress", "progress", l.ProgressSubject("r1"), Subject{Run: "r1"}},
		}
		for _, tt := range tests {
			t.Run(l.Prefix+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				got, err := l.ParseSubject(tt.area, tt.subject)
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
			})
		}
	}
}

func TestParseSubjectRejects(t *testing.T) {
	t.Parallel()
	l := DefaultLayout()
	tests := []struct {
		name, area, subject string
	}{
		{"foreign prefix", "groups", "xx.groups.r1.1"},
		{"prefix of prefix", "groups", "r.groups.r1.1"},
		{"longer prefix", "groups", "rfx.groups.r1.1"},
		{"upper-case prefix", "groups", "RF.groups.r1.1"},
		{"wrong area", "groups", "rf.outcomes.r1.group.1"},
		{"area as run", "control", "rf.control"},
		{"empty", "groups", ""},
		{"prefix only", "groups", "rf"},
		{"missing run", "groups", "rf.groups"},
		{"empty run", "groups", "rf.groups..1"},
		{"empty run control", "control", "rf.control."},
		{"missing group", "groups", "rf.groups.r1"},
		{"empty group", "groups", "rf.groups.r1."},
		{"extra group token", "groups", "rf.groups.r1.1.2"},
		{"extra control token", "control", "rf.control.r1.abort"},
		{"missing outcome id", "outcomes", "rf.outcomes.r1.group"},
		{"empty outcome kind", "outcomes", "rf.outcomes.r1..1"},
		{"extra outcome token", "outcomes", "rf.outcomes.r1.group.1.2"},
		{"sink group without index", "sink", "rf.sink.r1.group"},
		{"sink finalize with id", "sink", "rf.sink.r1.finalize.0"},
		{"extra sink token", "sink", "rf.sink.r1.group.1.2"},
		{"sink without kind", "sink", "rf.sink.r1"},
		{"wildcard run", "groups", "rf.groups.*.1"},
		{"full wildcard", "outcomes", "rf.outcomes.r1.group.>"},
		{"space in run", "control", "rf.control.r 1"},
		{"unknown area", "nope", "rf.nope.r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := l.ParseSubject(tt.area, tt.subject)
			require.Error(t, err)
		})
	}
}

// A run id with a '.' shifts the tokens of the subjects built from it; ValidToken is how a
// caller finds out before building one.
func TestDottedRunIsCaught(t *testing.T) {
	t.Parallel()
	l := DefaultLayout()
	require.Error(t, ValidToken("a.group"))
	s, err := l.ParseSubject("sink", l.SinkSubject("a.group", "x", 0))
	require.NoError(t, err, "the builders cannot tell")
	require.NotEqual(t, "a.group", s.Run)
	_, err = l.ParseSubject("sink", l.SinkSubject("v1.2", SinkFinalize, 0))
	require.Error(t, err)
	_, err = l.ParseSubject("outcomes", l.OutcomeSubject("v1.2", KindGroup, "0"))
	require.Error(t, err)
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tok string
		ok  bool
	}{
		{"r1", true},
		{"9f86d081884c", true},
		{"host-12-ab_c", true},
		{"ünïcode", true},
		{"", false},
		{"a.b", false},
		{"*", false},
		{">", false},
		{"a*", false},
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"a\x7fb", false},
	}
	for _, tt := range tests {
		t.Run(tt.tok, func(t *testing.T) {
			t.Parallel()
			err := ValidToken(tt.tok)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestGroupIndex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7, true},
		{"123456", 123456, true},
		{"", 0, false},
		{"-1", 0, false},
		{"x", 0, false},
		{"1.5", 0, false},
		{"1e3", 0, false},
		{" 1", 0, false},
		{"+1", 0, false},
		{"01", 0, false},
		{"-0", 0, false},
		{"99999999999999999999999", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			g, err := GroupIndex(tt.id)
			if !tt.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, g)
		})
	}
}
