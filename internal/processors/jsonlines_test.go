package processors

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rowforge/rowforge/pkg/frame"
)

func TestEncodeJSONLines(t *testing.T) {
	t.Parallel()
	in := makeFrame(t,
		col("s", frame.String, "plain", "q\"b\\s\n\t\x01 <&> \u2028", "bad \xff utf8", nil),
		col("i", frame.Int, int64(-3), int64(math.MaxInt64), int64(0), nil),
		col("f", frame.Float, 2.0, 0.1, 1e16, nil),
		col("b", frame.Bool, true, false, true, nil),
		col(`we"ird`, frame.String, "x", "y", "z", "w"),
	)
	b, err := EncodeJSONLines(in)
	require.NoError(t, err)
	require.Equal(t, strings.Join([]string{
		`{"s":"plain","i":-3,"f":2.0,"b":true,"we\"ird":"x"}`,
		`{"s":"q\"b\\s\n\t\u0001 <&> \u2028","i":9223372036854775807,"f":0.1,"b":false,"we\"ird":"y"}`,
		`{"s":"bad \ufffd utf8","i":0,"f":1e+16,"b":true,"we\"ird":"z"}`,
		`{"s":null,"i":null,"f":null,"b":null,"we\"ird":"w"}`,
	}, "\n")+"\n", string(b))

	out, err := DecodeJSONLines(b, in)
	require.NoError(t, err)
	want := columns(in)
	want[0].Values[2] = "bad \ufffd utf8"
	require.Equal(t, want, columns(out))

	empty, err := EncodeJSONLines(frame.New(0))
	require.NoError(t, err)
	require.Empty(t, empty)
	noCols, err := EncodeJSONLines(frame.New(2))
	require.NoError(t, err)
	require.Equal(t, "{}\n{}\n", string(noCols))

	for _, x := range []float64{math.NaN(), math.Inf(-1)} {
		in := makeFrame(t, col("f", frame.Float, 1.0, x))
		_, err := EncodeJSONLines(in)
		require.ErrorContains(t, err, `column "f", row 1:`)
		require.ErrorContains(t, err, "has no JSON form")
	}
}

func TestDecodeJSONLinesTypes(t *testing.T) {
	t.Parallel()
	schema := makeFrame(t,
		col("s", frame.String), col("i", frame.Int), col("f", frame.Float), col("b", frame.Bool),
	)
	data := `{"new_int": 1, "b": true, "s": "x", "i": 3.0, "f": 1, "new_float": 1, "new_bool": false, "new_str": "a", "new_null": null, "new_json": {"k": [1, 2]}}
{"new_int": 2, "b": null, "s": {"a": 1}, "i": 3e2, "f": 2.5, "new_float": 2.5, "new_bool": null, "new_str": [1, "x"], "new_null": null, "new_json": "t"}

  
{"new_int": null, "b": false, "s": null, "i": -4, "f": 1e400000000, "new_float": 99999999999999999999, "new_bool": true, "new_str": null, "new_null": null, "new_json": null}`
	_, err := DecodeJSONLines([]byte(data), schema)
	require.ErrorContains(t, err, `row 2 (line 5), column "f": want float, got number 1e400000000: out of the float64 range`)

	data = strings.Replace(data, "1e400000000", "-0.0", 1)
	out, err := DecodeJSONLines([]byte(data), schema)
	require.NoError(t, err)
	require.Equal(t, []column{
		// The schema's columns, in its order, keep their types ...
		col("s", frame.String, "x", `{"a":1}`, nil),
		col("i", frame.Int, int64(3), int64(300), int64(-4)),
		col("f", frame.Float, 1.0, 2.5, math.Copysign(0, -1)),
		col("b", frame.Bool, true, nil, false),
		// ... then the new ones in the first row's order, typed by their values.
		col("new_int", frame.Int, int64(1), int64(2), nil),
		col("new_float", frame.Float, 1.0, 2.5, 1e20),
		col("new_bool", frame.Bool, false, nil, true),
		col("new_str", frame.String, "a", `[1,"x"]`, nil),
		col("new_null", frame.String, nil, nil, nil),
		col("new_json", frame.String, `{"k":[1,2]}`, "t", nil),
	}, columns(out))
}

func TestDecodeJSONLinesDropsAndEmpty(t *testing.T) {
	t.Parallel()
	schema := makeFrame(t, col("a", frame.Int, int64(1)), col("b", frame.String, "x"))
	out, err := DecodeJSONLines([]byte(`{"b": "y"}`), schema)
	require.NoError(t, err)
	require.Equal(t, []column{col("b", frame.String, "y")}, columns(out), "a key left out drops the column")

	for _, data := range []string{"", "\n", " \r\n\t\n"} {
		out, err := DecodeJSONLines([]byte(data), schema)
		require.NoError(t, err)
		require.Equal(t, []column{{"a", frame.Int, []any{}}, {"b", frame.String, []any{}}}, columns(out))
		require.Equal(t, 0, out.Len())
	}
	out, err = DecodeJSONLines(nil, nil)
	require.NoError(t, err)
	require.Equal(t, 0, out.Len())
	require.Empty(t, out.Columns())

	out, err = DecodeJSONLines([]byte("{}\r\n{}\r\n"), schema)
	require.NoError(t, err)
	require.Equal(t, 2, out.Len(), "rows without columns")
	require.Empty(t, out.Columns())
}

func TestDecodeJSONLinesErrors(t *testing.T) {
	t.Parallel()
	schema := makeFrame(t, col("i", frame.Int), col("s", frame.String), col("b", frame.Bool), col("f", frame.Float))
	tests := []struct {
		name, data, msg string
	}{
		{"garbage", "hello", "line 1: invalid JSON: invalid character 'h' looking for beginning of value"},
		{"truncated", `{"i": 1`, "line 1: invalid JSON"},
		{"trailing garbage", `{"i": 1}x`, "line 1: invalid JSON after the object"},
		{"string line", `"x"`, `line 1: want a JSON object, got string "x"`},
		{"number line", `12`, "line 1: want a JSON object, got number 12"},
		{"null line", `null`, "line 1: want a JSON object, got null"},
		{"duplicate key", `{"i": 1, "i": 2}`, `line 1: duplicate key "i"`},
		{"empty key", `{"": 1}`, "line 1: empty key"},
		{"int out of range", `{"i": 9223372036854775808}`, `row 0 (line 1), column "i": want int, got number 9223372036854775808: out of the int64 range`},
		{"int from big float", `{"i": 1e19}`, "out of the int64 range"},
		{"int from string", `{"i": "1"}`, `want int, got string "1"`},
		{"int from bool", `{"i": true}`, "want int, got true"},
		{"str from number", `{"s": 1}`, "want str, got number 1"},
		{"str from bool", `{"s": false}`, "want str, got false"},
		{"bool from number", `{"b": 1}`, "want bool, got number 1"},
		{"float from string", `{"f": "1.5"}`, `want float, got string "1.5"`},
		{"float from object", `{"f": {"a": 1}}`, `want float, got JSON {"a":1}`},
		{"mixed bool number", "{\"x\": null}\n{\"x\": true}\n{\"x\": 2}", `new column "x" mixes value types: bool on line 2, number on line 3`},
		{"mixed string bool", "{\"x\": [1]}\n{\"x\": true}", `new column "x" mixes value types: object or list on line 1, bool on line 2`},
		{"long value clipped", `{"s": ` + strings.Repeat("1", 200) + `}`, "want str, got number " + strings.Repeat("1", 80) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := DecodeJSONLines([]byte(tt.data), schema)
			require.Nil(t, out)
			require.ErrorContains(t, err, tt.msg)
		})
	}
}

// FuzzDecodeJSONLines feeds the decoder what a user's program might print. Whatever it
// accepts must be a consistent frame that encodes and decodes back to itself.
func FuzzDecodeJSONLines(f *testing.F) {
	for _, seed := range []string{
		"",
		"\n\n",
		`{"s": "x", "i": 1, "f": 1.5, "b": true}`,
		"{\"s\": null, \"i\": 2.0, \"f\": 3, \"b\": false}\n{\"s\": \"y\", \"i\": -1, \"f\": -0.0, \"b\": null}\n",
		`{"new": [1, {"a": "b"}], "n": 1e3, "u": "\u00e9\ud83d\ude00"}`,
		"{\"x\": 1}\n{\"x\": 2.5}\n{\"x\": null}",
		"{\"x\": 1}\n{\"x\": \"a\"}",
		"{\"x\": 1}\n{\"y\": 1}",
		`{"i": 99999999999999999999}`,
		`{"f": 1e999}`,
		`{"s": "a"} {"s": "b"}`,
		"{\"a\":1}\r\n",
		`[1, 2]`,
		"garbage",
		`{"":1}`,
		`{"a": "\xff"}`,
	} {
		f.Add([]byte(seed))
	}
	schema := frame.New(0)
	for _, c := range []*frame.Column{
		frame.NewColumn("s", frame.String, 0), frame.NewColumn("i", frame.Int, 0),
		frame.NewColumn("f", frame.Float, 0), frame.NewColumn("b", frame.Bool, 0),
	} {
		if err := schema.Put(c); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := DecodeJSONLines(data, schema)
		if err != nil {
			require.Nil(t, out)
			return
		}
		for _, c := range out.Columns() {
			require.Equal(t, out.Len(), c.Len(), c.Name)
			if c.Valid != nil {
				require.Len(t, c.Valid, out.Len())
			}
			if s := schema.Column(c.Name); s != nil {
				require.Equal(t, s.Type, c.Type, "a schema column keeps its type")
			}
		}
		enc, err := EncodeJSONLines(out)
		require.NoError(t, err, "what decodes encodes")
		again, err := DecodeJSONLines(enc, out)
		require.NoError(t, err, "%s", enc)
		if out.Len() == 0 {
			require.Equal(t, 0, again.Len())
			return
		}
		require.Equal(t, columns(out), columns(again))
	})
}
