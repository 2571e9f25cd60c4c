package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Message is one message of SendBatch.
type Message struct {
	Envelope *Envelope
	Body     io.Reader
}

// BatchWindow is how many messages SendBatch lets run ahead of their
// replies.
const BatchWindow = 16

// SendBatch sends msgs over the connection in order and returns a Result
// for each, as Send would: replies are results, and a message refused
// before anything was sent (see ErrRefused) does not stop the batch.
//
// Where the server offers PIPELINING and CHUNKING, a message does not wait
// for the replies to the messages before it: its RSET, MAIL, RCPTs and a
// BDAT LAST carrying the whole message follow the previous message's data
// at once (RFC 2920 section 3.1 lets a group follow message content; RFC
// 3030 section 4.2 lets BDAT be pipelined), up to BatchWindow messages
// ahead of the replies, which are read as they come. Every message after
// the first is preceded by RSET (RFC 5321 section 4.1.1.5), so that one
// whose transaction the server left open cannot lend its sender to the
// next. A message larger than Limits.ChunkSize waits for the replies to
// those before it and is sent as Send sends it; so is every message when
// the server lacks either extension or an extension reads end-of-data
// replies (DataReplyReader).
//
// The error is the one that made the connection unusable, or the context
// ending; the messages without their replies then have every recipient
// not yet decided TempFailed, as with Send. A nil Envelope is an error
// before anything is sent, and the results are then nil.
func (c *Conn) SendBatch(ctx context.Context, msgs []Message) ([]*Result, error) {
	for i, m := range msgs {
		if m.Envelope == nil {
			return nil, fmt.Errorf("client: nil Envelope in message %d", i)
		}
	}
	results := make([]*Result, len(msgs))
	for i, m := range msgs {
		results[i] = newResult(m.Envelope)
	}
	settleFrom := func(i int, err error) ([]*Result, error) {
		for ; i < len(msgs); i++ {
			tx := &txn{c: c, env: msgs[i].Envelope, res: results[i]}
			tx.settle(err)
		}
		return results, err
	}
	if !c.batchable() {
		for i, m := range msgs {
			res, err := c.Send(ctx, m.Envelope, m.Body)
			results[i] = res
			if err != nil && c.usable() != nil {
				return settleFrom(i+1, err)
			}
		}
		return results, nil
	}
	if err := c.usable(); err != nil {
		return settleFrom(0, err)
	}
	if err := ctx.Err(); err != nil {
		return settleFrom(0, err)
	}
	stop := c.watch(ctx)
	defer stop()

	b := &batch{
		c:       c,
		msgs:    msgs,
		results: results,
		flights: make(chan *flight, BatchWindow-1),
		quit:    make(chan struct{}),
		resume:  make(chan struct{}),
	}
	go b.write(c.dirty)
	var fatal error
	next := 0 // the first message without a flight
	for f := range b.flights {
		next = f.i + 1
		if fatal != nil {
			f.tx.settle(fatal)
			continue
		}
		err := b.land(f)
		if err != nil && c.usable() != nil {
			if werr := b.writeErr(); werr != nil && errors.Is(err, net.ErrClosed) {
				err = werr // the writer closed the connection
			}
			fatal = err
			close(b.quit)
		}
		f.tx.settle(err)
		if f.seq && fatal == nil {
			b.resume <- struct{}{}
		}
	}
	if fatal != nil {
		return settleFrom(next, fatal)
	}
	return results, nil
}

// batchable tells whether SendBatch may pipeline messages.
func (c *Conn) batchable() bool {
	if !c.hasExt("PIPELINING") || !c.hasExt("CHUNKING") {
		return false
	}
	for _, ext := range c.opts.Extensions {
		if _, ok := ext.(DataReplyReader); ok {
			return false
		}
	}
	return true
}

// A batch is one SendBatch: a writer goroutine sends each message's group
// and hands a flight to the caller's goroutine, which reads its replies.
type batch struct {
	c       *Conn
	msgs    []Message
	results []*Result
	flights chan *flight  // written, in order; closed when the writer ends
	quit    chan struct{} // closed when the reader gives up
	resume  chan struct{} // the reader has sent a seq flight's message

	mu   sync.Mutex
	werr error // the writer's error
}

// A flight is a message the writer has dealt with.
type flight struct {
	i    int
	tx   *txn
	mail string // "" when the message was decided before anything was sent
	rset bool   // RSET went before MAIL
	seq  bool   // too large to pipeline: the reader sends it, from tx.first
	err  error  // why the message was decided before anything was sent
	werr error  // the group could not be written
}

// firstChunk is the first BDAT chunk of a message that has more, already
// read.
type firstChunk struct {
	k     *chunker
	chunk []byte
}

// write runs in its own goroutine. It is the only user of the buffered
// writer while the batch runs, except while the reader sends a seq
// flight, when it waits.
func (b *batch) write(dirty bool) {
	defer close(b.flights)
	c := b.c
	for i, m := range b.msgs {
		tx := &txn{c: c, env: m.Envelope, res: b.results[i]}
		f := &flight{i: i, tx: tx}
		mail, r, binary, err := tx.prepare(m.Body, false)
		if err == nil && mail != "" {
			k := c.newChunker(r, binary)
			var (
				chunk []byte
				last  bool
			)
			chunk, last, err = k.next()
			switch {
			case err != nil:
			case !last:
				f.mail, f.seq = mail, true
				tx.first = &firstChunk{k, chunk}
			default:
				f.mail, f.rset = mail, dirty
				f.werr = b.writeGroup(f, chunk)
				dirty = true // RSET before every later MAIL
			}
		}
		f.err = err
		if f.seq && f.werr == nil {
			// The reader sends this one: what is buffered goes first.
			f.werr = c.bw.Flush()
		}
		if f.werr != nil {
			b.writeFailed(f.werr)
		}
		select {
		case b.flights <- f:
		default:
			if err := c.bw.Flush(); err != nil && f.werr == nil {
				f.werr = err
				b.writeFailed(err)
			}
			select {
			case b.flights <- f:
			case <-b.quit:
				return
			}
		}
		if f.werr != nil {
			return
		}
		if f.seq {
			select {
			case <-b.resume:
				dirty = c.dirty
			case <-b.quit:
				return
			}
		}
	}
	if err := c.bw.Flush(); err != nil {
		b.writeFailed(err)
	}
}

// writeGroup buffers [RSET,] MAIL, the RCPTs and BDAT LAST with the
// message. The buffer goes out when it fills, or when the writer would
// wait.
func (b *batch) writeGroup(f *flight, chunk []byte) error {
	c := b.c
	f.tx.writeEnvelope(f.rset, f.mail)
	c.writeLine(bdatCommand(len(chunk), true))
	c.messages++
	c.wTimeout = c.opts.Timeouts.DataBlock
	_, err := c.bw.Write(chunk)
	return err
}

// writeFailed records the writer's error and closes the connection, so
// that the reader does not wait for replies that cannot come.
func (b *batch) writeFailed(err error) {
	b.mu.Lock()
	if b.werr == nil {
		b.werr = fmt.Errorf("client: write: %w", b.c.ioError(err))
	}
	b.mu.Unlock()
	b.c.netConn.Close()
}

func (b *batch) writeErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.werr
}

// land reads the replies to a flight and decides its recipients.
func (b *batch) land(f *flight) error {
	c, tx := b.c, f.tx
	switch {
	case f.werr != nil:
		return c.fail(b.writeErr())
	case f.mail == "":
		return f.err
	case f.seq:
		return tx.pipelined(f.mail, nil, true, false)
	}
	c.dirty = true
	if err := tx.envelopeReplies(f.rset); err != nil {
		return err
	}
	return tx.firstChunkReply(nil, true)
}
