package formats

import (
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/convert"
	"github.com/dataprep/dataprep/formats/input"
	"github.com/dataprep/dataprep/formats/profile"
)

// Validation and conversion take most of a preparation's CPU, and each
// record's is independent of the others'. So Prepare runs them in batches
// on several goroutines:
//
//	reader ──batch──▶ workers (validate, convert into batch.out) ──▶ Prepare
//
// One reader goroutine parses records into a batch and hands it to the
// workers and, in file order, to Prepare, which waits for each batch in
// turn, counts it, reports its rejects and writes its output. A fixed set
// of batches circulates, so memory does not grow with the file.

const (
	// defaultBatchBytes caps the record data of one batch: enough that a
	// batch takes a worker far longer than handing it over, small enough
	// that a batch and its output stay in a core's cache. Measured on 200k
	// records (BenchmarkPrepareBig): 32 to 64 KiB is best; at 16 KiB the
	// hand-overs cost, at 128 KiB the cache misses do.
	defaultBatchBytes = 64 << 10
	// maxBatchRecords caps a batch of tiny records.
	maxBatchRecords = 1024
	// maxWorkers caps the workers: past a few, the reader and the crypto
	// stages around Prepare are the limit, not conversion.
	maxWorkers = 8
)

// batch is a run of consecutive records and what became of them.
type batch struct {
	items []item
	// fatal is the reader's fatal error after the last item, if any.
	fatal error
	// out is the output of the accepted items, back to back.
	out []byte
	// size is the record data read into the batch so far.
	size int
	// chip, dgis, carrier and arena hold what the items' records share
	// with the reader, copied (see own).
	chip    []card.ChipTag
	dgis    []card.DGI
	carrier []string
	arena   []byte
	// ready is signalled once the batch's worker is done with it.
	ready chan struct{}
}

// item is one record of a batch.
type item struct {
	rec card.Record
	// err is why the record was rejected (a *card.RecordError from
	// reading, validation or conversion), a non-record error that ends the
	// preparation, or nil: accepted.
	err error
	// end is len(out) after the item: an accepted item's output ends there.
	end int
}

// reset readies b for reuse, clearing the plaintext bytes it held (the
// records' strings are the garbage collector's, as in every reader).
func (b *batch) reset() {
	clear(b.out)
	clear(b.arena)
	b.items, b.out, b.arena = b.items[:0], b.out[:0], b.arena[:0]
	b.chip, b.dgis, b.carrier = b.chip[:0], b.dgis[:0], b.carrier[:0]
	b.fatal, b.size = nil, 0
}

// own copies into b what r shares with the reader, which reuses that memory
// for its next record. The record's strings are its own already.
func (b *batch) own(r *card.Record) {
	if len(r.ChipTags) > 0 {
		from := len(b.chip)
		for _, t := range r.ChipTags {
			b.chip = append(b.chip, card.ChipTag{Tag: t.Tag, Value: b.keep(t.Value)})
		}
		r.ChipTags = b.chip[from:len(b.chip):len(b.chip)]
	}
	if len(r.DGIs) > 0 {
		from := len(b.dgis)
		for _, d := range r.DGIs {
			b.dgis = append(b.dgis, card.DGI{Tag: d.Tag, Value: b.keep(d.Value)})
		}
		r.DGIs = b.dgis[from:len(b.dgis):len(b.dgis)]
	}
	if len(r.Carrier) > 0 {
		from := len(b.carrier)
		b.carrier = append(b.carrier, r.Carrier...)
		r.Carrier = b.carrier[from:len(b.carrier):len(b.carrier)]
	}
}

// keep copies v into b's arena. When the arena grows, the records before
// keep pointing into the old one, which nothing writes to any more.
func (b *batch) keep(v []byte) []byte {
	from := len(b.arena)
	b.arena = append(b.arena, v...)
	b.size += len(v)
	return b.arena[from:len(b.arena):len(b.arena)]
}

// textSize is the size of r's text, for the batch's cap.
func textSize(r *card.Record) int {
	n := len(r.PAN) + len(r.PANSeq) + len(r.Name) + len(r.Expiry) + len(r.Effective) +
		len(r.ServiceCode) + len(r.Discretionary) + len(r.Product)
	for _, s := range r.Emboss {
		n += len(s)
	}
	for _, s := range r.Carrier {
		n += len(s)
	}
	return n
}

// work validates and converts every item that reading did not reject.
func (b *batch) work(conv *convert.Converter, p *card.Policy) {
	out := b.out[:0]
	for i := range b.items {
		it := &b.items[i]
		if it.err == nil {
			if err := card.Validate(&it.rec, p); err != nil {
				it.err = err
			} else if o, err := conv.Append(out, &it.rec); err != nil {
				if recordError(err) == nil {
					err = fmt.Errorf("formats: writing: %w", err)
				}
				it.err = err
			} else {
				out = o
			}
		}
		it.end = len(out)
	}
	b.out = out
}

// batches runs the reader and the workers of one Prepare.
type batches struct {
	free  chan *batch   // batches Prepare is done with
	work  chan *batch   // read, for the workers
	order chan *batch   // read, in file order, for Prepare
	quit  chan struct{} // closed when Prepare stops early
	wg    sync.WaitGroup
}

func startBatches(rd input.Reader, policy card.Policy, ml *profile.Machine, batchBytes int) *batches {
	if batchBytes <= 0 {
		batchBytes = defaultBatchBytes
	}
	workers := min(runtime.GOMAXPROCS(0), maxWorkers)
	// Two batches per worker (one worked on, one waiting) and two more
	// (one being read, one being written) keep every goroutine busy.
	count := 2*workers + 2
	bp := &batches{
		free:  make(chan *batch, count),
		work:  make(chan *batch, count),
		order: make(chan *batch, count),
		quit:  make(chan struct{}),
	}
	for range count {
		bp.free <- &batch{ready: make(chan struct{}, 1)}
	}
	bp.wg.Add(workers + 1)
	for range workers {
		go func() {
			defer bp.wg.Done()
			conv, p := convert.New(ml), policy
			for b := range bp.work {
				b.work(conv, &p)
				b.ready <- struct{}{}
			}
		}()
	}
	go func() {
		defer bp.wg.Done()
		bp.read(rd, batchBytes)
	}()
	return bp
}

// read fills batches from rd until the end of the file, a fatal error, or
// quit. A channel send here never blocks: there are only as many batches
// as the channels hold.
func (bp *batches) read(rd input.Reader, batchBytes int) {
	defer close(bp.order)
	defer close(bp.work)
	for {
		var b *batch
		select {
		case b = <-bp.free:
		case <-bp.quit:
			return
		}
		b.reset()
		end := false
		for len(b.items) < maxBatchRecords && b.size < batchBytes {
			rec, err := rd.Next()
			if err == io.EOF {
				end = true
				break
			}
			if re := recordError(err); re != nil {
				b.items = append(b.items, item{err: re})
				continue
			}
			if err != nil {
				b.fatal, end = err, true
				break
			}
			b.own(&rec)
			b.size += textSize(&rec)
			b.items = append(b.items, item{rec: rec})
		}
		bp.order <- b
		bp.work <- b
		if end {
			return
		}
		select {
		case <-bp.quit:
			return
		default:
		}
	}
}

// done yields the batches in file order, each once its worker is done.
func (bp *batches) done() func(yield func(*batch) bool) {
	return func(yield func(*batch) bool) {
		for b := range bp.order {
			<-b.ready
			if !yield(b) {
				b.reset() // Prepare stopped at b: clear its plaintext
				return
			}
		}
	}
}

// recycle hands b back to the reader.
func (bp *batches) recycle(b *batch) { bp.free <- b }

// stop ends the reader and the workers and waits for them, so that nothing
// reads from the input after Prepare returned. After a normal end it only
// waits.
func (bp *batches) stop() {
	close(bp.quit)
	for b := range bp.order {
		<-b.ready
		b.reset()
	}
	bp.wg.Wait()
	for {
		select {
		case b := <-bp.free:
			b.reset()
		default:
			return
		}
	}
}
