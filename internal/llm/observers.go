package llm

// Observers returns an Observer that tells each of obs, in order, of every attempt; nil ones
// are left out. A process's metrics and a run's progress display watch the same models this
// way.
func Observers(obs ...Observer) Observer {
	var all multiObserver
	for _, o := range obs {
		if o != nil {
			all = append(all, o)
		}
	}
	switch len(all) {
	case 0:
		return noObserver{}
	case 1:
		return all[0]
	}
	return all
}

type multiObserver []Observer

func (m multiObserver) Request(model string, outcome Outcome, promptTokens, completionTokens int64) {
	for _, o := range m {
		o.Request(model, outcome, promptTokens, completionTokens)
	}
}

func (m multiObserver) InFlight(model string, delta int) {
	for _, o := range m {
		o.InFlight(model, delta)
	}
}
