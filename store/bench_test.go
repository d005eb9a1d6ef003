package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// benchSeq makes every benchmark iteration's path new, across -count runs.
var benchSeq atomic.Int64

// BenchmarkBuild1000Files builds a 1000-file tree (10 dirs of 100 files of
// 1 KiB) into a fresh path each iteration: fill, canonicalize, hash,
// sync, rename, register.
func BenchmarkBuild1000Files(b *testing.B) {
	s := openTest(b)
	data := make([]byte, 1024)
	fill := func(tmp string) error {
		for d := range 10 {
			dir := filepath.Join(tmp, fmt.Sprintf("d%d", d))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for f := range 100 {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", f)), data, 0o644); err != nil {
					return err
				}
			}
		}
		return nil
	}
	ctx := context.Background()
	// fill alone is the baseline: Build's own cost is the difference.
	b.Run("fill-only", func(b *testing.B) {
		for b.Loop() {
			if err := fill(filepath.Join(s.tmpDir(), fmt.Sprint("bench", benchSeq.Add(1)))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			p, _ := NewKey("bench/1").Add("i", fmt.Sprint(benchSeq.Add(1))).Path("tree")
			if err := s.Build(ctx, p, nil, fill); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkValid100 checks 100 valid paths per iteration: the no-op
// rebuild case (everything already in the store).
func BenchmarkValid100(b *testing.B) {
	s := openTest(b)
	var paths []Path
	for i := range 100 {
		p, _ := NewKey("bench/1").Add("i", fmt.Sprint(i)).Path("small")
		if err := s.Build(context.Background(), p, nil, func(tmp string) error { return os.WriteFile(tmp, nil, 0o644) }); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, p := range paths {
			if !s.Valid(p) {
				b.Fatal("not valid")
			}
		}
	}
}

// BenchmarkClosure100 computes the closure of a chain of 100 paths.
func BenchmarkClosure100(b *testing.B) {
	s := openTest(b)
	var prev []Path
	var last Path
	for i := range 100 {
		p, _ := NewKey("bench/1").Add("i", fmt.Sprint(i)).Path("chain")
		if err := s.Build(context.Background(), p, prev, func(tmp string) error { return os.WriteFile(tmp, nil, 0o644) }); err != nil {
			b.Fatal(err)
		}
		prev, last = []Path{p}, p
	}
	b.ResetTimer()
	for b.Loop() {
		if c, err := s.Closure(last); err != nil || len(c) != 100 {
			b.Fatal(len(c), err)
		}
	}
}

// BenchmarkBuildValid100 calls Build on 100 valid paths: what a no-op
// rebuild costs when it also wants the paths rooted against a collection.
func BenchmarkBuildValid100(b *testing.B) {
	s := openTest(b)
	var paths []Path
	fill := func(tmp string) error { return os.WriteFile(tmp, nil, 0o644) }
	for i := range 100 {
		p, _ := NewKey("bench/1").Add("i", fmt.Sprint(i)).Path("small")
		if err := s.Build(context.Background(), p, nil, fill); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, p := range paths {
			if err := s.Build(context.Background(), p, nil, fill); err != nil {
				b.Fatal(err)
			}
		}
	}
}
