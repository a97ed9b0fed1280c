package generators

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/rowforge/rowforge/pkg/config"
)

func init() {
	registerSampler(func(_ *draws, p *config.UUIDParams, r *rand.Rand, rows []int) (sampled, error) {
		strs, err := sampleUUID(r, p, len(rows))
		return sampled{kind: kindStr, strs: strs}, err
	})
}

func sampleUUID(r *rand.Rand, p *config.UUIDParams, n int) ([]string, error) {
	width := 32
	var seen map[uint32]struct{}
	if p.ShortForm {
		width = 8
		if n > 1<<31 {
			return nil, fmt.Errorf("%d rows cannot all get distinct short uuids", n)
		}
		seen = make(map[uint32]struct{}, n)
	}
	out := make([]string, n)
	buf := make([]byte, 0, len(p.Prefix)+32)
	var raw [16]byte
	var hx [32]byte
	for i := range out {
		for {
			binary.LittleEndian.PutUint64(raw[:8], r.Uint64())
			binary.LittleEndian.PutUint64(raw[8:], r.Uint64())
			if seen == nil {
				break
			}
			// Data Designer re-draws an id already used in the batch; only the 32-bit short
			// form can realistically collide.
			k := binary.LittleEndian.Uint32(raw[:4])
			if _, dup := seen[k]; !dup {
				seen[k] = struct{}{}
				break
			}
		}
		raw[6] = raw[6]&0x0f | 0x40 // version 4
		raw[8] = raw[8]&0x3f | 0x80 // RFC 4122 variant
		hex.Encode(hx[:], raw[:])
		if p.Uppercase {
			for j := range width {
				if hx[j] >= 'a' {
					hx[j] -= 'a' - 'A'
				}
			}
		}
		buf = append(append(buf[:0], p.Prefix...), hx[:width]...)
		out[i] = string(buf)
	}
	return out, nil
}
