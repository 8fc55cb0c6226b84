package input

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"

	"github.com/dataprep/dataprep/formats/card"
)

// jsonl reads one flat JSON object per line. Values are strings or
// numbers (taken as written: 4000… stays 4000…, never a float) or null
// (empty). A line that is not such an object, or repeats a key, is a
// rejected record: lines are independent, so the stream can go on.
type jsonl struct {
	base
	*lines
	vals  map[string]string
	known map[string]bool // the keys the profile maps
}

func newJSONL(br *bufio.Reader, b base) *jsonl {
	known := map[string]bool{}
	for _, m := range b.maps {
		known[m.Input.Key] = true
	}
	return &jsonl{base: b, lines: newLines(br, b.ip), vals: map[string]string{}, known: known}
}

func (j *jsonl) Next() (card.Record, error) {
	for {
		line, err := j.lines.next()
		if err != nil {
			return card.Record{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec := j.start(j.lines.n)
		if reason := j.parse(line); reason != "" {
			// Fill the PAN if it was readable, for the masked PAN.
			rec.PAN = trimSpace(j.vals[j.ip.Fields.PAN.Key])
			return rec, card.Reject(&rec, "record", card.ErrSyntax, reason)
		}
		var rerr *card.RecordError
		for i := range j.maps {
			m := &j.maps[i]
			if e := j.set(&rec, m, j.vals[m.Input.Key]); e != nil && rerr == nil {
				rerr = e
			}
		}
		j.finish(&rec)
		if rerr != nil {
			return rec, rerr
		}
		return rec, nil
	}
}

// parse reads one object into j.vals, returning why it is not one.
// Reasons never quote the input: it may hold cardholder data.
func (j *jsonl) parse(line []byte) string {
	clear(j.vals)
	d := json.NewDecoder(bytes.NewReader(line))
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
			return "value of key " + j.quoteKey(key) + " is not a string, number or null"
		}
		if _, dup := j.vals[key]; dup {
			return "key " + j.quoteKey(key) + " appears twice"
		}
		j.vals[key] = s
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
func (j *jsonl) quoteKey(k string) string {
	if j.known[k] {
		return `"` + k + `"`
	}
	return "(a key the profile does not map)"
}
