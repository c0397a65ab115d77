package logstore

import (
	"bufio"
	"errors"
	"io"
	"os"
)

// recoverTail makes the segment at path end with a whole record: a crash
// in the middle of a write(2) can leave the start of a batch's bytes. The
// last record is checked from the end (its trailing length, leading
// length and checksum); only if it is not whole is the segment walked
// from its start, and cut after its last whole record. It returns the
// size kept.
func recoverTail(path string, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if tailIsWhole(f, size) {
		return size, nil
	}
	keep, err := wholePrefix(f, size)
	if err != nil {
		return 0, err
	}
	if err := f.Truncate(keep); err != nil {
		return 0, err
	}
	return keep, nil
}

func tailIsWhole(f *os.File, size int64) bool {
	if size < recOverhead+minBody {
		return false
	}
	var t [4]byte
	if _, err := f.ReadAt(t[:], size-4); err != nil {
		return false
	}
	n := int64(uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16 | uint32(t[3])<<24)
	if n < minBody || n > maxBody || n+recOverhead > size {
		return false
	}
	rec := make([]byte, n+recOverhead)
	if _, err := f.ReadAt(rec, size-int64(len(rec))); err != nil {
		return false
	}
	_, err := parseRecord(rec)
	return err == nil
}

// wholePrefix returns the length of the segment's longest run of whole
// records from its start.
func wholePrefix(f *os.File, size int64) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), readWindow)
	var off int64
	var rec []byte
	for {
		head, err := r.Peek(4)
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			return 0, err
		}
		need, err := recordLen(head)
		if err != nil || off+int64(need) > size {
			return off, nil
		}
		if cap(rec) < need {
			rec = make([]byte, need)
		}
		rec = rec[:need]
		if _, err := io.ReadFull(r, rec); err != nil {
			return 0, err
		}
		if _, err := parseRecord(rec); err != nil {
			return off, nil
		}
		off += int64(need)
	}
}
