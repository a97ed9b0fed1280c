package bench

import (
	"container/heap"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
)

// BenchmarkSchedulingModel reports the whole-span utilization each order of the model lines
// would reach with no overhead at all — an event simulation of the shapes (rows in
// groups, a chain of four model columns, cap seats, fixed or heavy-tailed replies), not a run
// of rowforge. It is how the orders were chosen (see the README, "Keeping the endpoints busy"):
//
//   - deep: the group's index, then the row that is further along first;
//   - group: the group's index, then the longest chain first (breadth-first within a group);
//   - rowforge: the same, but the run's last ceil(cap/buffer)+1 groups share one place in line;
//
// and what no order reaches: a shape whose every order stays below the target cannot
// meet it on any machine.
func BenchmarkSchedulingModel(b *testing.B) {
	for _, s := range []llmShape{
		{rows: 300, buffer: 50, cap: 32}, {rows: 300, buffer: 50, cap: 32, heavy: true},
		{rows: 300, buffer: 50, cap: 256}, {rows: 300, buffer: 50, cap: 256, heavy: true},
		{rows: 10_000, buffer: 1_000, cap: 32}, {rows: 10_000, buffer: 1_000, cap: 32, heavy: true},
		{rows: 10_000, buffer: 1_000, cap: 256}, {rows: 10_000, buffer: 1_000, cap: 256, heavy: true},
	} {
		name := strings.TrimSuffix(s.String(), ",workers=0")
		b.Run(name, func(b *testing.B) {
			var line string
			for range b.N {
				line = ""
				for _, o := range []order{orderDeep, orderGroup, orderRowforge} {
					u := simulate(s, o)
					b.ReportMetric(u, "util-"+o.String())
					line += fmt.Sprintf("  %s %.3f", o, u)
				}
			}
			fmt.Printf("%-50s%s\n", name, line)
		})
	}
}

type order int

const (
	orderDeep order = iota
	orderGroup
	orderRowforge
)

func (o order) String() string { return [...]string{"deep", "group", "rowforge"}[o] }

const modelColumns = 4 // three chained llm-text columns and a judge

// simulate runs shape s with every group ready at once and seats handed to the first in line
// the moment they free, and returns busy seat-time ÷ (cap × span).
func simulate(s llmShape, o order) float64 {
	groups := (s.rows + s.buffer - 1) / s.buffer
	lastRank := max(0, groups-(s.cap+s.buffer-1)/s.buffer-1)
	var line, running cellHeap
	arrival := 0
	ready := func(row, col int) {
		g := row / s.buffer
		height := modelColumns - 1 - col
		arrival++
		var key []int
		switch o {
		case orderDeep: // further along first: the smaller height
			key = []int{g, height, row, arrival}
		case orderGroup:
			key = []int{g, -height, row, arrival}
		case orderRowforge:
			key = []int{min(g, lastRank), -height, g, row, arrival}
		}
		heap.Push(&line, simCell{key: key, row: row, col: col})
	}
	for r := range s.rows {
		ready(r, 0)
	}
	var now, busy int // milliseconds
	for line.Len() > 0 || running.Len() > 0 {
		for line.Len() > 0 && running.Len() < s.cap {
			c := heap.Pop(&line).(simCell)
			d := replyMillis(s, c.row, c.col)
			busy += d
			heap.Push(&running, simCell{key: []int{now + d}, row: c.row, col: c.col})
		}
		c := heap.Pop(&running).(simCell)
		now = c.key[0]
		if c.col+1 < modelColumns {
			ready(c.row, c.col+1)
		}
	}
	return float64(busy) / float64(s.cap*now)
}

// replyMillis is the stand-in's latency in BenchmarkLLMUtilization: 50 ms, or, heavy, 2 s for
// one cell in llmSlowEvery (here by a hash of its place, as the benchmark hashes the prompt).
func replyMillis(s llmShape, row, col int) int {
	if s.heavy {
		h := fnv.New32a()
		fmt.Fprintf(h, "%d/%d", row, col)
		if h.Sum32()%llmSlowEvery == 0 {
			return int(llmSlow.Milliseconds())
		}
	}
	return int(llmLatency.Milliseconds())
}

type simCell struct {
	key      []int // compared in order
	row, col int
}

type cellHeap []simCell

func (h cellHeap) Len() int { return len(h) }
func (h cellHeap) Less(i, j int) bool {
	for k := range h[i].key {
		if h[i].key[k] != h[j].key[k] {
			return h[i].key[k] < h[j].key[k]
		}
	}
	return false
}
func (h cellHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cellHeap) Push(x any)   { *h = append(*h, x.(simCell)) }
func (h *cellHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
