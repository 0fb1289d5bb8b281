// Command go_interop is the Go side of StreamForge's byte-compatibility tests.
//
// It reads stdin and writes stdout with Go's standard library only (Benthos itself compresses
// with github.com/klauspost/compress, which writes the same formats and headers):
//
//	go_interop compress <gzip|zlib|flate> [level]   compress stdin
//	go_interop decompress <gzip|zlib|flate>         decompress stdin
//	go_interop json                                 re-encode a JSON document as Benthos does
//	go_interop json-float                           the same with numbers decoded as float64
package main

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

func compressor(alg string, level int, w io.Writer) (io.WriteCloser, error) {
	switch alg {
	case "gzip":
		return gzip.NewWriterLevel(w, level)
	case "zlib":
		return zlib.NewWriterLevel(w, level)
	case "flate":
		return flate.NewWriter(w, level)
	}
	return nil, fmt.Errorf("unknown algorithm %q", alg)
}

func decompressor(alg string, r io.Reader) (io.ReadCloser, error) {
	switch alg {
	case "gzip":
		return gzip.NewReader(r)
	case "zlib":
		return zlib.NewReader(r)
	case "flate":
		return flate.NewReader(r), nil
	}
	return nil, fmt.Errorf("unknown algorithm %q", alg)
}

// reencodeJSON decodes one document and encodes it as Benthos writes a structured payload:
// HTML characters unescaped and without the encoder's trailing newline.
func reencodeJSON(in []byte, useNumber bool) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(in))
	if useNumber {
		dec.UseNumber()
	}
	var doc interface{}
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func run(args []string) error {
	if len(args) < 1 {
		return errors.New("usage: go_interop <compress|decompress|json|json-float> [algorithm] [level]")
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	switch args[0] {
	case "json", "json-float":
		out, err := reencodeJSON(in, args[0] == "json")
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	case "compress":
		if len(args) < 2 {
			return errors.New("compress needs an algorithm")
		}
		level := -1
		if len(args) > 2 {
			if level, err = strconv.Atoi(args[2]); err != nil {
				return err
			}
		}
		var buf bytes.Buffer
		w, err := compressor(args[1], level, &buf)
		if err != nil {
			return err
		}
		if _, err = w.Write(in); err != nil {
			return err
		}
		if err = w.Close(); err != nil {
			return err
		}
		_, err = os.Stdout.Write(buf.Bytes())
		return err
	case "decompress":
		if len(args) < 2 {
			return errors.New("decompress needs an algorithm")
		}
		r, err := decompressor(args[1], bytes.NewReader(in))
		if err != nil {
			return err
		}
		out, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if err = r.Close(); err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "go_interop:", err)
		os.Exit(1)
	}
}
