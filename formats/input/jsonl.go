package input

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
)

// jsonl reads one flat JSON object per line. Values are strings or
// numbers (taken as written: 4000… stays 4000…, never a float) or null
// (empty). A line that is not such an object, or repeats a key, is a
// rejected record: lines are independent, so the stream can go on.
type jsonl struct {
	base
	*lines
	obj *jsonObject
}

// jsonObject makes records of JSON lines, through fill: the mapped keys'
// values become the fields of one text. One per goroutine.
type jsonObject struct {
	vals   map[string]string
	known  map[string]bool // the keys the profile maps
	steps  []step          // field i is mapping i's key
	text   []byte
	fields []span
}

func newJSONL(br *bufio.Reader, b base) *jsonl {
	return &jsonl{base: b, lines: newLines(br, b.ip), obj: newJSONObject(b.maps)}
}

func newJSONObject(maps []profile.Mapping) *jsonObject {
	known := map[string]bool{}
	for _, m := range maps {
		known[m.Input.Key] = true
	}
	return &jsonObject{vals: map[string]string{}, known: known, steps: planEach(maps)}
}

func (j *jsonl) Next() (card.Record, error) {
	line, err := j.frame()
	if err != nil {
		return card.Record{}, err
	}
	return j.obj.record(&j.base, j.lines.n, string(line))
}

// frame reads the next line that is not blank.
func (j *jsonl) frame() ([]byte, error) {
	for {
		line, err := j.lines.next()
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) != 0 {
			return line, nil
		}
	}
}

// record makes the record of JSON line text, line number line.
func (o *jsonObject) record(b *base, line int, text string) (card.Record, error) {
	if reason := o.parse(text); reason != "" {
		rec := b.start(line)
		// Fill the PAN if it was readable, for the masked PAN.
		rec.PAN = trimSpace(o.vals[b.ip.Fields.PAN.Key])
		return rec, card.Reject(&rec, "record", card.ErrSyntax, reason)
	}
	o.text, o.fields = o.text[:0], o.fields[:0]
	for i := range b.maps {
		from := len(o.text)
		o.text = append(o.text, o.vals[b.maps[i].Input.Key]...)
		o.fields = append(o.fields, span{from, len(o.text)})
	}
	return fill(b, line, o.steps, string(o.text), o.fields)
}

// parse reads one object into o.vals, returning why it is not one.
// Reasons never quote the input: it may hold cardholder data.
func (o *jsonObject) parse(line string) string {
	clear(o.vals)
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return "not a JSON object"
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return "not valid JSON"
		}
		key := t.(string) // object keys are always strings
		v, err := d.Token()
		if err != nil {
			return "not valid JSON"
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case json.Number:
			s = string(v)
		case nil:
		default:
			return "value of key " + o.quoteKey(key) + " is not a string, number or null"
		}
		if _, dup := o.vals[key]; dup {
			return "key " + o.quoteKey(key) + " appears twice"
		}
		o.vals[key] = s
	}
	if t, err := d.Token(); err != nil || t != json.Delim('}') {
		return "not valid JSON"
	}
	if _, err := d.Token(); err != io.EOF {
		return "text after the JSON object"
	}
	return ""
}

// quoteKey names a key in a message only if the profile maps it: any
// other key is the issuer's text, and could be anything, a PAN included.
func (o *jsonObject) quoteKey(k string) string {
	if o.known[k] {
		return `"` + k + `"`
	}
	return "(a key the profile does not map)"
}
