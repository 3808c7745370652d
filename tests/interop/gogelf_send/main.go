// gogelf_send sends GELF messages shaped like Docker's gelf log driver's, through Docker's own GELF
// library (github.com/Graylog2/go-gelf at the commit Docker pins), so our tests meet the real encoder,
// compressor and chunker rather than our idea of them.
//
//	gogelf_send -addr 127.0.0.1:12201 -compress gzip|zlib|none -level 1 -n 10 -prefix run1
//	gogelf_send ... -size 200000 -random      (large, incompressible: many chunks)
//	gogelf_send ... -compress none -exact 3   (JSON exactly 3*1408 bytes: a header-only last chunk)
//	gogelf_send ... -lines out.txt -container abc  (a program's output as Docker's log copier sends it)
//
// With -lines, the file is what a container wrote to stdout: it is cut as moby's daemon/logger/copier.go
// cuts it (lines at '\n', a line longer than the copier's 16 KiB buffer into pieces of exactly 16,384
// bytes and a shorter last one, every piece stamped with the first piece's time; a line that ends exactly
// at a piece's end has an empty last piece, sent like any empty line) and each piece sent as the gelf
// driver sends a line.
//
// Built offline in GOPATH mode: GO111MODULE=off GOPATH=/usr/share/gocode go build
package main

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"time"

	"github.com/Graylog2/go-gelf/gelf"
)

// The data of one chunk in go-gelf: 1420-byte datagrams less the 12-byte header.
const chunkData = 1408

func main() {
	addr := flag.String("addr", "127.0.0.1:12201", "GELF address")
	proto := flag.String("proto", "udp", "udp, or tcp (go-gelf's TCPWriter: uncompressed JSON and a NUL byte)")
	compress := flag.String("compress", "gzip", "gzip, zlib or none")
	level := flag.Int("level", flate.BestSpeed, "compression level (Docker's default is 1)")
	n := flag.Int("n", 1, "messages to send")
	prefix := flag.String("prefix", "line", "message text prefix")
	size := flag.Int("size", 0, "pad each message to this many characters")
	random := flag.Bool("random", false, "pad with pseudo-random letters (compresses badly: many chunks)")
	exact := flag.Int("exact", 0, "make the uncompressed JSON exactly this many chunks long (with -compress none)")
	stderr := flag.Bool("stderr", false, "level 3 as Docker gives stderr lines (default 6, stdout)")
	lines := flag.String("lines", "", "send this file's lines as Docker's log copier and gelf driver do")
	container := flag.String("container", "", "the container id of -lines (default: a fixed one)")
	pace := flag.Int("pace", 200, "sleep 1 ms after this many messages")
	interval := flag.Duration("interval", 0, "with -lines: sleep this long after each message (e.g. 2ms)")
	flag.Parse()

	var w gelf.Writer
	if *proto == "tcp" {
		tw, err := gelf.NewTCPWriter(*addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		w = tw
	} else {
		uw, err := gelf.NewUDPWriter(*addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		switch *compress {
		case "gzip":
			uw.CompressionType = gelf.CompressGzip
		case "zlib":
			uw.CompressionType = gelf.CompressZlib
		case "none":
			uw.CompressionType = gelf.CompressNone
		default:
			fmt.Fprintln(os.Stderr, "unknown -compress", *compress)
			os.Exit(2)
		}
		uw.CompressionLevel = *level
		w = uw
	}
	defer w.Close()

	// What Docker's driver puts in every message (daemon/logger/gelf): the container's facts.
	extra := map[string]interface{}{
		"_container_id":   "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e",
		"_container_name": "web-1",
		"_image_id":       "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"_image_name":     "nginx:1.25",
		"_command":        "nginx -g daemon off;",
		"_tag":            "3f4e5d6c7b8a",
		"_created":        "2026-11-23T08:00:00.123456789Z",
	}
	if *container != "" {
		extra["_container_id"] = *container
		extra["_container_name"] = "app-" + *container
		extra["_tag"] = *container
	}
	rawExtra, _ := json.Marshal(extra)
	gelfLevel := int32(6)
	if *stderr {
		gelfLevel = 3
	}
	if *lines != "" {
		data, err := os.ReadFile(*lines)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sent := 0
		line := -1
		var ts time.Time
		for _, piece := range copierPieces(data) {
			if piece.line != line { // the copier stamps a line when it reads its first piece
				line, ts = piece.line, time.Now()
			}
			m := gelf.Message{
				Version:  "1.1",
				Host:     "docker-host",
				Short:    string(piece.data),
				TimeUnix: float64(ts.UnixNano()/int64(time.Millisecond)) / 1000.0,
				Level:    gelfLevel,
				RawExtra: rawExtra,
			}
			if err := w.WriteMessage(&m); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			sent++
			if *interval > 0 {
				time.Sleep(*interval)
			} else if *pace > 0 && sent%*pace == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		return
	}
	rng := rand.New(rand.NewSource(42))
	letters := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := 0; i < *n; i++ {
		text := fmt.Sprintf("%s %d", *prefix, i)
		if len(text) < *size {
			pad := make([]byte, *size-len(text)-1)
			for j := range pad {
				if *random {
					pad[j] = letters[rng.Intn(len(letters))]
				} else {
					pad[j] = 'x'
				}
			}
			text = text + " " + string(pad)
		}
		now := time.Now()
		m := gelf.Message{
			Version:  "1.1",
			Host:     "docker-host",
			Short:    text,
			TimeUnix: float64(now.UnixNano()/int64(time.Millisecond)) / 1000.0,
			Level:    gelfLevel,
			RawExtra: rawExtra,
		}
		if *exact > 0 {
			var buf bytes.Buffer
			_ = m.MarshalJSONBuf(&buf)
			missing := *exact*chunkData - buf.Len()
			if missing < 0 {
				fmt.Fprintln(os.Stderr, "-exact too small for this message")
				os.Exit(2)
			}
			m.Short = m.Short + strings.Repeat("y", missing)
		}
		if err := w.WriteMessage(&m); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if (i+1)%200 == 0 {
			// Loopback drops nothing at this pace, but a burst of thousands can overrun small buffers.
			time.Sleep(time.Millisecond)
		}
	}
}

// copierBuf is the log copier's buffer (moby daemon/logger/copier.go, defaultBufSize).
const copierBuf = 16 * 1024

type piece struct {
	data []byte
	line int // the line it belongs to: its pieces share the time the first was read
}

// copierPieces cuts a stream as the copier does: at each '\n'; a line that fills the buffer without one is
// sent as a piece of exactly copierBuf bytes, and its later pieces carry the first piece's time. A line
// ended by '\n' always sends its last piece, empty when the line ends at a buffer's end (and an empty line
// is sent as one); the unterminated tail at the end of the stream is sent only when it is not empty.
func copierPieces(data []byte) []piece {
	var out []piece
	for number := 0; len(data) > 0; number++ {
		end := bytes.IndexByte(data, '\n')
		var line []byte
		terminated := end >= 0
		if terminated {
			line, data = data[:end], data[end+1:]
		} else {
			line, data = data, nil
		}
		for len(line) >= copierBuf {
			out = append(out, piece{line[:copierBuf], number})
			line = line[copierBuf:]
		}
		if terminated || len(line) > 0 {
			out = append(out, piece{line, number})
		}
	}
	return out
}
