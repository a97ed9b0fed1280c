package sinks

// ReadPreviewGroups exposes readPreview, which also returns group indexes, to the external tests.
var ReadPreviewGroups = readPreview
