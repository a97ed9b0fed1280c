package scheduler

import "container/heap"

// readyQueue holds a group's ready tasks, deepest first (see Graph.Depth), then by row (a
// full-column task, Row -1, before the cells of its depth), then first come. Served
// breadth-first, every row would reach its last column only near the group's end; this way a
// row that is further along goes first, so rows finish one after another from early on. The
// model limiters order waiting requests the same way, but only among those of one group: an
// older group still goes first (see Options.TaskContext).
type readyQueue struct {
	graph    *Graph
	tasks    taskHeap
	arrivals uint64
}

func (q *readyQueue) Len() int { return len(q.tasks) }

// push queues tasks.
func (q *readyQueue) push(tasks []Task) {
	for _, t := range tasks {
		q.arrivals++
		heap.Push(&q.tasks, queued{Task: t, depth: q.graph.Depth(t.Column), arrival: q.arrivals})
	}
}

// pop takes the task to start next, and its depth.
func (q *readyQueue) pop() (Task, int) {
	t := heap.Pop(&q.tasks).(queued)
	return t.Task, t.depth
}

type queued struct {
	Task
	depth   int
	arrival uint64
}

// taskHeap is readyQueue's heap.Interface.
type taskHeap []queued

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	switch {
	case a.depth != b.depth:
		return a.depth > b.depth
	case a.Row != b.Row:
		return a.Row < b.Row
	default:
		return a.arrival < b.arrival
	}
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(queued)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
