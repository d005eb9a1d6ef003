package maintscript

import "testing"

// BenchmarkAnalyzeCorpus analyzes the whole corpus (176 packages with
// scripts or shipped sysusers/tmpfiles files) as one closure, the way a
// build does; ns/package is the time the recognizers add per package.
func BenchmarkAnalyzeCorpus(b *testing.B) {
	pkgs := corpusPackages(b)
	closure, trees := corpusClosure(b, pkgs)
	in := corpusInput(pkgs, trees)
	b.ResetTimer()
	for b.Loop() {
		a := &Analyzer{Closure: closure, HostName: corpusHost}
		if _, err := a.AnalyzeAll(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pkgs)), "ns/package")
}
