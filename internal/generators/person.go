package generators

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	mathrand "math/rand"
	"math/rand/v2"
	"sync"
	"time"

	gofaker "github.com/go-faker/faker/v4"
)

// record is a person, its fields in order: what a person column holds, as JSON text that
// templates decode (`{{ customer.first_name }}`), written in Data Designer's field order.
type record struct {
	keys []string
	vals []any
}

func (r *record) add(k string, v any) {
	r.keys = append(r.keys, k)
	r.vals = append(r.vals, v)
}

func (r *record) json() (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(k); err != nil {
			return "", err
		}
		b.Truncate(b.Len() - 1) // Encode ends with a newline
		b.WriteByte(':')
		if err := enc.Encode(r.vals[i]); err != nil {
			return "", err
		}
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// birthDate draws a birth date for someone age years old on asOf: a day between asOf age+1
// years ago and asOf age years ago, both included, as Data Designer derives it.
func birthDate(r *rand.Rand, age int, asOf time.Time) string {
	start := asOf.AddDate(-age-1, 0, 0)
	end := asOf.AddDate(-age, 0, 0)
	days := int(end.Sub(start).Hours() / 24)
	return start.AddDate(0, 0, r.IntN(days+1)).Format(time.DateOnly)
}

// uuid4 draws a version-4 UUID from r.
func uuid4(r *rand.Rand) string {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], r.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], r.Uint64())
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	var h [36]byte
	hex.Encode(h[0:8], raw[0:4])
	h[8] = '-'
	hex.Encode(h[9:13], raw[4:6])
	h[13] = '-'
	hex.Encode(h[14:18], raw[6:8])
	h[18] = '-'
	hex.Encode(h[19:23], raw[8:10])
	h[23] = '-'
	hex.Encode(h[24:], raw[10:])
	return string(h[:])
}

// goFakerMu guards go-faker's package-level random source, which firstName points at the
// column's own stream for each draw: go-faker has the sex-specific first names (gofakeit's
// are not split by sex), and its draws are only reproducible from a source of ours.
var goFakerMu sync.Mutex

// firstName draws a first name of the given sex ("Male" or "Female").
func firstName(r *rand.Rand, sex string) string {
	goFakerMu.Lock()
	defer goFakerMu.Unlock()
	gofaker.SetRandomSource(v1Source{r})
	if sex == "Male" {
		return gofaker.FirstNameMale()
	}
	return gofaker.FirstNameFemale()
}

// v1Source is a math/rand (v1) Source over a math/rand/v2 stream.
type v1Source struct{ r *rand.Rand }

var _ mathrand.Source = v1Source{}

func (s v1Source) Int63() int64 { return int64(s.r.Uint64() >> 1) }
func (s v1Source) Seed(int64)   {}

// pick returns one of choices.
func pick[T any](r *rand.Rand, choices []T) T { return choices[r.IntN(len(choices))] }

// set replaces field k's value, or adds the field at the end.
func (r *record) set(k string, v any) {
	for i, key := range r.keys {
		if key == k {
			r.vals[i] = v
			return
		}
	}
	r.add(k, v)
}
