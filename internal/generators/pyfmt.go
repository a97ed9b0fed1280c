package generators

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rowforge/rowforge/internal/pyfmt"
)

// roundToInt64 rounds half to even and converts, as numpy's round().astype(int64) does, failing
// for NaN, infinities and values outside int64.
func roundToInt64(f float64) (int64, error) {
	r := math.RoundToEven(f)
	if math.IsNaN(r) || r < -(1<<63) || r >= 1<<63 {
		return 0, fmt.Errorf("cannot convert %s to int", pyfmt.Float(f))
	}
	return int64(r), nil
}

// isoLayout is how datetime and timedelta values are written without convert_to.
const isoLayout = "2006-01-02T15:04:05"

// strftime is a compiled Python strftime format.
type strftime []strftimeOp

type strftimeOp struct {
	lit string // written as is when dir == 0
	dir byte
}

var (
	shortMonths = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonths  = [...]string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
	shortDays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays  = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

// compileStrftime parses a Python strftime format. Supported directives: %Y %m %d %H %M %S %y
// %b %B %a %A %j %p %I %f %F %T %%, and %z %Z, which write nothing because sampled datetimes are
// naive, as in Python. Anything else is an error naming the directive.
func compileStrftime(format string) (strftime, error) {
	var ops strftime
	lit := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		if i > lit {
			ops = append(ops, strftimeOp{lit: format[lit:i]})
		}
		if i+1 >= len(format) {
			return nil, fmt.Errorf("strftime format %q ends with a lone %%", format)
		}
		d := format[i+1]
		switch d {
		case 'Y', 'm', 'd', 'H', 'M', 'S', 'y', 'b', 'B', 'a', 'A', 'j', 'p', 'I', 'f', 'F', 'T', 'z', 'Z':
			ops = append(ops, strftimeOp{dir: d})
		case '%':
			ops = append(ops, strftimeOp{lit: "%"})
		default:
			r, _ := utf8.DecodeRuneInString(format[i+1:])
			return nil, fmt.Errorf("strftime format %q: unsupported directive %%%c", format, r)
		}
		i++
		lit = i + 1
	}
	if lit < len(format) {
		ops = append(ops, strftimeOp{lit: format[lit:]})
	}
	return ops, nil
}

func appendPadded(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// append writes t formatted.
func (f strftime) append(b []byte, t time.Time) []byte {
	for _, op := range f {
		switch op.dir {
		case 0:
			b = append(b, op.lit...)
		case 'Y':
			b = appendPadded(b, t.Year(), 4)
		case 'm':
			b = appendPadded(b, int(t.Month()), 2)
		case 'd':
			b = appendPadded(b, t.Day(), 2)
		case 'H':
			b = appendPadded(b, t.Hour(), 2)
		case 'M':
			b = appendPadded(b, t.Minute(), 2)
		case 'S':
			b = appendPadded(b, t.Second(), 2)
		case 'y':
			y := t.Year() % 100
			if y < 0 {
				y += 100
			}
			b = appendPadded(b, y, 2)
		case 'b':
			b = append(b, shortMonths[t.Month()-1]...)
		case 'B':
			b = append(b, longMonths[t.Month()-1]...)
		case 'a':
			b = append(b, shortDays[t.Weekday()]...)
		case 'A':
			b = append(b, longDays[t.Weekday()]...)
		case 'j':
			b = appendPadded(b, t.YearDay(), 3)
		case 'p':
			if t.Hour() < 12 {
				b = append(b, "AM"...)
			} else {
				b = append(b, "PM"...)
			}
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			b = appendPadded(b, h, 2)
		case 'f':
			b = appendPadded(b, t.Nanosecond()/1000, 6)
		case 'F':
			b = appendPadded(b, t.Year(), 4)
			b = append(b, '-')
			b = appendPadded(b, int(t.Month()), 2)
			b = append(b, '-')
			b = appendPadded(b, t.Day(), 2)
		case 'T':
			b = appendPadded(b, t.Hour(), 2)
			b = append(b, ':')
			b = appendPadded(b, t.Minute(), 2)
			b = append(b, ':')
			b = appendPadded(b, t.Second(), 2)
		case 'z', 'Z':
			// naive datetime: Python writes nothing
		}
	}
	return b
}
