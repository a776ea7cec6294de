"""From a run to a training set: what to review, Label Studio tasks and back, balancing, formats, card."""
