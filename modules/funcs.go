package modules

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Marks carried by values during evaluation. They are stripped, and
// recorded on the definition, before a value is merged.
type (
	priorityMark int      // mkDefault, mkForce, mkOverride
	orderMark    int      // mkBefore, mkAfter
	ifFalseMark  struct{} // mkIf with a false condition
	pkgMark      string   // a pkgs.NAME value flowed into this value
)

// Priorities and orders (lower wins / comes first), as in NixOS.
const (
	prioForce   = 50
	prioPlain   = 100
	prioDefault = 1000 // mkDefault
	prioOption  = 1500 // an option's declared default
	orderBefore = 500
	orderPlain  = 1000
	orderAfter  = 1500
)

func markFunc(mark func(args []cty.Value) (any, error), params ...function.Parameter) function.Function {
	value := function.Parameter{Name: "value", Type: cty.DynamicPseudoType, AllowMarked: true, AllowNull: true, AllowDynamicType: true}
	return function.New(&function.Spec{
		Params: append(params, value),
		Type: func(args []cty.Value) (cty.Type, error) {
			return args[len(args)-1].Type(), nil
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			m, err := mark(args)
			if err != nil {
				return cty.NilVal, err
			}
			v := args[len(args)-1]
			if m == nil {
				return v, nil
			}
			return v.Mark(m), nil
		},
	})
}

func constMark(m any) function.Function {
	return markFunc(func([]cty.Value) (any, error) { return m, nil })
}

var (
	mkDefaultFunc  = constMark(priorityMark(prioDefault))
	mkForceFunc    = constMark(priorityMark(prioForce))
	mkBeforeFunc   = constMark(orderMark(orderBefore))
	mkAfterFunc    = constMark(orderMark(orderAfter))
	mkOverrideFunc = markFunc(func(args []cty.Value) (any, error) {
		n, acc := args[0].AsBigFloat().Int64()
		if acc != 0 || n < 0 || n > 10000 {
			return nil, function.NewArgErrorf(0, "priority must be a whole number from 0 to 10000")
		}
		return priorityMark(n), nil
	}, function.Parameter{Name: "priority", Type: cty.Number})
	mkOrderFunc = markFunc(func(args []cty.Value) (any, error) {
		n, acc := args[0].AsBigFloat().Int64()
		if acc != 0 || n < 0 || n > 10000 {
			return nil, function.NewArgErrorf(0, "order must be a whole number from 0 to 10000")
		}
		return orderMark(n), nil
	}, function.Parameter{Name: "order", Type: cty.Number})
	mkIfFunc = markFunc(func(args []cty.Value) (any, error) {
		if args[0].True() {
			return nil, nil
		}
		return ifFalseMark{}, nil
	}, function.Parameter{Name: "condition", Type: cty.Bool})
)

// baseFunctions are available to every module.
var baseFunctions = map[string]function.Function{
	"mkDefault":  mkDefaultFunc,
	"mkForce":    mkForceFunc,
	"mkOverride": mkOverrideFunc,
	"mkBefore":   mkBeforeFunc,
	"mkAfter":    mkAfterFunc,
	"mkOrder":    mkOrderFunc,
	"mkIf":       mkIfFunc,

	"abs":          stdlib.AbsoluteFunc,
	"ceil":         stdlib.CeilFunc,
	"chomp":        stdlib.ChompFunc,
	"coalesce":     stdlib.CoalesceFunc,
	"coalescelist": stdlib.CoalesceListFunc,
	"compact":      stdlib.CompactFunc,
	"concat":       stdlib.ConcatFunc,
	"contains":     stdlib.ContainsFunc,
	"distinct":     stdlib.DistinctFunc,
	"element":      stdlib.ElementFunc,
	"flatten":      stdlib.FlattenFunc,
	"floor":        stdlib.FloorFunc,
	"format":       guarded(stdlib.FormatFunc, checkFormat),
	"formatlist":   guarded(stdlib.FormatListFunc, checkFormat),
	"indent":       guarded(stdlib.IndentFunc, checkIndent),
	"join":         stdlib.JoinFunc,
	"jsonencode":   stdlib.JSONEncodeFunc,
	"jsondecode":   stdlib.JSONDecodeFunc,
	"keys":         stdlib.KeysFunc,
	"length":       stdlib.LengthFunc,
	"lookup":       stdlib.LookupFunc,
	"lower":        stdlib.LowerFunc,
	"max":          stdlib.MaxFunc,
	"merge":        stdlib.MergeFunc,
	"min":          stdlib.MinFunc,
	"parseint":     stdlib.ParseIntFunc,
	"range":        guarded(stdlib.RangeFunc, checkRange),
	"regex":        stdlib.RegexFunc,
	"regexall":     stdlib.RegexAllFunc,
	"regexreplace": stdlib.RegexReplaceFunc,
	"replace":      stdlib.ReplaceFunc,
	"reverse":      stdlib.ReverseListFunc,
	"slice":        stdlib.SliceFunc,
	"sort":         stdlib.SortFunc,
	"split":        stdlib.SplitFunc,
	"strlen":       stdlib.StrlenFunc,
	"substr":       stdlib.SubstrFunc,
	"title":        stdlib.TitleFunc,
	"tobool":       stdlib.MakeToFunc(cty.Bool),
	"tolist":       stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"tomap":        stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	"tonumber":     stdlib.MakeToFunc(cty.Number),
	"toset":        stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
	"tostring":     stdlib.MakeToFunc(cty.String),
	"trim":         stdlib.TrimFunc,
	"trimprefix":   stdlib.TrimPrefixFunc,
	"trimspace":    stdlib.TrimSpaceFunc,
	"trimsuffix":   stdlib.TrimSuffixFunc,
	"upper":        stdlib.UpperFunc,
	"values":       stdlib.ValuesFunc,
	"zipmap":       stdlib.ZipmapFunc,
}

// functions returns the functions of one file: the base set plus file(),
// which reads a path relative to that file.
func functions(f *file) map[string]function.Function {
	fns := make(map[string]function.Function, len(baseFunctions)+1)
	for k, v := range baseFunctions {
		fns[k] = v
	}
	fns["file"] = function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if f.dir == "" {
				return cty.NilVal, fmt.Errorf("built-in modules cannot read files")
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(f.dir, p)
			}
			b, err := readLimited(p)
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(string(b)), nil
		},
	})
	return fns
}

// Limits that keep a typo from allocating gigabytes: evaluation must stay
// fast on any input (FuzzLoad checks it).
const (
	maxRangeLen    = 100000
	maxFormatWidth = 10000
)

// guarded wraps a function with a check of its arguments.
func guarded(fn function.Function, check func([]cty.Value) error) function.Function {
	return function.New(&function.Spec{
		Description: fn.Description(),
		Params:      fn.Params(),
		VarParam:    fn.VarParam(),
		Type:        fn.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if err := check(args); err != nil {
				return cty.NilVal, err
			}
			return fn.Call(args)
		},
	})
}

func whole(v cty.Value) (float64, bool) {
	v, _ = v.Unmark()
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

func checkRange(args []cty.Value) error {
	var start, limit, step float64 = 0, 0, 1
	var ok bool
	switch len(args) {
	case 1:
		limit, ok = whole(args[0])
	case 2, 3:
		var ok2 bool
		start, ok = whole(args[0])
		limit, ok2 = whole(args[1])
		ok = ok && ok2
		if len(args) == 3 {
			var ok3 bool
			step, ok3 = whole(args[2])
			ok = ok && ok3
		}
	}
	if !ok || step == 0 {
		return nil // the function itself reports bad arguments
	}
	if n := (limit - start) / step; n > maxRangeLen {
		return fmt.Errorf("range of more than %d elements", maxRangeLen)
	}
	return nil
}

func checkIndent(args []cty.Value) error {
	if n, ok := whole(args[0]); ok && n > maxFormatWidth {
		return fmt.Errorf("indent wider than %d", maxFormatWidth)
	}
	return nil
}

// checkFormat refuses widths and precisions above maxFormatWidth.
func checkFormat(args []cty.Value) error {
	v, _ := args[0].Unmark()
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return nil
	}
	f := v.AsString()
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		n := 0
		for ; i < len(f) && strings.IndexByte("-+# 0123456789.[]*", f[i]) >= 0; i++ {
			switch c := f[i]; {
			case c >= '0' && c <= '9':
				n = n*10 + int(c-'0')
				if n > maxFormatWidth {
					return fmt.Errorf("format width or precision above %d", maxFormatWidth)
				}
			default:
				n = 0
			}
		}
	}
	return nil
}
