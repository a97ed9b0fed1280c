package scheduler

import "container/heap"

// readyQueue holds a group's ready tasks, the one with the longest chain still waiting on it
// first (see Graph.Height), then by row (a full-column task, Row -1, before the cells of its
// height), then first come: the critical path first. A group commits as a whole, so what
// matters is that its last reply comes early; served the other way round — a row that is
// further along first — a group ends with a few rows each working through its chain while the
// rest of the seats wait (in a model of the 300-row shape, 0.94 of the seats used
// against 0.99 this way; see the worker's ranks for the run's end). The model limiters order
// waiting requests the same way, after the group's rank (see Options.TaskContext).
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
		heap.Push(&q.tasks, queued{Task: t, height: q.graph.Height(t.Column), arrival: q.arrivals})
	}
}

// pop takes the task to start next, and its height.
func (q *readyQueue) pop() (Task, int) {
	t := heap.Pop(&q.tasks).(queued)
	return t.Task, t.height
}

type queued struct {
	Task
	height  int
	arrival uint64
}

// taskHeap is readyQueue's heap.Interface.
type taskHeap []queued

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	switch {
	case a.height != b.height:
		return a.height > b.height
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
