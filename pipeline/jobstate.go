package pipeline

import (
	"fmt"
	"slices"

	"github.com/dataprep/dataprep/pipeline/state"
)

// transitions is the job's life (design.md, "The job"), in one place. A state
// change that is not listed here is a programming error and is refused.
var transitions = map[state.JobState][]state.JobState{
	state.Received:  {state.Preparing, state.Rejected, state.Deleted},
	state.Preparing: {state.Ready, state.Rejected, state.Received}, // back to received: recovery after a crash mid-preparation
	state.Ready:     {state.Pushed, state.Deleted},
	state.Pushed:    {state.Deleted},
	state.Rejected:  {state.Deleted},
	state.Deleted:   {state.Closed},
}

// advance moves j to the next state or says why it may not.
func advance(j *state.Job, to state.JobState) error {
	if !slices.Contains(transitions[j.State], to) {
		return fmt.Errorf("%w: job %s is %s and cannot become %s", ErrBadState, j.ID, j.State, to)
	}
	j.State = to
	return nil
}
