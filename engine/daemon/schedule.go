package daemon

import (
	"container/heap"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/sluice-dev/sluice/engine/plan"
)

// cronParser accepts what package dsl accepts: five fields or a descriptor.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// schedule computes when a schedule trigger fires.
type schedule struct {
	t    plan.Trigger
	cron cron.Schedule
	// anchor counts rates when the trigger has no start.
	anchor time.Time
}

func newSchedule(t plan.Trigger, anchor time.Time) (*schedule, error) {
	if t.Kind != "schedule" {
		return nil, nil
	}
	s := &schedule{t: t, anchor: anchor}
	if s.t.Location == nil {
		s.t.Location = time.UTC
	}
	switch {
	case t.Cron != "":
		c, err := cronParser.Parse(t.Cron)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %w", t.Cron, err)
		}
		s.cron = c
	case t.Rate > 0:
	default:
		return nil, fmt.Errorf("schedule trigger without cron or rate")
	}
	return s, nil
}

// key identifies what the schedule fires on, so a reload that leaves it
// alone keeps the flow's place in time.
func scheduleKey(t plan.Trigger) string {
	loc := ""
	if t.Location != nil {
		loc = t.Location.String()
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s", t.Kind, t.Cron, t.Rate, t.Start.UTC(), t.End.UTC(), loc)
}

// next is the first tick strictly after after, or zero when the schedule
// has ended.
func (s *schedule) next(after time.Time) time.Time {
	var n time.Time
	if s.cron != nil {
		from := after
		if !s.t.Start.IsZero() && from.Before(s.t.Start) {
			from = s.t.Start.Add(-time.Nanosecond)
		}
		n = s.cron.Next(from.In(s.t.Location))
	} else {
		base := s.t.Start
		if base.IsZero() {
			base = s.anchor
		}
		if after.Before(base) {
			n = base
		} else {
			k := after.Sub(base)/s.t.Rate + 1
			n = base.Add(k * s.t.Rate)
		}
	}
	if n.IsZero() || (!s.t.End.IsZero() && n.After(s.t.End)) {
		return time.Time{}
	}
	return n
}

// timerHeap orders flows by their next tick.
type timerHeap []*flowEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	e := x.(*flowEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// setNext places e in the heap at its next tick, or takes it out.
func (h *timerHeap) setNext(e *flowEntry, next time.Time) {
	e.next = next
	switch {
	case next.IsZero() && e.index >= 0:
		heap.Remove(h, e.index)
	case next.IsZero():
	case e.index >= 0:
		heap.Fix(h, e.index)
	default:
		heap.Push(h, e)
	}
}
