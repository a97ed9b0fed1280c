package config

import "github.com/rowforge/rowforge/pkg/frame"

// SamplerUUID draws version-4 UUIDs.
const SamplerUUID = "uuid"

func init() {
	registerSampler(SamplerUUID, samplerSpec{decode: decodeUUID, paramsOptional: true})
}

// UUIDParams: `prefix`, `short_form` (first 8 characters), `uppercase`.
type UUIDParams struct {
	Prefix    string
	ShortForm bool
	Uppercase bool
}

func (*UUIDParams) SamplerType() string { return SamplerUUID }
func (*UUIDParams) Output() frame.Type  { return frame.String }
func (*UUIDParams) Check() error        { return nil }

func decodeUUID(f *fields) SamplerParams {
	p := &UUIDParams{}
	p.Prefix, _ = f.str("prefix", false)
	p.ShortForm, _ = f.bool("short_form")
	p.Uppercase, _ = f.bool("uppercase")
	return p
}
