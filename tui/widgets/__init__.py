"""One module per pane. Every pane has a ``show(...)`` method the app calls on its
render tick with plain values taken from the engine's snapshot; a pane redraws
only when what it shows changed."""
