package transform

// arena lends a Runner's kernels their temporary slices and takes them
// back after each stage. A 1M-row batch needs a few megabytes of
// temporaries per formula; fresh allocations of that size are zeroed and
// page-faulted in on every batch (running the filter benchmark with the
// GC off, so nothing is reused, made it slower, not faster). Slices come
// back dirty: every kernel writes each element it returns, or masks it
// out as null or failed (the two that need zeroed memory, mergeErr and
// setErr, allocate normally).
type arena struct {
	bools  pool[bool]
	ints   pool[int64]
	floats pool[float64]
	sels   pool[int32]
}

type pool[T any] struct {
	free [][]T
	used [][]T
}

func (p *pool[T]) get(n int) []T {
	for k := len(p.free) - 1; k >= 0; k-- {
		if s := p.free[k]; cap(s) >= n {
			p.free[k] = p.free[len(p.free)-1]
			p.free = p.free[:len(p.free)-1]
			s = s[:n]
			p.used = append(p.used, s)
			return s
		}
	}
	s := make([]T, n)
	p.used = append(p.used, s)
	return s
}

func (p *pool[T]) reset() {
	p.free = append(p.free, p.used...)
	clear(p.used)
	p.used = p.used[:0]
	// A batch much larger than the usual one should not pin its memory
	// for the Runner's lifetime; keep a bounded number of slices.
	const keep = 16
	if len(p.free) > keep {
		clear(p.free[keep:])
		p.free = p.free[:keep]
	}
}

// reset returns every lent slice; call it when nothing from the stage
// that borrowed them is still in use.
func (a *arena) reset() {
	if a == nil {
		return
	}
	a.bools.reset()
	a.ints.reset()
	a.floats.reset()
	a.sels.reset()
}

// The helpers allocate normally when there is no arena (tests that drive
// kernels directly).

func (a *arena) newBools(n int) []bool {
	if a == nil || n <= 1 {
		return make([]bool, n)
	}
	return a.bools.get(n)
}

func (a *arena) newInts(n int) []int64 {
	if a == nil || n <= 1 {
		return make([]int64, n)
	}
	return a.ints.get(n)
}

func (a *arena) newFloats(n int) []float64 {
	if a == nil || n <= 1 {
		return make([]float64, n)
	}
	return a.floats.get(n)
}

func (a *arena) newSel(n int) []int32 {
	if a == nil {
		return make([]int32, n)
	}
	return a.sels.get(n)
}
