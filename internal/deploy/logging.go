package deploy

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/rowforge/rowforge/internal/progress"
)

// Logger returns the command's logger on stderr, at the level and in the format of the flags.
func (c *Client) Logger() (*slog.Logger, error) { return c.LoggerTo(os.Stderr) }

// LoggerTo is Logger on w.
func (c *Client) LoggerTo(w io.Writer) (*slog.Logger, error) {
	level := c.LogLevel
	if level == "" {
		level = "info"
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, &FlagError{fmt.Errorf("--log-level: %w", err)}
	}
	return c.logger(w, l)
}

// Progress returns how a run shows its progress on w for the --progress value mode. Give the
// run's logger w as well when it is a *progress.Terminal, so that its lines go above the bars.
// The progress lines are logged in the format of the flags but at INFO whatever --log-level
// says: a run's progress is not its debug output, and --progress off silences it.
func (c *Client) Progress(mode string, w io.Writer) (progress.RenderOptions, error) {
	m, err := progress.ParseMode(mode)
	if err != nil {
		return progress.RenderOptions{}, &FlagError{Err: fmt.Errorf("--progress: %w", err)}
	}
	log, err := c.logger(w, slog.LevelInfo)
	if err != nil {
		return progress.RenderOptions{}, err
	}
	return progress.RenderOptions{Mode: m, Out: w, Logger: log}, nil
}

func (c *Client) logger(w io.Writer, level slog.Level) (*slog.Logger, error) {
	hopts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.LogFormat) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	default:
		return nil, &FlagError{fmt.Errorf("--log-format must be text or json, got %q", c.LogFormat)}
	}
}
