package worker

import (
	"cmp"
	"slices"
)

// claimant is one worker's stake in a capped endpoint of a run, as shares sees it.
type claimant struct {
	// demand is the requests the worker has for the endpoint: in flight plus waiting for a seat.
	demand int
	// busy is set while the worker holds a group of the run: it then gets at least one seat, so
	// that its groups progress however many workers there are.
	busy bool
}

// shares splits capacity seats among claimants, ordered by rank (their keys): max-min fair by
// demand — a worker that asks for less than an even split gets all it asks, the rest share what
// is left evenly — so the seats sit where the requests wait. What no demand takes evens out the
// busy claimants' shares, as headroom for demand that grows before the next exchange. A busy
// claimant gets at least one seat, and the rank breaks ties: the shares add up to capacity
// unless there are more busy claimants than seats.
func shares(capacity int, cs []claimant) []int {
	out := make([]int, len(cs))
	left := capacity
	for left > 0 {
		var hungry []int
		for i, c := range cs {
			if out[i] < c.demand {
				hungry = append(hungry, i)
			}
		}
		if len(hungry) == 0 {
			break
		}
		each := left / len(hungry)
		if each == 0 { // fewer seats left than claimants: one each, busy ones first, by rank
			slices.SortStableFunc(hungry, func(a, b int) int { return cmp.Compare(boolRank(cs[a].busy), boolRank(cs[b].busy)) })
			for _, i := range hungry[:left] {
				out[i]++
			}
			left = 0
			break
		}
		for _, i := range hungry {
			n := min(each, cs[i].demand-out[i])
			out[i] += n
			left -= n
		}
	}
	var busy []int
	for i, c := range cs {
		if c.busy {
			busy = append(busy, i)
		}
	}
	for ; left > 0 && len(busy) > 0; left-- { // evening out, the fewest seats first
		least := busy[0]
		for _, i := range busy[1:] {
			if out[i] < out[least] {
				least = i
			}
		}
		out[least]++
	}
	for _, i := range busy {
		out[i] = max(out[i], 1)
	}
	return out
}

func boolRank(busy bool) int {
	if busy {
		return 0
	}
	return 1
}
