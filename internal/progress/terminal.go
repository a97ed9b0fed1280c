package progress

import (
	"io"
	"sync"

	"github.com/vbauerster/mpb/v8"
)

// Terminal is a writer shared by a process's logs and a Renderer's bars (give it as
// RenderOptions.Out): while bars are drawn, what is written to it goes above them instead of
// being overdrawn by their next frame; otherwise it goes straight to the writer it wraps.
type Terminal struct {
	w  io.Writer
	mu sync.Mutex
	p  *mpb.Progress // the bars being drawn, if any
}

// NewTerminal wraps w, usually os.Stderr.
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// Write writes b above the bars, or to the wrapped writer when none are drawn.
func (t *Terminal) Write(b []byte) (int, error) {
	t.mu.Lock()
	p := t.p
	t.mu.Unlock()
	if p != nil {
		if n, err := p.Write(b); err == nil {
			return n, nil
		} // the bars have just ended
	}
	return t.w.Write(b)
}

func (t *Terminal) draw(p *mpb.Progress) {
	t.mu.Lock()
	t.p = p
	t.mu.Unlock()
}

// output is where bars are drawn and the writer that decides ModeAuto: the one a Terminal
// wraps.
func output(w io.Writer) io.Writer {
	if t, ok := w.(*Terminal); ok {
		return t.w
	}
	return w
}
