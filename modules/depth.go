package modules

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// maxNesting is the deepest nesting of brackets, braces, parentheses and
// template interpolations a file may have. HCL's parser recurses once per
// level: 70,000 levels overflow the Go stack (a crash, not a diagnostic),
// and no configuration needs more than a few dozen.
const maxNesting = 200

// checkNesting refuses a file nested deeper than maxNesting before it is
// parsed. HCL's scanner is a state machine, so lexing is safe at any depth;
// the first token beyond the limit is reported.
func checkNesting(data []byte, filename string) hcl.Diagnostics {
	toks, _ := hclsyntax.LexConfig(data, filename, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	depth := 0
	for _, t := range toks {
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl, hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			depth++
			if depth > maxNesting {
				r := t.Range
				return hcl.Diagnostics{{Severity: hcl.DiagError,
					Summary: "Nesting too deep",
					Detail:  fmt.Sprintf("Brackets, braces, parentheses and strings are nested more than %d deep here; kiln refuses such a file before parsing it.", maxNesting),
					Subject: &r}}
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenTemplateSeqEnd, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}
