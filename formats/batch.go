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

// Reading, validation and conversion take most of a preparation's CPU, and
// each record's is independent of the others' once the file is cut into
// records. So Prepare runs them in batches on several goroutines:
//
//	reader (frame) ──batch──▶ workers (fill, validate, convert) ──▶ Prepare
//
// One reader goroutine frames records into a batch (input.Framer: where
// each record and its fields lie) and hands it to the workers and, in file
// order, to Prepare. A worker fills each record (input.Filler), validates
// and converts it. Prepare waits for each batch in turn, counts it, reports
// its rejects and writes its output. A fixed set of batches circulates, so
// memory does not grow with the file.

const (
	// defaultBatchBytes caps the record text of one batch: enough that a
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
	frames []input.Frame // reused, with the memory each holds
	items  []item        // one per frame
	// fatal is the reader's fatal error after the last item, if any.
	fatal error
	// out is the output of the accepted items, back to back.
	out []byte
	// size is the record text framed into the batch so far.
	size int
	// ready is signalled once the batch's worker is done with it.
	ready chan struct{}
}

// item is what became of one record of a batch.
type item struct {
	// err is why the record was rejected (a *card.RecordError from
	// filling, validation or conversion), a non-record error that ends the
	// preparation, or nil: accepted.
	err error
	// end is len(out) after the item: an accepted item's output ends there.
	end int
}

// reset readies b for reuse. Its output is overwritten, not cleared: stop
// clears every batch's once Prepare is done (the records' strings are the
// garbage collector's, as in every reader).
func (b *batch) reset() {
	b.frames, b.items, b.out = b.frames[:0], b.items[:0], b.out[:0]
	b.fatal, b.size = nil, 0
}

// next returns the batch's next frame, reusing the memory of an earlier
// batch's frame in its place.
func (b *batch) next() *input.Frame {
	if len(b.frames) < cap(b.frames) {
		b.frames = b.frames[:len(b.frames)+1]
	} else {
		b.frames = append(b.frames, input.Frame{})
	}
	return &b.frames[len(b.frames)-1]
}

// work fills, validates and converts every record of b.
func (b *batch) work(fl *input.Filler, conv *convert.Converter, p *card.Policy) {
	out := b.out[:0]
	b.items = b.items[:0]
	for i := range b.frames {
		var it item
		rec, err := fl.Fill(&b.frames[i])
		if err == nil {
			err = card.Validate(&rec, p)
		}
		if err == nil {
			var o []byte
			o, err = conv.Append(out, &rec)
			if cap(o) != cap(out) {
				// Append moved the output to a larger array: the old one,
				// or on an error the new one, is dropped, cleared first.
				if err == nil {
					clear(out[:cap(out)])
				} else {
					clear(o[:cap(o)])
				}
			}
			if err == nil {
				out = o
			} else if recordError(err) == nil {
				err = fmt.Errorf("formats: writing: %w", err)
			}
		}
		it.err, it.end = err, len(out)
		b.items = append(b.items, it)
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
	all   []*batch // every batch, for stop to clear
}

func startBatches(rd input.Framer, policy card.Policy, ml *profile.Machine, batchBytes int) *batches {
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
		// Room for the output of a batch of text, so that it seldom grows
		// (a fixed-width layout writes about 1.5 bytes per byte read).
		b := &batch{ready: make(chan struct{}, 1), out: make([]byte, 0, 2*batchBytes)}
		bp.all = append(bp.all, b)
		bp.free <- b
	}
	bp.wg.Add(workers + 1)
	for range workers {
		go func() {
			defer bp.wg.Done()
			fl, conv, p := rd.Filler(), convert.New(ml), policy
			for b := range bp.work {
				b.work(fl, conv, &p)
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
func (bp *batches) read(rd input.Framer, batchBytes int) {
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
		for len(b.frames) < maxBatchRecords && b.size < batchBytes {
			select {
			case <-bp.quit:
				// Prepare stopped: read no further. The batch is left
				// out of circulation; stop clears it with the others.
				return
			default:
			}
			f := b.next()
			err := rd.Frame(f)
			if err != nil {
				b.frames = b.frames[:len(b.frames)-1]
				if err != io.EOF {
					b.fatal = err
				}
				end = true
				break
			}
			b.size += f.Size()
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
				return // Prepare stopped at b; stop clears it
			}
		}
	}
}

// recycle hands b back to the reader.
func (bp *batches) recycle(b *batch) { bp.free <- b }

// stop ends the reader and the workers and waits for them, so that nothing
// reads from the input after Prepare returned, then clears every batch's
// output. After a normal end it only waits and clears.
func (bp *batches) stop() {
	close(bp.quit)
	for b := range bp.order {
		<-b.ready
	}
	bp.wg.Wait()
	for _, b := range bp.all {
		clear(b.out[:cap(b.out)])
	}
}
