package main

import (
	"context"

	"github.com/sluice-dev/sluice/engine"
)

// prepareFlow loads the flow file or directory at path, picks the flow
// named flowName (or the only one) and prepares it. close stops the
// plugins it started; it is valid even when err is not nil.
func (g *globals) prepareFlow(ctx context.Context, path, flowName string) (p *engine.Prepared, close func(), err error) {
	l, err := g.load(ctx, path)
	if err != nil {
		return nil, func() {}, err
	}
	f, err := l.pickFlow(flowName)
	if err != nil {
		return nil, l.host.Close, err
	}
	p, err = g.prepare(ctx, l, f)
	return p, l.host.Close, err
}
